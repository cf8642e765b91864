//! The slurm transport end to end: the real `wfhost` binary against a real single-node Slurm
//! cluster (munged, slurmctld and slurmd from Debian's packages), stdin closed.
//!
//! [`Cluster::start`] runs `tests/slurm/start-slurm.sh` in a directory of its own
//! (`/tmp/wfslurm.*`, short enough for the unix sockets) on free ports, advertising 16 CPUs so
//! an array's tasks start together; dropping it runs `tests/slurm/stop-slurm.sh --purge`, which
//! cancels every job, stops the daemons by pid and removes the directory, whether the test
//! passed or failed. One cluster runs at a time (the tests hold [`SLURM`] while theirs is up).
//! On a machine without Slurm, or where the cluster does not start, the test fails saying so
//! and what to install: it never skips. (.ci/run installs the packages.)
//!
//! The sweeps' commands append to their run's `ran.log`, so a run that executed twice cannot
//! hide; arrays are counted in Slurm itself (`squeue` by the sweep's job names), so a task
//! submitted twice cannot either. The remote tree (outputs, checkout, config copy) lives in the
//! sandbox, which the jobs (run as root) write to.

use crate::harness::{Run, Sandbox};
use crate::ssh::{events, facts, flow_dirs, last_status, pod_logs, verify, Live, Sshd};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wfhost_constitution::codes;

/// One cluster at a time: each test holds this while its cluster is up.
static SLURM: Mutex<()> = Mutex::new(());

/// The binaries the cluster needs.
const NEEDED: [&str; 6] = [
    "/usr/sbin/munged",
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/bin/sbatch",
    "/usr/bin/squeue",
    "/usr/bin/scontrol",
];

/// Panic, saying what to install, when a binary is missing: these tests never skip.
fn ensure_slurm() {
    let missing: Vec<&str> = NEEDED.iter().copied().filter(|p| !Path::new(p).is_file()).collect();
    assert!(
        missing.is_empty(),
        "the Slurm end-to-end tests need a real single-node cluster and {} is missing: run \
         `apt-get install --no-install-recommends slurm-wlm munge` as root (.ci/run does) and rerun",
        missing.join(", ")
    );
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm").join(name)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A running single-node cluster.
pub struct Cluster {
    dir: PathBuf,
    /// What start-slurm.sh printed: SLURM_CONF, SLURM_CI_PARTITION, ...
    env: BTreeMap<String, String>,
    /// The knobs it was started with (a restart needs the same).
    knobs: Vec<(String, String)>,
    stopped: bool,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Cluster {
    pub fn start() -> Cluster {
        let guard = SLURM.lock().unwrap_or_else(|p| p.into_inner());
        ensure_slurm();
        let uid = String::from_utf8_lossy(&Command::new("id").arg("-u").output().expect("id").stdout).trim().to_string();
        assert_eq!(uid, "0", "the Slurm end-to-end tests start slurmd, which must run as root; run them as root (.ci/run does)");
        let dir = tempfile::Builder::new().prefix("wfslurm.").tempdir_in("/tmp").expect("state dir").keep();
        let knobs = vec![
            ("SLURM_CI_CPUS".to_string(), "16".to_string()),
            ("SLURM_CI_CTLD_PORT".to_string(), free_port().to_string()),
            ("SLURM_CI_SLURMD_PORT".to_string(), free_port().to_string()),
            ("SLURM_CI_TIMEOUT".to_string(), "60".to_string()),
        ];
        let mut c = Cluster { dir, env: BTreeMap::new(), knobs, stopped: false, _one_at_a_time: guard };
        c.up();
        c
    }

    /// Run start-slurm.sh (it starts whatever of the cluster is not running).
    fn up(&mut self) {
        let out = Command::new(script("start-slurm.sh"))
            .arg(&self.dir)
            .envs(self.knobs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("start-slurm.sh runs");
        assert!(
            out.status.success(),
            "the test cluster did not start in {}: {}\n{}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        self.env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
    }

    pub fn conf(&self) -> String {
        self.env["SLURM_CONF"].clone()
    }

    pub fn partition(&self) -> String {
        self.env["SLURM_CI_PARTITION"].clone()
    }

    /// Run a Slurm client command against this cluster.
    pub fn cmd(&self, program: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// Stdout of a client command that must succeed.
    pub fn ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.cmd(program, args);
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every task Slurm has of the jobs named `names` (comma-separated): (name, task, state, array).
    pub fn tasks(&self, names: &str) -> Vec<(String, String, String, String)> {
        self.ok("squeue", &["-h", "-r", "-t", "all", "-n", names, "-o", "%j|%K|%T|%F"])
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                (f.len() == 4).then(|| (f[0].into(), f[1].into(), f[2].into(), f[3].into()))
            })
            .collect()
    }

    fn pid(&self, daemon: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(format!("run/{daemon}.pid"))).ok()?.trim().parse().ok()
    }

    /// Stop slurmctld (TERM, as a service manager would), keep it down for `down`, then start it
    /// again on the same state.
    pub fn restart_controller(&mut self, down: Duration) {
        let pid = self.pid("slurmctld").expect("slurmctld pid");
        let st = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
        assert!(st.success());
        let t0 = Instant::now();
        while alive(pid) {
            assert!(t0.elapsed() < Duration::from_secs(30), "slurmctld did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!self.cmd("scontrol", &["ping"]).status.success(), "the controller still answers");
        std::thread::sleep(down);
        self.up();
    }

    /// Point a sandbox at this cluster through the local submit host, with the remote tree in
    /// the sandbox.
    pub fn configure(&self, s: &mut Sandbox) {
        let root = s.root().to_path_buf();
        s.set("WF_TRANSPORT", "slurm");
        s.set("LIUM_TARGET", "slurm://local");
        s.set("SLURM_CONF", &self.conf());
        s.set("SLURM_PARTITION", &self.partition());
        s.set("OPS_REMOTE_OUTPUTS_DIR", &root.join("remote/outputs").display().to_string());
        s.set("REMOTE_ENV_PATH", &root.join("remote/project.env").display().to_string());
        s.set("REMOTE_REPO_DIR", &root.join("remote/repo").display().to_string());
        s.set("SWEEP_RUN_TEMPLATE", "echo \"$WF_RUN_ID\" >> \"$WF_RUN_DIR/ran.log\" && sh train.sh --seed {seed} --fail {fail} --sleep {sleep}");
    }

    /// Stop the cluster and remove its directory; an error names what is still running.
    pub fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let pids: Vec<(String, u32)> = ["munged", "slurmctld", "slurmd"].iter().filter_map(|d| Some((d.to_string(), self.pid(d)?))).collect();
        let out = Command::new(script("stop-slurm.sh"))
            .arg(&self.dir)
            .arg("--purge")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("stop-slurm.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!("stop-slurm.sh {} failed: {}", self.dir.display(), String::from_utf8_lossy(&out.stderr)));
        }
        let left: Vec<String> = pids.iter().filter(|(_, p)| alive(*p)).map(|(d, p)| format!("{d} ({p})")).collect();
        if !left.is_empty() {
            return Err(format!("still running after stop-slurm.sh: {}", left.join(", ")));
        }
        if self.dir.exists() {
            return Err(format!("{} was not removed", self.dir.display()));
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("slurm e2e: {e}");
        }
    }
}

/// Whether `pid` runs (zombies count as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| st.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn outputs(s: &Sandbox) -> PathBuf {
    s.root().join("remote/outputs")
}

/// How many times run `id` executed (its command appends a line to ran.log).
fn executions(s: &Sandbox, id: &str) -> usize {
    std::fs::read_to_string(outputs(s).join("runs").join(id).join("ran.log")).map(|t| t.lines().count()).unwrap_or(0)
}

/// The sweep's job names, from its submission records (`wfhost-TOKEN`, comma-separated).
fn job_names(s: &Sandbox) -> String {
    std::fs::read_to_string(outputs(s).join("_sweep/slurm/subs.tsv"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(|t| format!("wfhost-{t}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A manifest of (run id, exit code, seconds to sleep) rows.
fn manifest(rows: &[(&str, u32, u32)]) -> String {
    let mut m = String::from("run_id,seed,fail,sleep\n");
    for (i, (id, fail, sleep)) in rows.iter().enumerate() {
        m.push_str(&format!("{id},{i},{fail},{sleep}\n"));
    }
    m
}

fn twenty() -> Vec<String> {
    (1..=20).map(|i| format!("r{i:02}")).collect()
}

fn fact<'a>(f: &'a serde_json::Value, key: &str) -> &'a str {
    f[key].as_str().unwrap_or_else(|| panic!("no fact {key} in {f}"))
}

/// A 20-run sweep as one array: every phase ok, one array of 20 tasks, each run once,
/// everything fetched back, the map on the target what the evidence says.
fn twenty_runs_complete(s: &Sandbox, c: &Cluster, fetched_from: &str) -> Run {
    let run = s.run_with_limit(&["flow", "--provision", "skip", "--wait", "true", "--fetch", "all"], Duration::from_secs(240));
    assert_eq!(run.status, 0, "{}", run.explain());
    let statuses = run.statuses();
    let phases: Vec<&str> = statuses.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(phases, ["P00", "P10", "P20", "P30", "P40", "P50", "P60", "P70", "P80", "P90", "P99"], "{}", run.explain());
    assert!(statuses.iter().all(|(_, st, code)| (st == "ok" || st == "skip") && *code == 0), "{}", run.explain());
    assert!(run.courts().iter().all(|(_, court, _, _)| court == "pass"), "{}", run.explain());

    // P20 bound the submit host with the partition; P30 asked the cluster.
    let bound = format!("{fetched_from}/{}", c.partition());
    assert_eq!(fact(&facts(&run, "P20"), "target"), bound);
    let p30 = facts(&run, "P30");
    assert_eq!(fact(&p30, "pod_state"), "ready");
    assert!(fact(&p30, "pod_detail").contains(&format!("cluster ci: the controller answers; partition {} (the default) is up", c.partition())), "{p30}");

    // ONE array of 20 tasks; its map is on the target, with the sha256 the evidence records.
    let p60 = facts(&run, "P60");
    assert_eq!(fact(&p60, "sweep_backend"), "slurm");
    assert_eq!(fact(&p60, "slurm_tasks"), "20");
    let array = fact(&p60, "slurm_array_id").to_string();
    assert!(array.parse::<u64>().is_ok(), "{p60}");
    let map_path = fact(&p60, "slurm_map");
    let map = std::fs::read_to_string(map_path).unwrap_or_else(|e| panic!("{map_path}: {e}"));
    assert_eq!(map.lines().collect::<Vec<_>>(), twenty(), "task i runs the i-th row");
    let digest = c.ok("sha256sum", &[map_path]);
    assert_eq!(Some(fact(&p60, "slurm_map_sha256")), digest.split_whitespace().next());
    let names = job_names(s);
    assert_eq!(names.split(',').count(), 1, "one submission: {names}");
    let tasks = c.tasks(&names);
    assert_eq!(tasks.len(), 20, "{tasks:?}");
    assert!(tasks.iter().all(|(_, _, st, a)| st == "COMPLETED" && *a == array), "{tasks:?}");
    assert!(fact(&p60, "sbatch_options").contains(&format!("--partition={}", c.partition())), "{p60}");

    // P70 counted from Slurm and the result files.
    let p70 = facts(&run, "P70");
    assert_eq!((fact(&p70, "total"), fact(&p70, "ok")), ("20", "20"), "{p70}");
    assert_eq!(fact(&p70, "slurm_states"), "COMPLETED=20");
    for id in twenty() {
        assert_eq!(executions(s, &id), 1, "{id}");
        let metrics = pod_logs(s, &bound).join(&id).join("metrics.json");
        assert!(metrics.is_file(), "{} fetched", metrics.display());
    }
    let (status, report) = verify(s, &run.flow_dir());
    assert_eq!(status, 0, "verify: {report:#}");
    run
}

fn sandbox(c: &Cluster, ids: &[(&str, u32, u32)]) -> Sandbox {
    let mut s = Sandbox::new();
    c.configure(&mut s);
    s.manifest(&manifest(ids));
    s
}

// ------------------------------------------------------------------------------------ flows

#[test]
fn a_20_run_sweep_runs_as_one_job_array_and_completes() {
    let mut c = Cluster::start();
    let ids = twenty();
    let rows: Vec<(&str, u32, u32)> = ids.iter().map(|i| (i.as_str(), 0, 0)).collect();
    let mut s = sandbox(&c, &rows);
    s.set("SWEEP_MAX_PARALLEL", "8");
    twenty_runs_complete(&s, &c, "slurm://local");
    // The array was throttled as asked (%8) and ran its tasks under this cluster's config.
    let p60 = facts(&s.run(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true"]), "P60");
    assert_eq!(fact(&p60, "slurm_array_id"), "none", "a finished sweep submits nothing: {p60}");
    assert_eq!(fact(&p60, "runs_finished_at_launch"), "20");
    // Stopping the cluster leaves no daemon and no directory behind.
    c.stop().unwrap();
}

#[test]
fn over_ssh_the_same_20_run_sweep_completes_through_the_loopback_sshd() {
    let c = Cluster::start();
    let sshd = Sshd::start();
    let ids = twenty();
    let rows: Vec<(&str, u32, u32)> = ids.iter().map(|i| (i.as_str(), 0, 0)).collect();
    let mut s = sandbox(&c, &rows);
    sshd.configure(&mut s);
    // sshd's configure makes the target an ssh one; the slurm transport reaches the same host.
    c.configure(&mut s);
    let target = format!("slurm+ssh://{}@127.0.0.1:{}", sshd.user, sshd.port);
    s.set("LIUM_TARGET", &target);
    s.set("SWEEP_MAX_PARALLEL", "8");
    let run = twenty_runs_complete(&s, &c, &target);
    // Every command went through ssh, with the identity from custody.
    let issued: Vec<_> = events(&run.flow_dir()).into_iter().filter(|e| e["event_type"] == "secret.issued").collect();
    assert!(!issued.is_empty(), "no secret.issued for the ssh identity");
    assert!(issued.iter().all(|e| e["payload"]["requester"] == "transport:slurm"), "{issued:?}");
}

#[test]
fn a_failing_run_halts_p70_with_its_slurm_state_and_exit_code() {
    let c = Cluster::start();
    let s = sandbox(&c, &[("good", 0, 0), ("bad", 3, 0), ("also", 0, 0)]);
    let run = s.run_with_limit(&["flow", "--provision", "skip", "--wait", "true"], Duration::from_secs(180));
    assert_eq!(run.status, 40, "{}", run.explain());
    assert_eq!(last_status(&run), ("P70".into(), "fail".into(), codes::RUNS_FAILED.get()), "{}", run.explain());
    let reason = run.verdict("P70")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("bad (FAILED, exit 3)"), "{reason}");
    let p70 = facts(&run, "P70");
    assert_eq!((fact(&p70, "ok"), fact(&p70, "failed")), ("2", "1"));
    assert_eq!(fact(&p70, "slurm_states"), "COMPLETED=2,FAILED=1");
    // Slurm's own record says the same.
    let names = job_names(&s);
    let failed: Vec<_> = c.tasks(&names).into_iter().filter(|t| t.2 == "FAILED").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let job = c.ok("scontrol", &["show", "job", "-o", &format!("{}_{}", failed[0].3, failed[0].1)]);
    assert!(job.contains("ExitCode=3:0"), "{job}");
}

/// Wait until `path` exists.
fn wait_path(path: &Path, limit: Duration) {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < limit, "{} did not appear within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_run_cancelled_from_outside_with_scancel_is_reported_cancelled() {
    let c = Cluster::start();
    let s = sandbox(&c, &[("victim", 0, 120), ("quick", 0, 0)]);
    let first = s.run(&["flow", "--provision", "skip", "--wait", "false"]);
    assert_eq!(first.status, 0, "{}", first.explain());
    let started = outputs(&s).join("runs/victim/_wf/slurm_task");
    wait_path(&started, Duration::from_secs(60));
    // TOKEN ARRAY TASK JOB HOST
    let task = std::fs::read_to_string(&started).unwrap();
    let f: Vec<&str> = task.split_whitespace().collect();
    let st = c.cmd("scancel", &[&format!("{}_{}", f[1], f[2])]);
    assert!(st.status.success(), "{st:?}");

    let watch = s.run_with_limit(&["sweep-watch"], Duration::from_secs(120));
    assert_eq!(last_status(&watch), ("P70".into(), "fail".into(), codes::RUNS_FAILED.get()), "{}", watch.explain());
    let reason = watch.verdict("P70")["halt_reason"].as_str().unwrap_or_default().to_string();
    // Named with its state and no exit code: the command may have died of the cancel and
    // its code been recorded before the task's own TERM arrived; that code is not the run's.
    assert!(reason.contains("victim (CANCELLED)"), "{reason}");
    assert_eq!(executions(&s, "quick"), 1);
}

#[test]
fn a_run_past_slurm_time_is_reported_timed_out() {
    let c = Cluster::start();
    let mut s = sandbox(&c, &[("slow", 0, 600), ("fast", 0, 0)]);
    s.set("SLURM_TIME", "1");
    let t0 = Instant::now();
    let run = s.run_with_limit(&["flow", "--provision", "skip", "--wait", "true"], Duration::from_secs(300));
    assert_eq!(last_status(&run), ("P70".into(), "fail".into(), codes::RUNS_FAILED.get()), "{}", run.explain());
    let reason = run.verdict("P70")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("slow (TIMEOUT)"), "{reason}");
    assert!(fact(&facts(&run, "P60"), "sbatch_options").contains("--time=1"));
    assert!(t0.elapsed() >= Duration::from_secs(60), "the limit is one minute");
    assert_eq!(executions(&s, "fast"), 1);
}

#[test]
fn wfhost_killed_during_p70_then_resume_runs_nothing_twice_and_submits_nothing_twice() {
    let c = Cluster::start();
    let ids: Vec<String> = (1..=6).map(|i| format!("k{i}")).collect();
    let rows: Vec<(&str, u32, u32)> = ids.iter().map(|i| (i.as_str(), 0, 3)).collect();
    let mut s = sandbox(&c, &rows);
    s.set("SWEEP_MAX_PARALLEL", "2");
    let mut flow = Live::spawn(&s, &["flow", "--provision", "skip", "--wait", "true", "--fetch", "all"]);
    flow.wait_for("P70 MONITOR", Duration::from_secs(120));
    flow.kill9();
    let killed = flow_dirs(&s);
    assert_eq!(killed.len(), 1, "{killed:?}");
    // Tasks were still queued or running when wfhost died.
    let names = job_names(&s);
    let live = c.tasks(&names).into_iter().filter(|t| t.2 == "PENDING" || t.2 == "RUNNING").count();
    assert!(live > 0, "the kill came too late to test anything");

    let again = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true", "--fetch", "all"], Duration::from_secs(180));
    assert_eq!(again.status, 0, "{}", again.explain());
    let p60 = facts(&again, "P60");
    assert_eq!(fact(&p60, "slurm_array_id"), "none", "the resume submitted nothing: {p60}");
    assert_eq!(fact(&p60, "runs_started"), "0");
    // Slurm holds exactly one task per run, in one array; every run executed once.
    assert_eq!(job_names(&s).split(',').count(), 1);
    let tasks = c.tasks(&job_names(&s));
    assert_eq!(tasks.len(), 6, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.2 == "COMPLETED"), "{tasks:?}");
    for (id, _, _) in &rows {
        assert_eq!(executions(&s, id), 1, "{id} ran {} times", executions(&s, id));
    }
    // The killed flow's evidence verifies up to its last complete record.
    assert_eq!(verify(&s, &killed[0]).0, 0);
}

#[test]
fn a_slurmctld_restart_during_p70_is_ridden_out_or_halts_clearly_and_a_resume_finishes() {
    let mut c = Cluster::start();
    let ids: Vec<String> = (1..=4).map(|i| format!("w{i}")).collect();
    let rows: Vec<(&str, u32, u32)> = ids.iter().map(|i| (i.as_str(), 0, 4)).collect();
    let mut s = sandbox(&c, &rows);
    s.set("SWEEP_MAX_PARALLEL", "2");
    let mut flow = Live::spawn(&s, &["flow", "--provision", "skip", "--wait", "true"]);
    flow.wait_for("P70 MONITOR", Duration::from_secs(120));
    c.restart_controller(Duration::from_secs(5));
    let (status, stdout, stderr) = flow.finish(Duration::from_secs(240));
    if status != 0 {
        // Halting is allowed, with a clear code: the status could not be read (405) or the
        // submit host not reached (407), saying why.
        let clear = [codes::MONITOR_UNREADABLE, codes::POD_UNREACHABLE_4XX]
            .iter()
            .any(|code| stdout.contains(&format!("PHASE=P70 STATUS=fail CODE={code}")));
        assert!(clear, "the flow halted without a clear P70 code:\n{stdout}\n{stderr}");
        assert!(stderr.contains("squeue"), "{stderr}");
    }
    let done = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true"], Duration::from_secs(180));
    assert_eq!(done.status, 0, "{}", done.explain());
    assert_eq!(fact(&facts(&done, "P70"), "ok"), "4");
    for (id, _, _) in &rows {
        assert_eq!(executions(&s, id), 1, "{id}");
    }
    assert_eq!(c.tasks(&job_names(&s)).len(), 4, "no task was submitted twice");
}

#[test]
fn p90_delete_cancels_this_flows_pending_tasks_and_leaves_someone_elses_job_alone() {
    let c = Cluster::start();
    // Someone else's job, held so it stays queued.
    let foreign = c.ok("runuser", &["-u", "nobody", "--", "env", &format!("SLURM_CONF={}", c.conf()), "sbatch", "--parsable", "--hold", "--job-name=someone-else", "--chdir=/tmp", "--output=/dev/null", "--wrap=sleep 1"]);
    let foreign = foreign.trim().split(';').next().unwrap().to_string();
    let ids: Vec<String> = (1..=4).map(|i| format!("p{i}")).collect();
    let rows: Vec<(&str, u32, u32)> = ids.iter().map(|i| (i.as_str(), 0, 120)).collect();
    let mut s = sandbox(&c, &rows);
    s.set("SWEEP_MAX_PARALLEL", "1");
    let run = s.run_with_limit(&["flow", "--provision", "skip", "--wait", "false", "--teardown", "delete"], Duration::from_secs(180));
    assert_eq!(run.status, 0, "{}", run.explain());
    let p90 = facts(&run, "P90");
    assert_eq!(fact(&p90, "deleted"), "true", "{p90}");
    let array = fact(&facts(&run, "P60"), "slurm_array_id").to_string();
    assert_eq!(fact(&p90, "cancelled_arrays"), array);
    let cancelled: u64 = fact(&p90, "tasks_cancelled").parse().unwrap();
    assert!(cancelled >= 3, "at least the three queued tasks: {p90}");
    // None of this flow's tasks is queued or running any more; someone else's job still waits.
    let ours = c.tasks(&job_names(&s));
    assert!(ours.iter().all(|t| t.2 == "CANCELLED"), "{ours:?}");
    let theirs = c.ok("squeue", &["-h", "-j", &foreign, "-o", "%T|%u"]);
    assert_eq!(theirs.trim(), "PENDING|nobody", "someone else's job was touched");
    // The queued runs never ran.
    let never = (1..=4).filter(|i| executions(&s, &format!("p{i}")) == 0).count();
    assert!(never >= 3, "{never} run(s) never ran");
    c.ok("scancel", &[&foreign]);
}

#[test]
fn an_unknown_partition_fails_p30_saying_which_exist() {
    let c = Cluster::start();
    let mut s = sandbox(&c, &[("r1", 0, 0)]);
    s.set("SLURM_PARTITION", "nope");
    let run = s.run_with_limit(&["flow", "--provision", "skip"], Duration::from_secs(120));
    assert_eq!(last_status(&run), ("P30".into(), "fail".into(), codes::POD_NOT_READY.get()), "{}", run.explain());
    let reason = run.verdict("P30")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains(&format!("partition nope does not exist on cluster ci (partitions: {})", c.partition())), "{reason}");
    assert!(!outputs(&s).join("_sweep").exists(), "nothing was submitted");
}
