//! Tests of the slurm operations: on this machine with real `sh`, real files and real `tar`
//! (the local submit host), the requests made for a submit host reached with ssh, and the
//! reading of the cluster check. The check against a real slurmctld, and ssh to a real sshd,
//! are the end-to-end tests' (tests/e2e/slurm.rs).

use super::*;
use std::cell::RefCell;
use std::collections::BTreeMap;
use wfhost_pack_sdk::testing::{run, RunSpec, TempDir};
use wfhost_pack_sdk::transport::{Level, RunRequest};

struct TestHost {
    settings: BTreeMap<String, String>,
    requests: RefCell<Vec<RunRequest>>,
    /// Answer every request with this error instead of running it.
    refuse: Option<String>,
}

impl TestHost {
    fn new(settings: &[(&str, &str)]) -> TestHost {
        TestHost {
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            requests: RefCell::new(Vec::new()),
            refuse: None,
        }
    }
}

impl Host for TestHost {
    fn run(&self, r: &RunRequest) -> Result<CommandResult, String> {
        self.requests.borrow_mut().push(r.clone());
        if let Some(e) = &self.refuse {
            return Err(e.clone());
        }
        if r.program != "sh" {
            return Err(format!("{} is not allowlisted here", r.program));
        }
        Ok(run(&RunSpec::from_request(r)).into())
    }
    fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).cloned()
    }
    fn log(&self, _level: Level, _message: &str) {}
}

fn exec(t: &Slurm<'_, TestHost>, target: &str, command: &str) -> CommandResult {
    t.exec(
        target,
        &ExecSpec {
            command: command.into(),
            timeout_ms: 10_000,
            ..ExecSpec::default()
        },
    )
    .unwrap_or_else(|e| panic!("{command}: {e}"))
}

#[test]
fn commands_on_the_local_submit_host_run_here_with_slurm_conf() {
    let tmp = TempDir::new("wfslurm-t").unwrap();
    let host = TestHost::new(&[(SETTING_SLURM_CONF, "/etc/slurm-test/slurm.conf")]);
    let t = Slurm::new(&host);
    let res = exec(&t, "slurm://local", "printf '%s|%s' \"$SLURM_CONF\" \"$(pwd)\"; echo oops >&2; exit 3");
    assert_eq!(res.exit_code, Some(3));
    assert!(res.stdout.starts_with("/etc/slurm-test/slurm.conf|"), "{}", res.stdout);
    // The marks of the exec script are read and removed, as over ssh.
    assert_eq!(res.stderr.trim(), "oops");
    // A working directory, and a missing one.
    let cwd = t
        .exec(
            "slurm://local",
            &ExecSpec {
                command: "pwd".into(),
                cwd: Some(tmp.path()),
                timeout_ms: 10_000,
                ..ExecSpec::default()
            },
        )
        .unwrap();
    assert_eq!(cwd.stdout.trim(), tmp.path());
    let e = t
        .exec(
            "slurm://local",
            &ExecSpec {
                command: "true".into(),
                cwd: Some(format!("{}/nope", tmp.path())),
                timeout_ms: 10_000,
                ..ExecSpec::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    // Only sh ran, and no ssh setting or secret reached it.
    assert!(host.requests.borrow().iter().all(|r| r.program == "sh" && r.secret_env.is_empty()));
}

#[test]
fn a_local_command_past_its_time_is_stopped() {
    let host = TestHost::new(&[]);
    let t = Slurm::new(&host);
    let t0 = std::time::Instant::now();
    let res = t
        .exec(
            "slurm://local",
            &ExecSpec {
                command: "sleep 30".into(),
                timeout_ms: 500,
                ..ExecSpec::default()
            },
        )
        .unwrap();
    assert!(res.timed_out, "{res:?}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "{:?}", t0.elapsed());
}

#[test]
fn files_go_and_come_back_on_the_local_submit_host() {
    let tmp = TempDir::new("wfslurm-t").unwrap();
    let host = TestHost::new(&[("WF_SSH_OPTIONS", "-o ProxyCommand=false"), ("WF_SSH_IDENTITY_HANDLE", "ssh_identity")]);
    let t = Slurm::new(&host);
    let file = format!("{}/out/sub/file.txt", tmp.path());
    t.put_file("slurm://local/ci", &file, b"hello\nworld\n".to_vec(), 0o640).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello\nworld\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(t.get_file("slurm://local", &file, 5).unwrap(), b"hello");
    let e = t.get_file("slurm://local", &format!("{file}.missing"), 5).unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");

    let dst = tmp.join("fetched");
    std::fs::create_dir_all(&dst).unwrap();
    // The fetch command is run by the wfhost host itself: here by hand, its stdout the archive.
    let fetch = |dir: &str| {
        let source = t.fetch_command("slurm://local", dir)?;
        assert_eq!(source.command.program, "sh", "{source:?}");
        let ended = host.run(&source.command).expect("runs");
        t.fetch_ended("slurm://local", dir, &CommandResult { stdout: String::new(), ..ended.clone() }).map(|()| ended.stdout)
    };
    let archive = fetch(&format!("{}/out", tmp.path())).unwrap();
    assert!(archive.contains("./sub/file.txt") && archive.contains("hello\nworld\n"), "the archive lacks the file");
    let e = fetch(&format!("{}/none", tmp.path())).unwrap_err();
    assert!(e.to_string().contains("no such directory"), "{e}");
    // WF_SSH_OPTIONS and the identity are ssh's: nothing of them reaches a local run.
    for r in host.requests.borrow().iter() {
        assert!(r.secret_env.is_empty(), "{r:?}");
        assert!(!r.args.iter().any(|a| a.contains("ProxyCommand")), "{r:?}");
    }
}

#[test]
fn a_remote_submit_host_is_reached_with_the_ssh_client() {
    let mut host = TestHost::new(&[(SETTING_SLURM_CONF, "/opt/slurm/etc/slurm.conf")]);
    host.refuse = Some("recorded, not run".into());
    let t = Slurm::new(&host);
    let e = t
        .exec(
            "slurm+ssh://alice@127.0.0.1:2200/gpu",
            &ExecSpec {
                command: "squeue".into(),
                timeout_ms: 1_000,
                ..ExecSpec::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("recorded, not run"), "{e}");
    let requests = host.requests.borrow();
    let r = requests.last().unwrap();
    assert_eq!(r.program, "ssh");
    let dd = r.args.iter().position(|a| a == "--").unwrap();
    assert_eq!(r.args[dd + 1], "alice@127.0.0.1");
    assert!(r.args.windows(2).any(|w| w == ["-p", "2200"]), "{:?}", r.args);
    assert!(r.args.iter().any(|a| a == "BatchMode=yes"), "{:?}", r.args);
    assert!(r.args[dd + 2].contains("SLURM_CONF=/opt/slurm/etc/slurm.conf"), "{}", r.args[dd + 2]);
}

#[test]
fn targets_settings_and_refusals() {
    let host = TestHost::new(&[(SETTING_PARTITION, "ci")]);
    let t = Slurm::new(&host);
    assert_eq!(t.id(), "slurm");
    assert_eq!(t.parse_target("slurm://local").unwrap(), "slurm://local/ci");
    assert!(t.parse_target("slurm://local/gpu").is_err());
    let e = t.provision("wf-1", "k").unwrap_err().to_string();
    assert!(e.contains("creates nothing") && e.contains("LIUM_TARGET=slurm://local"), "{e}");
    let e = t.delete("slurm://local").unwrap_err().to_string();
    assert!(e.contains("never deletes") && e.contains("slurm://local/ci"), "{e}");
    assert_eq!(t.resolve_path("slurm://local", "/a/b/").unwrap(), "/a/b");
    assert!(t.resolve_path("slurm://local", "/a/../b").is_err());
    assert!(t.resolve_path("slurm://local", "a/b").is_err());
    let bad = TestHost::new(&[(SETTING_SLURM_CONF, "etc/slurm.conf")]);
    let e = Slurm::new(&bad).exec("slurm://local", &ExecSpec::default()).unwrap_err();
    assert!(matches!(&e, TransportError::Invalid(m) if m.contains("SLURM_CONF")), "{e}");
    // The local submit host answers nothing but the ssh client's scripts.
    let local = LocalShell::new(&host);
    let e = local.run(&RunRequest { program: "scp".into(), ..RunRequest::default() }).unwrap_err();
    assert!(e.contains("not scp"), "{e}");
}

const UP: &str = "cluster ci\npart ci* up 1 idle\npart gpu up 2 mixed\npart gpu up 1 down*\npart old down 1 idle\npart empty up 0 n/a\n";

#[test]
fn the_cluster_check_is_read_and_judged() {
    let check = read_check(UP).unwrap();
    let Check::Up { cluster, partitions } = &check else { panic!("{check:?}") };
    assert_eq!(cluster, "ci");
    assert_eq!(partitions.len(), 4);
    assert_eq!(partitions[1].nodes, 3);
    assert!(partitions[0].default && !partitions[1].default);

    let PodReport { state, detail } = judge(&check, None).unwrap();
    assert_eq!(state, PodState::Ready);
    assert!(detail.contains("cluster ci") && detail.contains("partition ci (the default) is up with 1 node(s) (1 idle)"), "{detail}");
    let PodReport { state, detail } = judge(&check, Some("gpu")).unwrap();
    assert_eq!(state, PodState::Ready, "{detail}");
    assert!(detail.contains("3 node(s) (2 mixed, 1 down*)"), "{detail}");
    for (p, says) in [("old", "is down"), ("empty", "has no nodes"), ("nope", "does not exist on cluster ci (partitions: ci, gpu, old, empty)")] {
        let PodReport { state, detail } = judge(&check, Some(p)).unwrap();
        assert_eq!(state, PodState::Stopped, "{p}");
        assert!(detail.contains(says), "{p}: {detail}");
    }
    let no_default = read_check("cluster x\npart a up 1 idle\n").unwrap();
    assert!(judge(&no_default, None).unwrap().detail.contains("no default partition"));

    let down = read_check("down Slurmctld(primary) at vm is DOWN *** RESTORE ***\n").unwrap();
    let PodReport { state, detail } = judge(&down, Some("ci")).unwrap();
    assert_eq!(state, PodState::Starting);
    assert!(detail.contains("does not answer") && detail.contains("DOWN"), "{detail}");
    let PodReport { state, detail } = judge(&read_check("noconf /x/slurm.conf").unwrap(), None).unwrap();
    assert_eq!(state, PodState::Stopped);
    assert!(detail.contains("SLURM_CONF=/x/slurm.conf does not exist"), "{detail}");
    let e = judge(&read_check("noslurm\n").unwrap(), None).unwrap_err();
    assert!(e.to_string().contains("install slurm-client"), "{e}");
    for garbage in ["", "cluster", "part ci up", "part ci up x idle", "hello"] {
        assert!(read_check(garbage).is_err(), "{garbage:?}");
    }
}

#[test]
fn the_check_script_reports_a_missing_client_and_a_missing_conf() {
    let host = TestHost::new(&[(SETTING_SLURM_CONF, "/nonexistent/slurm.conf")]);
    let t = Slurm::new(&host);
    // With an empty PATH the client is missing whatever this machine has installed.
    let res = exec(&t, "slurm://local", &format!("PATH=/nonexistent; {CHECK_SH}"));
    assert_eq!(read_check(&res.stdout).unwrap(), Check::NoSlurm);
    let res = exec(&t, "slurm://local", &format!("scontrol() {{ :; }}; {CHECK_SH}"));
    assert_eq!(read_check(&res.stdout).unwrap(), Check::NoConf("/nonexistent/slurm.conf".into()));
}
