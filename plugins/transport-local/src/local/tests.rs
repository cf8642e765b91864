//! Tests of the local transport against real `sh` and real files in a temp pods directory.

use super::*;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use wfhost_pack_sdk::testing::{run, RunSpec, TempDir};

struct TestHost {
    settings: BTreeMap<String, String>,
    logs: RefCell<Vec<String>>,
    runs: RefCell<usize>,
}

impl TestHost {
    fn new(pods: &str) -> Self {
        let mut settings = BTreeMap::new();
        settings.insert(paths::PODS_DIR_SETTING.to_string(), pods.to_string());
        TestHost {
            settings,
            logs: RefCell::new(Vec::new()),
            runs: RefCell::new(0),
        }
    }
}

impl Host for TestHost {
    fn run(&self, r: &RunRequest) -> Result<CommandResult, String> {
        *self.runs.borrow_mut() += 1;
        if r.program != "sh" {
            return Err(format!("{} is not allowlisted", r.program));
        }
        if let Some(cwd) = &r.cwd {
            if !Path::new(cwd).is_dir() {
                return Err(format!("cwd {cwd} does not exist"));
            }
        }
        Ok(run(&RunSpec::from_request(r)).into())
    }
    fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).cloned()
    }
    fn log(&self, _level: Level, message: &str) {
        self.logs.borrow_mut().push(message.to_string());
    }
    fn now_secs(&self) -> i64 {
        1_700_000_000
    }
}

struct Fixture {
    tmp: TempDir,
    host: TestHost,
}

impl Fixture {
    fn new() -> Self {
        let tmp = TempDir::new("wfhost-local").unwrap();
        let host = TestHost::new(&tmp.join("pods"));
        Fixture { tmp, host }
    }
    fn t(&self) -> Local<'_, TestHost> {
        Local::new(&self.host)
    }
    fn pods(&self) -> String {
        self.tmp.join("pods")
    }
    fn with_pod(self, name: &str) -> Self {
        self.t().provision(name, "key-1").unwrap();
        self
    }
}

fn exec(cmd: &str) -> ExecSpec {
    ExecSpec {
        command: cmd.into(),
        cwd: None,
        env: vec![],
        timeout_ms: 30_000,
    }
}

// ---------------------------------------------------------------- provision / status

#[test]
fn provision_creates_root_and_marker() {
    let f = Fixture::new();
    let pod = f.t().provision("wf-abc", "key-1").unwrap();
    assert_eq!(
        pod,
        PodIdentity {
            transport: "local".into(),
            target: "wf-abc".into(),
            location: format!("{}/wf-abc", f.pods())
        }
    );
    assert!(Path::new(&format!("{}/wf-abc/root", f.pods())).is_dir());
    let marker: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/wf-abc/pod.json", f.pods())).unwrap(),
    )
    .unwrap();
    assert_eq!(marker["name"], "wf-abc");
    assert_eq!(marker["idempotency_key"], "key-1");
    assert_eq!(marker["created_at"], "2023-11-14T22:13:20Z");
    assert!(f
        .host
        .logs
        .borrow()
        .iter()
        .any(|l| l.contains("created local pod wf-abc")));
}

#[test]
fn provision_is_idempotent_per_key_and_avoids_others() {
    let f = Fixture::new();
    let a = f.t().provision("wf-abc", "key-1").unwrap();
    let again = f.t().provision("wf-abc", "key-1").unwrap();
    assert_eq!(a, again);
    let other = f.t().provision("wf-abc", "key-2").unwrap();
    assert_eq!(other.target, "wf-abc-2");
    let third = f.t().provision("wf-abc", "key-3").unwrap();
    assert_eq!(third.target, "wf-abc-3");
    assert_eq!(
        f.t().provision("wf-abc", "key-2").unwrap().target,
        "wf-abc-2"
    );
}

#[test]
fn provision_skips_a_directory_that_is_not_a_pod() {
    let f = Fixture::new();
    std::fs::create_dir_all(format!("{}/wf-abc", f.pods())).unwrap();
    assert_eq!(f.t().provision("wf-abc", "k").unwrap().target, "wf-abc-2");
}

#[test]
fn provision_refuses_bad_hints_and_missing_setting() {
    let f = Fixture::new();
    assert!(matches!(
        f.t().provision("../x", "k"),
        Err(TransportError::Invalid(_))
    ));
    let host = TestHost {
        settings: BTreeMap::new(),
        logs: RefCell::new(vec![]),
        runs: RefCell::new(0),
    };
    let err = Local::new(&host).provision("p", "k").unwrap_err();
    assert!(
        matches!(&err, TransportError::Invalid(m) if m.contains("WF_LOCAL_PODS_DIR")),
        "{err}"
    );
    assert_eq!(*host.runs.borrow(), 0, "nothing runs without a pods dir");
}

#[test]
fn provision_reports_an_unwritable_pods_dir() {
    let f = Fixture::new();
    std::fs::write(f.pods(), "a file, not a dir").unwrap();
    let err = f.t().provision("p", "k").unwrap_err();
    assert!(
        matches!(&err, TransportError::Failed(m) if m.contains("writable")),
        "{err}"
    );
}

#[test]
fn status_ready_missing_and_invalid() {
    let f = Fixture::new().with_pod("p1");
    let status = f.t().status("p1").unwrap();
    assert_eq!(status.state, PodState::Ready);
    assert!(status.detail.contains("/pods/p1"));
    assert_eq!(f.t().status("p2").unwrap().state, PodState::Missing);
    assert!(matches!(
        f.t().status("a/b"),
        Err(TransportError::Invalid(_))
    ));
    assert_eq!(f.t().parse_target("p1").unwrap(), "p1");
    assert!(f.t().parse_target("p 1").is_err());
    assert_eq!(f.t().id(), "local");
}

// ---------------------------------------------------------------- resolve / exec

#[test]
fn resolve_maps_into_the_pod_root() {
    let f = Fixture::new().with_pod("p1");
    assert_eq!(
        f.t().resolve_path("p1", "/mnt/outputs").unwrap(),
        format!("{}/p1/root/mnt/outputs", f.pods())
    );
    assert!(matches!(
        f.t().resolve_path("p1", "/mnt/../../etc"),
        Err(TransportError::Invalid(_))
    ));
    assert!(matches!(
        f.t().resolve_path("p1", "mnt"),
        Err(TransportError::Invalid(_))
    ));
    assert!(matches!(
        f.t().resolve_path("ghost", "/mnt"),
        Err(TransportError::Vanished(_))
    ));
}

#[test]
fn exec_runs_in_the_root_with_env_and_exit_code() {
    let f = Fixture::new().with_pod("p1");
    let mut spec = exec("pwd; echo \"$GREETING\" >&2; exit 3");
    spec.env = vec![("GREETING".into(), "hi there".into())];
    let r = f.t().exec("p1", &spec).unwrap();
    assert_eq!(r.stdout.trim(), format!("{}/p1/root", f.pods()));
    assert_eq!(r.stderr.trim(), "hi there");
    assert_eq!(r.exit_code, Some(3));
}

#[test]
fn exec_uses_the_resolved_cwd() {
    let f = Fixture::new().with_pod("p1");
    f.t().exec("p1", &exec("mkdir -p mnt/work")).unwrap();
    let mut spec = exec("pwd");
    spec.cwd = Some("/mnt/work".into());
    assert_eq!(
        f.t().exec("p1", &spec).unwrap().stdout.trim(),
        format!("{}/p1/root/mnt/work", f.pods())
    );
    spec.cwd = Some("/mnt/nowhere".into());
    let err = f.t().exec("p1", &spec).unwrap_err();
    assert!(
        matches!(&err, TransportError::Failed(m) if m.contains("/mnt/nowhere")),
        "{err}"
    );
}

#[test]
fn exec_on_a_missing_pod_is_vanished() {
    let f = Fixture::new();
    assert!(matches!(
        f.t().exec("ghost", &exec("true")),
        Err(TransportError::Vanished(_))
    ));
}

#[test]
fn exec_timeout_is_reported_in_the_result() {
    let f = Fixture::new().with_pod("p1");
    let mut spec = exec("echo started; sleep 20");
    spec.timeout_ms = 300;
    let r = f.t().exec("p1", &spec).unwrap();
    assert!(r.timed_out);
    assert_eq!(r.exit_code, None);
    assert_eq!(r.stdout.trim(), "started");
}

// ---------------------------------------------------------------- files

#[test]
fn put_file_creates_parents_sets_mode_and_leaves_no_temp() {
    let f = Fixture::new().with_pod("p1");
    let path = "/mnt/a b/it's $(touch pwned).env";
    f.t()
        .put_file("p1", path, b"KEY=1\n\x01raw".to_vec(), 0o600)
        .unwrap();
    let host_path = format!("{}/p1/root{path}", f.pods());
    assert_eq!(std::fs::read(&host_path).unwrap(), b"KEY=1\n\x01raw");
    let mode = std::fs::metadata(&host_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let names: Vec<String> = std::fs::read_dir(format!("{}/p1/root/mnt/a b", f.pods()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["it's $(touch pwned).env".to_string()]);
    assert!(!Path::new(&format!("{}/p1/root/pwned", f.pods())).exists());
    // Overwrite in place, new mode.
    f.t().put_file("p1", path, b"v2".to_vec(), 0o755).unwrap();
    assert_eq!(std::fs::read(&host_path).unwrap(), b"v2");
    assert_eq!(
        std::fs::metadata(&host_path).unwrap().permissions().mode() & 0o777,
        0o755
    );
}

#[test]
fn put_file_refuses_bad_paths_and_missing_pods() {
    let f = Fixture::new().with_pod("p1");
    assert!(matches!(
        f.t().put_file("p1", "/", vec![], 0o644),
        Err(TransportError::Invalid(_))
    ));
    assert!(matches!(
        f.t().put_file("p1", "/a/../../x", vec![], 0o644),
        Err(TransportError::Invalid(_))
    ));
    assert!(matches!(
        f.t().put_file("ghost", "/x", vec![], 0o644),
        Err(TransportError::Vanished(_))
    ));
}

#[test]
fn put_file_reports_a_failed_write() {
    let f = Fixture::new().with_pod("p1");
    f.t()
        .put_file("p1", "/mnt/file", b"x".to_vec(), 0o644)
        .unwrap();
    let err = f
        .t()
        .put_file("p1", "/mnt/file/child", b"x".to_vec(), 0o644)
        .unwrap_err();
    assert!(matches!(err, TransportError::Failed(_)), "{err}");
}

#[test]
fn get_file_reads_at_most_max_bytes() {
    let f = Fixture::new().with_pod("p1");
    f.t()
        .put_file(
            "p1",
            "/mnt/state.json",
            b"{\"state\":\"POD_READY\"}\n".to_vec(),
            0o644,
        )
        .unwrap();
    assert_eq!(
        f.t().get_file("p1", "/mnt/state.json", 1024).unwrap(),
        b"{\"state\":\"POD_READY\"}\n"
    );
    assert_eq!(
        f.t().get_file("p1", "/mnt/state.json", 5).unwrap(),
        b"{\"sta"
    );
    let err = f.t().get_file("p1", "/mnt/none.json", 5).unwrap_err();
    assert!(
        matches!(&err, TransportError::Failed(m) if m.contains("no such file")),
        "{err}"
    );
    assert!(matches!(
        f.t().get_file("ghost", "/x", 5),
        Err(TransportError::Vanished(_))
    ));
}

#[test]
fn fetch_command_streams_the_directory_as_tar() {
    let f = Fixture::new().with_pod("p1");
    for (path, body) in [("metrics.json", "{}"), ("_wf/stdout.log", "hello"), (".hidden", "h")] {
        f.t()
            .put_file("p1", &format!("/mnt/outputs/runs/r1/{path}"), body.as_bytes().to_vec(), 0o644)
            .unwrap();
    }
    let source = f.t().fetch_command("p1", "/mnt/outputs/runs/r1").unwrap();
    assert_eq!((source.command.program.as_str(), source.begin_after), ("sh", None));
    assert_eq!(source.command.stdin, None);
    // Run it as the host would; stdout is a tar archive naming every file (headers are ASCII).
    let ended = f.host.run(&source.command).unwrap();
    assert_eq!(ended.exit_code, Some(0), "{}", ended.stderr);
    for name in ["./metrics.json", "./_wf/stdout.log", "./.hidden", "hello"] {
        assert!(ended.stdout.contains(name), "{name} missing from the archive");
    }
    assert_eq!(f.t().fetch_ended("p1", "/mnt/outputs/runs/r1", &ended), Ok(()));
}

#[test]
fn fetch_reports_missing_dirs_clearly() {
    let f = Fixture::new().with_pod("p1");
    let source = f.t().fetch_command("p1", "/mnt/outputs/runs/nope").unwrap();
    let ended = f.host.run(&source.command).unwrap();
    let err = f.t().fetch_ended("p1", "/mnt/outputs/runs/nope", &ended).unwrap_err();
    assert!(
        matches!(&err, TransportError::Failed(m) if m.contains("no such directory") && m.contains("runs/nope")),
        "{err}"
    );
    let timed_out = CommandResult { timed_out: true, ..CommandResult::default() };
    assert!(matches!(f.t().fetch_ended("p1", "/mnt", &timed_out), Err(TransportError::Timeout(_))));
    // The pod vanishing between the two calls.
    std::fs::remove_file(format!("{}/p1/pod.json", f.pods())).unwrap();
    let ended = f.host.run(&source.command).unwrap();
    assert!(matches!(f.t().fetch_ended("p1", "/mnt", &ended), Err(TransportError::Vanished(_))));
}

// ---------------------------------------------------------------- delete

#[test]
fn delete_removes_the_pod_and_then_reports_vanished() {
    let f = Fixture::new().with_pod("p1").with_pod("p2");
    f.t().delete("p1").unwrap();
    assert!(!Path::new(&format!("{}/p1", f.pods())).exists());
    assert!(
        Path::new(&format!("{}/p2/pod.json", f.pods())).exists(),
        "other pods are untouched"
    );
    assert!(matches!(
        f.t().delete("p1"),
        Err(TransportError::Vanished(_))
    ));
    assert_eq!(f.t().status("p1").unwrap().state, PodState::Missing);
}

#[test]
fn delete_refuses_a_pod_dir_that_leads_outside() {
    let f = Fixture::new().with_pod("p1");
    let outside = f.tmp.join("precious");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(format!("{outside}/pod.json"), "{}").unwrap();
    std::fs::write(format!("{outside}/data"), "keep me").unwrap();
    std::os::unix::fs::symlink(&outside, format!("{}/evil", f.pods())).unwrap();
    let err = f.t().delete("evil").unwrap_err();
    assert!(
        matches!(&err, TransportError::Invalid(m) if m.contains("not inside")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{outside}/data")).unwrap(),
        "keep me"
    );
}

#[test]
fn delete_refuses_invalid_targets_before_running_anything() {
    let f = Fixture::new();
    assert!(matches!(
        f.t().delete(".."),
        Err(TransportError::Invalid(_))
    ));
    assert!(matches!(f.t().delete(""), Err(TransportError::Invalid(_))));
    assert_eq!(*f.host.runs.borrow(), 0);
}

#[test]
fn check_config_refuses_an_unusable_pods_dir_without_running_anything() {
    assert_eq!(Local::new(&TestHost::new("/srv/pods")).check_config(), Ok(()));
    for (pods, needle) in [("/", "pods need a directory of their own"), ("relative/dir", "is unusable")] {
        let host = TestHost::new(pods);
        let Err(TransportError::Invalid(m)) = Local::new(&host).check_config() else {
            panic!("{pods} was not refused");
        };
        assert!(m.contains(paths::PODS_DIR_SETTING) && m.contains(needle), "{m}");
        assert_eq!(*host.runs.borrow(), 0, "check-config ran a program");
    }
}
