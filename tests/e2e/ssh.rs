//! The ssh transport end to end: the real `wfhost` binary against a real OpenSSH server on
//! 127.0.0.1.
//!
//! [`Sshd`] starts `sshd -D` as the current user on a free loopback port with a fresh host key,
//! a fresh user key and its own config, pid file and authorized_keys in a temp dir, and kills
//! it (and the connection processes it forked) on drop. The "pod" of the ssh transport is that
//! host; every remote path (outputs, config copy, checkout) lives in the sandbox, never /mnt.
//! Sessions get `SHLVL=1`, so bash does not read the login user's ~/.bashrc for each command
//! (it does so for ssh commands at shell level 1 only): the tests do not depend on the test
//! machine's shell setup, and stay fast.
//! When sshd is not installed the harness installs Debian's openssh-server; if that fails the
//! tests fail saying so (they never skip).
//!
//! Beyond whole flows, the tests cover what a real host adds: an exec that times out is stopped
//! on the host too (with coreutils `timeout`, and with the shell watchdog on a host whose PATH
//! lacks it), and wfhost killed -9 at points inside P60 and P70 (told by the files it leaves in
//! the remote outputs tree) resumes without running any run twice, its evidence still
//! verifying. Fetched files are checked against the sha256 and size their `artifact.written`
//! records carry.

use crate::harness::{Run, Sandbox};
use wfhost_constitution::{codes, Code, Family};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// Install openssh-server (once per test run) when sshd is missing; panic when that fails.
fn ensure_sshd() {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let have = |p: &str| Path::new(p).is_file();
    if have(SSHD) && have("/usr/bin/ssh") && have("/usr/bin/ssh-keygen") {
        return;
    }
    eprintln!("ssh e2e: {SSHD} or the ssh client is missing; installing openssh-server with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
    };
    let update = apt(&["update", "-qq"]);
    let install = apt(&["install", "-y", "-qq", "--no-install-recommends", "openssh-server", "openssh-client"]);
    if !(have(SSHD) && have("/usr/bin/ssh")) {
        panic!(
            "the ssh end-to-end tests need OpenSSH ({SSHD} and ssh) and installing it failed: \
             install openssh-server and openssh-client (apt-get install openssh-server openssh-client) and rerun.\n\
             apt-get update: {update:?}\napt-get install: {install:?}"
        );
    }
}

fn sh_out(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn keygen(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    sh_out("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", "wfhost-e2e", "-f", &path.display().to_string()]);
}

/// Every descendant of `root` (from /proc), children before grandchildren.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent: BTreeMap<u32, u32> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // pid (comm) state ppid ...; comm may hold spaces, so read after the last ')'.
            if let Some(ppid) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse().ok()) {
                parent.insert(pid, ppid);
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    let mut seen = BTreeSet::new();
    while let Some(p) = frontier.pop() {
        for (&child, &pp) in &parent {
            if pp == p && seen.insert(child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

/// A real sshd on 127.0.0.1.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    /// Extra `NAME=value` words for the sessions' environment (sshd's SetEnv).
    session_env: String,
    child: Option<Child>,
}

impl Sshd {
    /// Start sshd with fresh keys on a free port.
    pub fn start() -> Sshd {
        Sshd::start_with_session_env("")
    }

    /// [`Sshd::start`], the sessions also getting `session_env` (`NAME=value` words).
    pub fn start_with_session_env(session_env: &str) -> Sshd {
        ensure_sshd();
        let mut dir = tempfile::Builder::new().prefix("wfsshd").tempdir().expect("tempdir");
        keygen(&dir.path().join("host_ed25519"));
        keygen(&dir.path().join("id_ed25519"));
        std::fs::copy(dir.path().join("id_ed25519.pub"), dir.path().join("authorized_keys")).unwrap();
        let user = sh_out("id", &["-un"]);
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
            let mut s = Sshd { dir, port, user: user.clone(), session_env: session_env.to_string(), child: None };
            match s.spawn() {
                Ok(()) => return s,
                Err(e) => {
                    last_err = e;
                    dir = s.take_dir();
                }
            }
        }
        panic!("sshd did not start: {last_err}");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let base = self.dir.path().to_path_buf();
        let d = |n: &str| base.join(n).display().to_string();
        let config = format!(
            "Port {}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
             UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPrintMotd no\n\
             MaxSessions 64\nMaxStartups 64:30:128\nLogLevel VERBOSE\nSubsystem sftp internal-sftp\n\
             SetEnv SHLVL=1 {}\n",
            self.port,
            d("host_ed25519"),
            d("sshd.pid"),
            d("authorized_keys"),
            self.session_env,
        );
        std::fs::write(d("sshd_config"), config).map_err(|e| e.to_string())?;
        if sh_out("id", &["-u"]) == "0" {
            // sshd's privilege separation directory (normally created by its service unit).
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d("sshd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f", &d("sshd_config")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {SSHD}: {e}"))?;
        self.child = Some(child);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return Err(format!("sshd exited with {status}: {}", std::fs::read_to_string(d("sshd.log")).unwrap_or_default()));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("sshd did not listen on {} within 15 s: {}", self.port, std::fs::read_to_string(d("sshd.log")).unwrap_or_default()))
    }

    /// Kill sshd and every connection process it forked (a dropped server, not a clean stop).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pids: Vec<String> = descendants(c.id()).into_iter().map(|p| p.to_string()).collect();
            let _ = c.kill();
            if !pids.is_empty() {
                let mut args = vec!["-KILL".to_string(), "--".to_string()];
                args.extend(pids);
                let _ = Command::new("kill").args(&args).stderr(Stdio::null()).status();
            }
            let _ = c.wait();
        }
    }

    /// Stop the server: listening socket and live connections go away.
    pub fn stop(&mut self) {
        self.kill();
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send `signal` (a `kill` name: STOP, CONT) to sshd and every process it forked: with
    /// STOP the host goes silent (no reset, no answer: a hung machine or a cut cable).
    pub fn signal_all(&self, signal: &str) {
        if let Some(c) = &self.child {
            let mut pids: Vec<String> = descendants(c.id()).into_iter().map(|p| p.to_string()).collect();
            pids.push(c.id().to_string());
            let mut args = vec![format!("-{signal}"), "--".to_string()];
            args.extend(pids);
            let _ = Command::new("kill").args(&args).stderr(Stdio::null()).status();
        }
    }

    /// Start again on the same port with the same keys.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|e| panic!("sshd restart: {e}"));
    }

    /// Start again on the same port with a NEW host key (a reinstalled or impostor host).
    pub fn restart_with_new_host_key(&mut self) {
        self.stop();
        keygen(&self.dir.path().join("host_ed25519"));
        self.spawn().unwrap_or_else(|e| panic!("sshd restart: {e}"));
    }

    pub fn target(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", self.user, self.port)
    }

    pub fn identity(&self) -> String {
        self.path("id_ed25519")
    }

    /// A known_hosts line for this server's current host key.
    pub fn known_hosts_line(&self) -> String {
        let key = std::fs::read_to_string(self.path("host_ed25519.pub")).unwrap();
        let mut parts = key.split_whitespace();
        format!("[127.0.0.1]:{} {} {}\n", self.port, parts.next().unwrap(), parts.next().unwrap())
    }

    /// Point a sandbox at this server: transport, target, key, known_hosts (already holding the
    /// host key) and remote paths inside the sandbox.
    pub fn configure(&self, s: &mut Sandbox) {
        let root = s.root().to_path_buf();
        let kh = root.join("known_hosts");
        std::fs::write(&kh, self.known_hosts_line()).unwrap();
        s.set("WF_TRANSPORT", "ssh");
        s.set("LIUM_TARGET", &self.target());
        s.set("WF_SSH_IDENTITY", &self.identity());
        s.set("WF_SSH_KNOWN_HOSTS", "known_hosts");
        s.set("OPS_REMOTE_OUTPUTS_DIR", &root.join("remote/outputs").display().to_string());
        s.set("REMOTE_ENV_PATH", &root.join("remote/project.env").display().to_string());
        s.set("REMOTE_REPO_DIR", &root.join("remote/repo").display().to_string());
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The directory fetched files land in for `target` (the host's naming).
pub(crate) fn pod_logs(s: &Sandbox, target: &str) -> PathBuf {
    let name: String = target.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    s.root().join("artifacts/pod_logs").join(name)
}

fn sha256sum(path: &Path) -> String {
    sh_out("sha256sum", &[&path.display().to_string()]).split_whitespace().next().unwrap_or_default().to_string()
}

/// Every file under `dir`, recursively.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub(crate) fn last_status(run: &Run) -> (String, String, u16) {
    run.statuses().last().cloned().unwrap_or_else(|| panic!("no status line\n{}", run.explain()))
}

/// The records of a flow's event log, parsed.
pub(crate) fn events(flow_dir: &Path) -> Vec<serde_json::Value> {
    let log = flow_dir.join("events.jsonl");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: a line is not JSON ({e}): {l}", log.display())))
        .collect()
}

/// (sha256, size) of every file the flow's `artifact.written` records name, by its canonical
/// path (records hold paths relative to the flow directory; absolute ones are taken as they
/// are). A file recorded twice fails the test.
fn fetched_digests(flow_dir: &Path) -> BTreeMap<PathBuf, (String, Option<u64>)> {
    let mut out = BTreeMap::new();
    for e in events(flow_dir).into_iter().filter(|e| e["event_type"] == "artifact.written") {
        let p = &e["payload"];
        let rel = p["path"].as_str().unwrap_or_else(|| panic!("artifact.written without a path: {e}"));
        let path = flow_dir.join(rel);
        let path = path.canonicalize().unwrap_or_else(|err| panic!("artifact.written names {} ({err}): {e}", path.display()));
        let sha = p["sha256"].as_str().unwrap_or_else(|| panic!("artifact.written without a sha256: {e}")).to_string();
        assert!(out.insert(path.clone(), (sha, p["size"].as_u64())).is_none(), "{} is recorded twice", path.display());
    }
    out
}

/// `wfhost verify --json FLOW_DIR`: (exit status, the JSON report).
pub(crate) fn verify(s: &Sandbox, flow_dir: &Path) -> (i32, serde_json::Value) {
    let run = s.run(&["verify", "--json", &flow_dir.display().to_string()]);
    let report = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("verify printed no JSON report ({e})\n{}", run.explain()));
    (run.status, report)
}

/// The flow evidence directories in the sandbox.
pub(crate) fn flow_dirs(s: &Sandbox) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(s.root().join("artifacts/pod_logs/_flows")).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    v.sort();
    v
}

/// A directory of links to every program on this machine's PATH except `timeout`: a host whose
/// sessions use it as PATH lacks coreutils `timeout`, like a minimal image.
fn path_without_timeout(dir: &Path) -> PathBuf {
    let farm = dir.join("no-timeout-bin");
    std::fs::create_dir_all(&farm).unwrap();
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into());
    for d in path.split(':').filter(|d| !d.is_empty()) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let name = e.file_name();
            let link = farm.join(&name);
            if name != "timeout" && !link.exists() {
                let _ = std::os::unix::fs::symlink(e.path(), &link);
            }
        }
    }
    assert!(farm.join("sh").exists() && farm.join("git").exists() && !farm.join("timeout").exists());
    farm
}

/// Processes (other than zombies) whose working directory is under `dir`.
pub(crate) fn processes_working_in(dir: &Path) -> Vec<(u32, String)> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cwd) = std::fs::read_link(e.path().join("cwd")) else { continue };
        let zombie = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|st| st.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z'))).unwrap_or(true);
        if cwd.starts_with(&dir) && !zombie {
            let cmd = std::fs::read(e.path().join("cmdline")).map(|c| String::from_utf8_lossy(&c).replace('\0', " ")).unwrap_or_default();
            out.push((pid, cmd));
        }
    }
    out
}

/// Whether `pid` runs (and is not a zombie).
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|st| st.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z'))).unwrap_or(false)
}

// ------------------------------------------------------------------------------------ flows

#[test]
fn full_flow_over_ssh_runs_every_phase_and_fetches_files_with_digests() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    let run = s.run(&["flow", "--provision", "skip", "--wait", "true", "--fetch", "all"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let statuses = run.statuses();
    let phases: Vec<&str> = statuses.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(phases, ["P00", "P10", "P20", "P30", "P40", "P50", "P60", "P70", "P80", "P90", "P99"], "{}", run.explain());
    assert!(statuses.iter().all(|(_, st, code)| (st == "ok" || st == "skip") && *code == 0), "{}", run.explain());
    assert_eq!(run.header("target_source"), Some("explicit"));
    assert!(run.courts().iter().all(|(_, c, _, _)| c == "pass"), "{}", run.explain());

    // The runs really ran on the ssh host, in the sandbox's remote tree.
    let remote_runs = s.root().join("remote/outputs/runs");
    for id in ["r1", "r2", "r3"] {
        let code = std::fs::read_to_string(remote_runs.join(id).join("_wf/exit_code")).unwrap();
        assert_eq!(code.trim(), "0", "{id}");
    }
    // Fetched back: every fetched file has exactly one `artifact.written` record whose sha256
    // and size are those of the local copy, and every such record names a fetched file.
    let fetched = pod_logs(&s, &sshd.target());
    let summary = run.summary();
    assert_eq!(summary["verdict"], "pass", "{summary}");
    for id in ["r1", "r2", "r3"] {
        let metrics = fetched.join(id).join("metrics.json");
        let text = std::fs::read_to_string(&metrics).unwrap_or_else(|e| panic!("{}: {e}\n{}", metrics.display(), run.explain()));
        assert!(text.contains("\"seed\""), "{text}");
    }
    let local: BTreeMap<PathBuf, String> = files(&fetched).into_iter().map(|p| (p.canonicalize().unwrap(), sha256sum(&p))).collect();
    let recorded = fetched_digests(&run.flow_dir());
    assert!(local.len() >= 9, "only {} file(s) fetched: {:?}", local.len(), local.keys());
    for (path, sha) in &local {
        assert_eq!(recorded.get(path).map(|(sha, _)| sha), Some(sha), "{}: the recorded sha256 differs from the local copy's", path.display());
        let size = std::fs::metadata(path).unwrap().len();
        assert_eq!(recorded[path].1, Some(size), "{}: recorded size", path.display());
    }
    assert_eq!(recorded.keys().collect::<Vec<_>>(), local.keys().collect::<Vec<_>>(), "the artifact.written records and the fetched files differ");
    assert_eq!(summary["files_fetched"].as_u64(), Some(local.len() as u64), "{summary}");

    // Connection sharing: the master socket of this flow is in the control directory.
    let sockets: Vec<_> = std::fs::read_dir(s.root().join(".wfhost/ssh-control")).unwrap().flatten().collect();
    assert!(!sockets.is_empty(), "no ControlMaster socket was left in .wfhost/ssh-control");

    // Every time the identity went into an ssh process, custody left a receipt naming the
    // handle, its audience and the plugin that asked, never the value.
    let ev = events(&run.flow_dir());
    let issued: Vec<&serde_json::Value> = ev.iter().filter(|e| e["event_type"] == "secret.issued").collect();
    assert!(!issued.is_empty(), "no secret.issued record for the ssh identity");
    for e in &issued {
        let p = &e["payload"];
        assert_eq!(p["handle"], "ssh_identity", "{e}");
        assert_eq!(p["requester"], "transport:ssh", "{e}");
        assert!(p["audience"].as_str().unwrap().contains("WF_SSH_IDENTITY_FILE"), "{e}");
        assert_eq!(e["actor"]["kind"], "host", "{e}");
    }
    let explain = s.run(&["explain", &run.flow_dir().display().to_string()]);
    assert!(explain.stdout.contains(&format!("ssh_identity to transport:ssh, {} time(s)", issued.len())), "{}", explain.stdout);
    // The identity path is a secret: it appears nowhere in evidence or output.
    let key = sshd.identity();
    assert!(!run.stdout.contains(&key) && !run.stderr.contains(&key), "the identity path leaked to the output");
    for f in files(&s.root().join(".wfhost")).into_iter().chain(files(&run.flow_dir())) {
        if let Ok(text) = std::fs::read_to_string(&f) {
            assert!(!text.contains(&key), "the identity path leaked into {}", f.display());
        }
    }
}

#[test]
fn a_stopped_sshd_halts_sweep_status_as_unreachable_and_resume_works_after_restart() {
    let mut sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.manifest("run_id,seed,extra\nslow1,1,--sleep 3\nslow2,2,--sleep 3\n");
    let first = s.run(&["flow", "--provision", "skip", "--wait", "false"]);
    assert_eq!(first.status, 0, "{}", first.explain());

    sshd.stop();
    let t0 = Instant::now();
    let down = s.run_with_limit(&["sweep-status"], Duration::from_secs(90));
    let took = t0.elapsed();
    assert_ne!(down.status, 0, "{}", down.explain());
    let (phase, status, code) = last_status(&down);
    assert_eq!(status, "fail", "{}", down.explain());
    let family = Code::from_u16(code).map(Code::family);
    assert!(matches!(family, Some(Family::ProvisioningTarget | Family::SweepMonitor)), "{phase} {code}\n{}", down.explain());
    let reason = down.verdict(&phase)["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("cannot be reached") || reason.contains("unreachable"), "{reason}");
    assert!(reason.contains("Connection refused"), "{reason}");
    assert!(took < Duration::from_secs(60), "sweep-status took {took:?} against a stopped sshd");

    // The runs went on without the connection; once sshd is back a resume collects them, and
    // no run ran twice.
    sshd.restart();
    let back = s.run(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true", "--fetch", "all"]);
    assert_eq!(back.status, 0, "{}", back.explain());
    for id in ["slow1", "slow2"] {
        let log = s.root().join("remote/outputs/runs").join(id).join("train.log");
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1, "{id} ran more than once");
        assert!(pod_logs(&s, &sshd.target()).join(id).join("summary.json").exists(), "{id} fetched");
    }
}

#[test]
fn a_prompting_bootstrap_script_fails_at_once_instead_of_hanging() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.write("bootstrap.sh", "printf 'Continue? [y/N] '\nif read answer; then echo \"answer: $answer\"; exit 0; fi\necho 'no answer: stdin is closed' >&2\nexit 1\n");
    s.set("BOOTSTRAP_SCRIPT", "bootstrap.sh");
    let t0 = Instant::now();
    let run = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "skip"], Duration::from_secs(90));
    assert!(t0.elapsed() < Duration::from_secs(60), "took {:?}", t0.elapsed());
    assert_ne!(run.status, 0, "{}", run.explain());
    assert_eq!(last_status(&run), ("P40".to_string(), "fail".to_string(), codes::BOOTSTRAP_FAILED.get()), "{}", run.explain());
    let pack = std::fs::read_to_string(run.flow_dir().join("phase/phase.P40.json")).unwrap();
    assert!(pack.contains("no answer: stdin is closed"), "{pack}");
}

/// A BOOTSTRAP_SCRIPT that records its pid, sleeps `nap` seconds, then writes a marker, run
/// with `limits` set; the flow must halt in P40, and the script must be gone from the remote
/// host afterwards: no marker once its sleep would have ended, its pid dead, and no process
/// left working in the remote outputs tree (the script runs in OUT/_control).
/// `sshd` is the host; the script also records what `timeout` the host has ("none" = the
/// shell watchdog bounds the command).
fn a_timed_out_bootstrap_is_stopped_on_the_host(sshd: Sshd, limits: &[(&str, &str)], nap: u64, has_timeout: bool) {
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.write(
        "bootstrap.sh",
        &format!(
            "echo $$ > \"$WF_OUTPUTS_DIR/_control/bootstrap.pid\"\n\
             command -v timeout > \"$WF_OUTPUTS_DIR/_control/timeout\" || echo none > \"$WF_OUTPUTS_DIR/_control/timeout\"\n\
             sleep {nap}\n\
             echo done > \"$WF_OUTPUTS_DIR/_control/bootstrap.finished\"\n"
        ),
    );
    s.set("BOOTSTRAP_SCRIPT", "bootstrap.sh");
    for (k, v) in limits {
        s.set(k, v);
    }
    let run = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "skip"], Duration::from_secs(120));
    assert_ne!(run.status, 0, "{}", run.explain());
    let (phase, status, _) = last_status(&run);
    assert_eq!((phase.as_str(), status.as_str()), ("P40", "fail"), "{}", run.explain());
    let reason = run.verdict("P40")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("timed out") || reason.contains("budget"), "{reason}");

    let control = s.root().join("remote/outputs/_control");
    let timeout = std::fs::read_to_string(control.join("timeout")).unwrap_or_default();
    assert_eq!(timeout.trim() != "none", has_timeout, "the host's timeout: {timeout:?}");
    let pid_file = control.join("bootstrap.pid");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("{}: {e}: the script never started\n{}", pid_file.display(), run.explain()))
        .trim()
        .parse()
        .unwrap();
    // Wait until well past the moment the script would have written its marker.
    let started = std::fs::metadata(&pid_file).unwrap().modified().unwrap();
    let until = started + Duration::from_secs(nap + 3);
    if let Ok(left) = until.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(left);
    }
    assert!(!control.join("bootstrap.finished").exists(), "the bootstrap script ran on after the timeout");
    assert!(!alive(pid), "the bootstrap script (pid {pid}) is still running");
    let left = processes_working_in(&s.root().join("remote/outputs"));
    assert!(left.is_empty(), "processes left running on the host: {left:?}");
}

#[test]
fn a_bootstrap_past_its_timeout_is_stopped_on_the_host() {
    a_timed_out_bootstrap_is_stopped_on_the_host(Sshd::start(), &[("WF_BOOTSTRAP_TIMEOUT_SECS", "2")], 7, true);
}

#[test]
fn a_bootstrap_past_the_phase_budget_is_stopped_on_the_host() {
    // The gateway shortens the exec's timeout to what is left of P40's budget.
    a_timed_out_bootstrap_is_stopped_on_the_host(Sshd::start(), &[("WF_PHASE_TIMEOUT_P40", "5")], 9, true);
}

#[test]
fn on_a_host_without_timeout_the_shell_watchdog_stops_a_timed_out_bootstrap() {
    let bins = tempfile::Builder::new().prefix("wfbins").tempdir().expect("tempdir");
    let farm = path_without_timeout(bins.path());
    let sshd = Sshd::start_with_session_env(&format!("PATH={}", farm.display()));
    a_timed_out_bootstrap_is_stopped_on_the_host(sshd, &[("WF_BOOTSTRAP_TIMEOUT_SECS", "2")], 7, false);
}

#[test]
fn an_unknown_host_key_is_refused_unless_accept_new_and_a_changed_key_always() {
    let mut sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    std::fs::write(s.root().join("known_hosts"), "").unwrap();

    let refused = s.run_with_limit(&["pod-status"], Duration::from_secs(90));
    assert_ne!(refused.status, 0, "{}", refused.explain());
    let (phase, _, code) = last_status(&refused);
    assert_eq!(phase, "P30", "{}", refused.explain());
    let reason = refused.verdict("P30")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("host key verification") && reason.contains("WF_SSH_ACCEPT_NEW=1"), "{code}: {reason}");
    assert_eq!(std::fs::read_to_string(s.root().join("known_hosts")).unwrap(), "", "nothing was recorded");

    s.set("WF_SSH_ACCEPT_NEW", "1");
    let accepted = s.run_with_limit(&["pod-status"], Duration::from_secs(90));
    assert_eq!(accepted.status, 0, "{}", accepted.explain());
    let recorded = std::fs::read_to_string(s.root().join("known_hosts")).unwrap();
    let key = std::fs::read_to_string(sshd.dir.path().join("host_ed25519.pub")).unwrap();
    let key_b64 = key.split_whitespace().nth(1).unwrap();
    assert!(recorded.contains(key_b64), "accept-new recorded {recorded:?}");
    // ... and so does the flow's evidence, with the fingerprint ssh-keygen gives.
    let fingerprint = sh_out("ssh-keygen", &["-lf", &sshd.dir.path().join("host_ed25519.pub").display().to_string()]);
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_string();
    let flow_dir = accepted.flow_dir();
    let trusted: Vec<serde_json::Value> = events(&flow_dir).into_iter().filter(|e| e["event_type"] == "host_key.accepted").collect();
    assert_eq!(trusted.len(), 1, "{trusted:?}");
    let p = &trusted[0]["payload"];
    assert_eq!((p["key_type"].as_str(), p["fingerprint"].as_str()), (Some("ssh-ed25519"), Some(fingerprint.as_str())), "{p}");
    // The host field as ssh wrote it: plain, or hashed where HashKnownHosts is on.
    let hosts = p["hosts"].as_str().unwrap();
    assert!(hosts == format!("[127.0.0.1]:{}", sshd.port) || hosts.starts_with("|1|"), "{p}");
    assert_eq!(verify(&s, &flow_dir).0, 0);
    let explain = s.run(&["explain", &flow_dir.display().to_string()]);
    assert!(explain.stdout.contains("host keys trusted on first use") && explain.stdout.contains(&fingerprint), "{}", explain.stdout);
    // A known key is not accepted again.
    let again = s.run_with_limit(&["pod-status"], Duration::from_secs(90));
    assert_eq!(again.status, 0, "{}", again.explain());
    assert!(!events(&again.flow_dir()).iter().any(|e| e["event_type"] == "host_key.accepted"));

    // Same address, new key: refused even with accept-new, with the ssh-keygen -R advice.
    sshd.restart_with_new_host_key();
    let changed = s.run_with_limit(&["pod-status"], Duration::from_secs(90));
    assert_ne!(changed.status, 0, "{}", changed.explain());
    let reason = changed.verdict("P30")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("CHANGED") && reason.contains("ssh-keygen -R"), "{reason}");
}

#[test]
fn an_unauthorized_key_is_a_clear_login_failure() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    let other = s.root().join("other_key");
    keygen(&other);
    s.set("WF_SSH_IDENTITY", &other.display().to_string());
    let run = s.run_with_limit(&["pod-status"], Duration::from_secs(90));
    assert_ne!(run.status, 0, "{}", run.explain());
    let reason = run.verdict("P30")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("refused the login") && reason.contains("WF_SSH_IDENTITY"), "{reason}");
    assert!(!run.stdout.contains("other_key") && !run.stderr.contains("other_key"), "the identity path leaked");
}

#[test]
fn ssh_never_creates_or_deletes_hosts() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    // Without a target, P10 would have to create a machine: refused with what to do instead.
    s.unset("LIUM_TARGET");
    s.set("OPS_DEFAULT_HOST", &format!("{}@127.0.0.1", sshd.user));
    let p10 = s.run(&["flow", "--yes"]);
    assert_ne!(p10.status, 0, "{}", p10.explain());
    assert_eq!(last_status(&p10).0, "P10", "{}", p10.explain());
    let reason = p10.verdict("P10")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("cannot create pods") && reason.contains("--provision skip"), "{reason}");

    // --teardown delete on an ssh host is refused; the host's files stay.
    sshd.configure(&mut s);
    let run = s.run(&["flow", "--provision", "skip", "--sweep", "skip", "--teardown", "delete"]);
    assert_ne!(run.status, 0, "{}", run.explain());
    let (phase, status, _) = last_status(&run);
    assert_eq!((phase.as_str(), status.as_str()), ("P90", "fail"), "{}", run.explain());
    let reason = run.verdict("P90")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("never deletes hosts"), "{reason}");
    assert!(s.root().join("remote/project.env").exists(), "the host was left as it is");
}

// ------------------------------------------------- dropped connections and a killed wfhost

/// `wfhost ARGS` running in the sandbox, its stderr readable line by line while it runs.
pub(crate) struct Live {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Live {
    pub(crate) fn spawn(s: &Sandbox, args: &[&str]) -> Live {
        // Any run writes the sandbox's config file first; `--help` does nothing else.
        let _ = s.run(&["--help"]);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wfhost"));
        cmd.args(args).current_dir(s.root()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for k in ["LIUM_YES", "LIUM_TARGET", "WORKFLOW_CONFIG", "WF_ALLOW_OVERRIDE"] {
            cmd.env_remove(k);
        }
        cmd.env("WFHOST_CACHE_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wfhost-component-cache"));
        let mut child = cmd.spawn().expect("wfhost spawns");
        let err = child.stderr.take().expect("stderr");
        let mut out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = std::thread::spawn(move || {
            use std::io::Read;
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        Live { child, lines: rx, seen: Vec::new(), stdout: Some(stdout) }
    }

    /// Wait for a stderr line containing `needle`.
    pub(crate) fn wait_for(&mut self, needle: &str, limit: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = self.child.kill();
        panic!("no stderr line with {needle:?} within {limit:?}; stderr so far:\n{}", self.seen.join("\n"));
    }

    /// Wait for the exit (killed and failed after `limit`): (status, stdout, stderr).
    pub(crate) fn finish(mut self, limit: Duration) -> (i32, String, String) {
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st.code().unwrap_or(-1);
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("wfhost did not finish within {limit:?}; stderr:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(l);
        }
        let stdout = self.stdout.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        (status, stdout, self.seen.join("\n"))
    }

    /// `kill -9` the wfhost process (no cleanup of any kind runs).
    pub(crate) fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn train_log_lines(s: &Sandbox, id: &str) -> usize {
    let log = s.root().join("remote/outputs/runs").join(id).join("train.log");
    std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display())).lines().count()
}

#[test]
fn a_connection_dropped_while_waiting_is_retried_and_the_wait_completes() {
    let mut sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.manifest("run_id,seed,extra\nw1,1,--sleep 8\nw2,2,--sleep 8\n");
    let first = s.run(&["flow", "--provision", "skip", "--wait", "false"]);
    assert_eq!(first.status, 0, "{}", first.explain());

    // While the monitor waits, the server drops every connection (and refuses new ones): the
    // monitor reports it, retries, and finishes once the server is back.
    let mut watch = Live::spawn(&s, &["sweep-watch"]);
    watch.wait_for("P70 MONITOR", Duration::from_secs(60));
    sshd.stop();
    watch.wait_for("sweep status unreadable", Duration::from_secs(60));
    sshd.restart();
    let (status, stdout, stderr) = watch.finish(Duration::from_secs(120));
    assert_eq!(status, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("cannot reach") && stderr.contains("retrying"), "{stderr}");
    assert!(stdout.contains("PHASE=P70 STATUS=ok"), "{stdout}");
    for id in ["w1", "w2"] {
        assert_eq!(train_log_lines(&s, id), 1, "{id} ran more than once");
    }
}

#[test]
fn wfhost_killed_during_the_monitor_resumes_without_running_anything_twice() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.manifest("run_id,seed,extra\nk1,1,--sleep 3\nk2,2,--sleep 3\nk3,3,--sleep 3\n");
    s.set("SWEEP_MAX_PARALLEL", "1");
    let mut flow = Live::spawn(&s, &["flow", "--provision", "skip", "--wait", "true", "--fetch", "all"]);
    flow.wait_for("P70 MONITOR", Duration::from_secs(90));
    flow.kill9();

    let again = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true", "--fetch", "all"], Duration::from_secs(120));
    assert_eq!(again.status, 0, "{}", again.explain());
    for id in ["k1", "k2", "k3"] {
        assert_eq!(train_log_lines(&s, id), 1, "{id} ran more than once");
        assert!(pod_logs(&s, &sshd.target()).join(id).join("metrics.json").exists(), "{id} fetched");
    }
}

#[test]
fn wfhost_killed_during_the_sweep_launch_can_start_the_same_sweep_again() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.manifest("run_id,seed,extra\nl1,1,--sleep 1\nl2,2,--sleep 1\nl3,3,\nl4,4,\n");
    let mut flow = Live::spawn(&s, &["flow", "--provision", "skip", "--wait", "true"]);
    // Killed as soon as P60 begins: wherever its calls stood, the target must stay usable.
    flow.wait_for("P60 SWEEP", Duration::from_secs(90));
    flow.kill9();

    let again = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "start", "--wait", "true", "--fetch", "all"], Duration::from_secs(120));
    assert_eq!(again.status, 0, "{}", again.explain());
    for id in ["l1", "l2", "l3", "l4"] {
        assert_eq!(train_log_lines(&s, id), 1, "{id} ran more than once");
    }
}

/// Where in P60 a test kills wfhost, told by what it leaves in the remote outputs tree.
#[derive(Debug, Clone, Copy, PartialEq)]
enum P60Point {
    /// The manifest copy `_manifests/sweep-latest.csv` exists (runs.tsv may not yet).
    ManifestCopied,
    /// The first run's directory has its command (`runs/<id>/_wf/cmd.sh`).
    RunDirsWritten,
    /// The detached runner has written `_sweep/runner.pid` (the launch waits for its check-in).
    RunnerStarting,
    /// A run has been claimed by the runner.
    RunClaimed,
}

const KILL_RUNS: [&str; 6] = ["q1", "q2", "q3", "q4", "q5", "q6"];

impl P60Point {
    fn reached(self, out: &Path) -> bool {
        match self {
            P60Point::ManifestCopied => out.join("_manifests/sweep-latest.csv").exists(),
            P60Point::RunDirsWritten => out.join("runs/q1/_wf/cmd.sh").exists(),
            P60Point::RunnerStarting => out.join("_sweep/runner.pid").exists(),
            P60Point::RunClaimed => KILL_RUNS.iter().any(|id| out.join("runs").join(id).join("_wf/claim").exists()),
        }
    }
}

/// Kill wfhost -9 at `point` of P60, then resume with `--sweep resume` (and, when the kill came
/// before runs.tsv existed, which resume refuses with 404, start the same sweep again): every
/// run executes exactly once (its command appends one line to ran.log first), ends with exit
/// code 0 and is fetched; `wfhost verify` passes on the resumed flow and, up to its last
/// complete record, on the killed one.
fn wfhost_killed_inside_p60_resumes_exactly_once(point: P60Point) {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    let mut csv = String::from("run_id,seed,extra\n");
    for (i, id) in KILL_RUNS.iter().enumerate() {
        csv.push_str(&format!("{id},{i},--sleep 1\n"));
    }
    s.manifest(&csv);
    s.set("SWEEP_RUN_TEMPLATE", "echo {run_id} >> {run_dir}/ran.log; sh train.sh --seed {seed} {extra}");
    s.set("SWEEP_MAX_PARALLEL", "2");
    let out = s.root().join("remote/outputs");

    let mut flow = Live::spawn(&s, &["flow", "--provision", "skip", "--wait", "true"]);
    let t0 = Instant::now();
    while !point.reached(&out) {
        if let Some(status) = flow.child.try_wait().expect("wait") {
            panic!("wfhost exited ({status}) before {point:?}");
        }
        if t0.elapsed() > Duration::from_secs(120) {
            flow.kill9();
            panic!("{point:?} was not reached within 120 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    flow.kill9();
    let tsv_at_kill = out.join("_sweep/runs.tsv").exists();

    // The killed flow's evidence verifies up to its last complete record (docs/evidence.md).
    let killed = flow_dirs(&s);
    assert_eq!(killed.len(), 1, "{killed:?}");
    let killed = killed[0].clone();
    let (status, report) = verify(&s, &killed);
    assert_eq!(status, 0, "verify of the killed flow: {report:#}");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["finished"], false, "{report:#}");
    assert!(report["verdict"].is_null(), "{report:#}");
    let phases = report["phases"].as_array().cloned().unwrap_or_default();
    let judged: Vec<&str> = phases.iter().filter(|p| p["court"] == "pass").filter_map(|p| p["phase"].as_str()).collect();
    assert!(["P00", "P10", "P20", "P30", "P40", "P50"].iter().all(|p| judged.contains(p)), "{report:#}");
    if point != P60Point::RunClaimed {
        // Still inside P60: it started and has no verdict yet.
        let last = phases.last().unwrap_or_else(|| panic!("{report:#}"));
        assert_eq!((last["phase"].as_str(), last["court"].is_null()), (Some("P60"), true), "{report:#}");
    }

    let resume = ["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true", "--fetch", "all"];
    let mut done = s.run_with_limit(&resume, Duration::from_secs(180));
    if done.status != 0 && !tsv_at_kill {
        // Killed before runs.tsv was written: there is no sweep to resume yet.
        assert_eq!(last_status(&done), ("P60".to_string(), "fail".to_string(), codes::NO_SWEEP_TO_RESUME.get()), "{}", done.explain());
        let reason = done.verdict("P60")["halt_reason"].as_str().unwrap_or_default().to_string();
        assert!(reason.contains("runs.tsv") && reason.contains("--sweep start"), "{reason}");
        done = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "start", "--wait", "true", "--fetch", "all"], Duration::from_secs(180));
    }
    assert_eq!(done.status, 0, "after a kill at {point:?} (runs.tsv existed: {tsv_at_kill})\n{}", done.explain());

    for id in KILL_RUNS {
        let run_dir = out.join("runs").join(id);
        let ran = std::fs::read_to_string(run_dir.join("ran.log")).unwrap_or_else(|e| panic!("{id}: ran.log: {e}"));
        assert_eq!(ran.lines().collect::<Vec<_>>(), [id], "{id} did not run exactly once");
        let code = std::fs::read_to_string(run_dir.join("_wf/exit_code")).unwrap_or_else(|e| panic!("{id}: exit_code: {e}"));
        assert_eq!(code.trim(), "0", "{id}");
        assert!(pod_logs(&s, &sshd.target()).join(id).join("ran.log").exists(), "{id} was not fetched");
    }
    let (status, report) = verify(&s, &done.flow_dir());
    assert_eq!(status, 0, "verify of the resumed flow: {report:#}");
    assert_eq!((report["ok"].as_bool(), report["finished"].as_bool(), report["verdict"].as_str()), (Some(true), Some(true), Some("pass")), "{report:#}");
    // Verifying the resumed flow did not change what the killed one verifies to.
    assert_eq!(verify(&s, &killed).0, 0);
}

#[test]
fn wfhost_killed_after_the_manifest_copy_resumes_exactly_once() {
    wfhost_killed_inside_p60_resumes_exactly_once(P60Point::ManifestCopied);
}

#[test]
fn wfhost_killed_while_run_dirs_are_written_resumes_exactly_once() {
    wfhost_killed_inside_p60_resumes_exactly_once(P60Point::RunDirsWritten);
}

#[test]
fn wfhost_killed_while_the_runner_starts_resumes_exactly_once() {
    wfhost_killed_inside_p60_resumes_exactly_once(P60Point::RunnerStarting);
}

#[test]
fn wfhost_killed_once_runs_are_claimed_resumes_exactly_once() {
    wfhost_killed_inside_p60_resumes_exactly_once(P60Point::RunClaimed);
}

#[test]
fn from_a_long_working_directory_connections_are_shared_through_home() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    let root = s.root().to_path_buf();
    s.set("WF_SSH_KNOWN_HOSTS", &root.join("known_hosts").display().to_string());
    // `<long>/.wfhost/ssh-control/<40 hex>` would not fit in a unix socket path.
    let long = root.join("a-rather-long-directory-name/for-an-experiment-with-many-words");
    std::fs::create_dir_all(&long).unwrap();
    let home = root.join("h");
    std::fs::create_dir_all(&home).unwrap();
    s.env.push(("HOME".into(), home.display().to_string()));
    s.env.push(("WORKFLOW_CONFIG".into(), root.join("infra_scripts/workflow.env").display().to_string()));
    s.env.push(("WF_ALLOW_OVERRIDE".into(), "1".into()));
    let run = s.run(&["-C", &long.display().to_string(), "pod-status"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    assert!(!run.stderr.contains("sharing is off"), "{}", run.stderr);
    assert!(!long.join(".wfhost/ssh-control").exists(), "the long path was used");
    let dirs: Vec<_> = std::fs::read_dir(home.join(".wfhost/ssh")).unwrap().flatten().collect();
    assert_eq!(dirs.len(), 1, "one per-workdir socket directory");
    let sockets = std::fs::read_dir(dirs[0].path()).unwrap().count();
    assert!(sockets >= 1, "no ControlMaster socket in {}", dirs[0].path().display());
}

/// The facts of a phase's outcome (`phase/phase.<Pxx>.json`) in a finished run.
pub(crate) fn facts(run: &Run, phase: &str) -> serde_json::Value {
    let p = run.flow_dir().join(format!("phase/phase.{phase}.json"));
    let outcome: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap();
    outcome["facts"].clone()
}

pub(crate) fn wait_path(path: &Path, limit: Duration) {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < limit, "{} did not appear within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill9(target: &str) {
    let st = Command::new("kill").args(["-9", "--", target]).status().expect("kill");
    assert!(st.success(), "kill -9 {target}");
}

/// `--wait false`, then the target left with a run in every state — ok, failed, running (its
/// runner killed under it), lost (killed with its whole process group) and pending — then
/// `--sweep resume`: the running and finished runs are left alone, the pending one starts, the
/// lost one is reported (402, naming SWEEP_RETRY_LOST) and runs again only once asked. Every
/// run's command appends to its ran.log, so "started twice" cannot hide.
#[test]
fn resume_over_ssh_leaves_every_run_state_alone_and_restarts_lost_runs_only_when_asked() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.unset("SWEEP_RUN_TEMPLATE");
    s.set("SWEEP_MAX_PARALLEL", "2");
    let mark = "echo ran >> $WF_RUN_DIR/ran.log";
    s.manifest(&format!(
        "run_id,command\n\
         ok1,{mark}\n\
         bad1,{mark}; exit 3\n\
         hold,{mark}; while [ ! -f $WF_RUN_DIR/gate ]; do sleep 0.1; done\n\
         victim,{mark}; if [ ! -f $WF_RUN_DIR/once ]; then : > $WF_RUN_DIR/once; exec sleep 120; fi\n\
         later,{mark}\n"
    ));
    let out = s.root().join("remote/outputs");
    let run_dir = |id: &str| out.join("runs").join(id);
    let ran = |id: &str| std::fs::read_to_string(run_dir(id).join("ran.log")).map(|t| t.lines().count()).unwrap_or(0);

    let first = s.run(&["flow", "--provision", "skip", "--wait", "false"]);
    assert_eq!(first.status, 0, "{}", first.explain());
    // Two slots: ok1 and bad1 finish, then hold and victim take the slots and later waits.
    let limit = Duration::from_secs(60);
    for p in [run_dir("ok1").join("_wf/exit_code"), run_dir("bad1").join("_wf/exit_code"), run_dir("hold").join("_wf/pid"), run_dir("victim").join("once")] {
        wait_path(&p, limit);
    }
    // The runner dies first (so it cannot hand victim's slot to later), then victim with
    // everything it started, as the OOM killer or a pod restart would.
    let runner = std::fs::read_to_string(out.join("_sweep/runner.pid")).unwrap().trim().to_string();
    kill9(&runner);
    let victim_group = std::fs::read_to_string(run_dir("victim").join("_wf/pgid")).unwrap().trim().to_string();
    kill9(&format!("-{victim_group}"));

    let snap = s.run(&["flow", "--provision", "skip", "--sweep", "skip", "--wait", "false"]);
    assert_eq!(snap.status, 0, "{}", snap.explain());
    let f = facts(&snap, "P70");
    let counts = |f: &serde_json::Value| ["ok", "failed", "running", "pending", "lost"].map(|k| f[k].as_str().unwrap_or("?").to_string());
    assert_eq!(counts(&f), ["1", "1", "1", "1", "1"], "one run in every state: {f:#}");

    // Resume without SWEEP_RETRY_LOST: later starts, nothing else is touched.
    let resume = s.run(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "false"]);
    assert_eq!(resume.status, 0, "{}", resume.explain());
    let p60 = facts(&resume, "P60");
    assert_eq!((p60["mode"].as_str(), p60["runs_lost_at_launch"].as_str(), p60["runs_restarted"].as_str()), (Some("resume"), Some("1"), Some("0")), "{p60:#}");
    assert!(resume.stderr.contains("set SWEEP_RETRY_LOST=1"), "{}", resume.stderr);
    wait_path(&run_dir("later").join("_wf/exit_code"), limit);
    assert_eq!(["ok1", "bad1", "hold", "victim", "later"].map(ran), [1, 1, 1, 1, 1]);

    // Waiting ends in 402 once hold finishes: victim is lost, bad1 failed; the halt says how
    // to run the lost one again.
    std::fs::write(run_dir("hold").join("gate"), "").unwrap();
    let waited = s.run(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true"]);
    assert_eq!(last_status(&waited), ("P70".to_string(), "fail".to_string(), codes::RUNS_FAILED.get()), "{}", waited.explain());
    assert_eq!(waited.status, 40);
    let reason = waited.verdict("P70")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("bad1") && reason.contains("victim") && reason.contains("SWEEP_RETRY_LOST=1"), "{reason}");
    assert_eq!(["ok1", "bad1", "hold", "victim", "later"].map(ran), [1, 1, 1, 1, 1]);

    // Asked: victim runs again (its first attempt kept), nothing else does.
    s.set("SWEEP_RETRY_LOST", "1");
    let retried = s.run(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true", "--fetch", "run:victim"]);
    assert_eq!(last_status(&retried), ("P70".to_string(), "fail".to_string(), codes::RUNS_FAILED.get()), "{}", retried.explain());
    let p60 = facts(&retried, "P60");
    assert_eq!((p60["runs_restarted"].as_str(), p60["restarted_runs"].as_str()), (Some("1"), Some("victim")), "{p60:#}");
    let reason = retried.verdict("P70")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("1 of 5 runs failed: bad1") && !reason.contains("victim"), "only bad1 fails now: {reason}");
    assert_eq!(["ok1", "bad1", "hold", "victim", "later"].map(ran), [1, 1, 1, 2, 1]);
    assert_eq!(std::fs::read_to_string(run_dir("victim").join("_wf/exit_code")).unwrap().trim(), "0");
    assert!(run_dir("victim").join("_wf/attempts/1/requeued_at").is_file());
    for flow in [&first, &snap, &resume, &waited, &retried] {
        let (status, report) = verify(&s, &flow.flow_dir());
        assert_eq!(status, 0, "{report:#}");
    }
}

/// sshd (and every live connection) goes away while a bootstrap command runs: P40 halts with
/// its family's POD_UNREACHABLE code (306, exit 30), not the bootstrap's own failure code and
/// not a hang.
#[test]
fn sshd_stopped_during_bootstrap_halts_p40_as_unreachable_within_seconds() {
    let mut sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.write("bootstrap.sh", "echo $$ > \"$WF_OUTPUTS_DIR/_control/bootstrap.pid\"\nsleep 30\n");
    s.set("BOOTSTRAP_SCRIPT", "bootstrap.sh");
    let mut flow = Live::spawn(&s, &["flow", "--provision", "skip", "--sweep", "skip"]);
    wait_path(&s.root().join("remote/outputs/_control/bootstrap.pid"), Duration::from_secs(90));
    let t0 = Instant::now();
    sshd.stop();
    flow.wait_for("P40 failed", Duration::from_secs(60));
    let (status, stdout, stderr) = flow.finish(Duration::from_secs(60));
    let took = t0.elapsed();
    assert_eq!(status, 30, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains(&format!("PHASE=P40 STATUS=fail CODE={}", codes::POD_UNREACHABLE_3XX)), "{stdout}\n{stderr}");
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    assert!(took < Duration::from_secs(30), "the halt took {took:?}");
}

/// sshd goes away for good while P70 waits: a few unreadable polls are retried, then P70
/// halts with 407 (POD_UNREACHABLE of the sweep family, exit 40) and says the runs go on.
#[test]
fn sshd_gone_for_good_while_waiting_halts_p70_as_unreachable() {
    let mut sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.manifest("run_id,seed,extra\nz1,1,--sleep 20\n");
    let mut flow = Live::spawn(&s, &["flow", "--provision", "skip", "--wait", "true"]);
    flow.wait_for("P70 MONITOR", Duration::from_secs(90));
    let t0 = Instant::now();
    sshd.stop();
    let (status, stdout, stderr) = flow.finish(Duration::from_secs(90));
    let took = t0.elapsed();
    assert_eq!(status, 40, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains(&format!("PHASE=P70 STATUS=fail CODE={}", codes::POD_UNREACHABLE_4XX)), "{stdout}");
    assert!(stderr.contains("retrying") && stderr.contains("cannot be reached"), "{stderr}");
    assert!(took < Duration::from_secs(60), "the halt took {took:?}");
}

/// The host goes silent while P70 waits (sshd and its sessions stopped with SIGSTOP: no reset,
/// no answer). ssh's keep-alives (tunable through WF_SSH_OPTIONS, here 1 s x 2) notice the
/// dead connection, new connections time out in the banner exchange, and after the tolerated
/// unreadable polls P70 halts with 407 — never a hang.
#[test]
fn a_host_that_goes_silent_halts_p70_as_unreachable_within_the_keepalive_budget() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.set("WF_SSH_OPTIONS", "-o ServerAliveInterval=1 -o ServerAliveCountMax=2 -o ConnectTimeout=3");
    s.manifest("run_id,seed,extra\nh1,1,--sleep 30\n");
    let mut flow = Live::spawn(&s, &["flow", "--provision", "skip", "--wait", "true"]);
    flow.wait_for("P70 MONITOR", Duration::from_secs(90));
    let t0 = Instant::now();
    sshd.signal_all("STOP");
    let (status, stdout, stderr) = flow.finish(Duration::from_secs(120));
    let took = t0.elapsed();
    sshd.signal_all("CONT");
    assert_eq!(status, 40, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains(&format!("PHASE=P70 STATUS=fail CODE={}", codes::POD_UNREACHABLE_4XX)), "{stdout}\n{stderr}");
    assert!(stderr.contains("retrying") && stderr.contains("cannot be reached"), "{stderr}");
    assert!(took < Duration::from_secs(60), "the halt took {took:?}");
}

#[test]
fn an_ssh_option_the_transport_refuses_halts_p00_with_a_config_code_before_the_host_is_reached() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.set("WF_SSH_OPTIONS", "-o ConnectTimeout=5 -o StrictHostKeyChecking=no");
    let log_before = std::fs::read_to_string(sshd.path("sshd.log")).unwrap_or_default();
    let run = s.run(&["flow", "--provision", "skip", "--wait", "true", "--fetch", "all"]);
    let (phase, status, code) = last_status(&run);
    assert_eq!((phase.as_str(), status.as_str(), code), ("P00", "fail", codes::CONFIG_INVALID.get()), "{}", run.explain());
    assert_eq!(Code::from_u16(code).map(Code::family), Some(Family::ConfigPolicy), "a config/policy code");
    let outcome = std::fs::read_to_string(run.flow_dir().join("phase/phase.P00.json")).unwrap();
    for needle in ["ssh transport refuses its config", "WF_SSH_OPTIONS", "StrictHostKeyChecking=no", "is refused", "workflow.env"] {
        assert!(outcome.contains(needle), "{needle:?} missing from the P00 outcome: {outcome}");
    }
    // Nothing touched the target: no gateway call, no ssh connection, no remote file.
    let ev = events(&run.flow_dir());
    assert!(ev.iter().all(|e| !e["event_type"].as_str().unwrap_or("").starts_with("gateway.")), "a gateway call was made");
    assert!(!ev.iter().any(|e| e["event_type"] == "secret.issued"), "the identity was handed to a process");
    let log_after = std::fs::read_to_string(sshd.path("sshd.log")).unwrap_or_default();
    assert!(!log_after[log_before.len()..].contains("Connection from"), "sshd saw a connection:\n{log_after}");
    assert!(!s.root().join("remote").exists(), "the remote tree was created");
    let (vrc, report) = verify(&s, &run.flow_dir());
    assert_eq!(vrc, 0, "{report}");
}
