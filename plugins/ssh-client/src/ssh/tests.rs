//! Tests of the ssh operations: real `sh`, real files, and the stand-in `ssh` of
//! [`crate::testsupport`] (which runs remote commands locally, or fails like OpenSSH). The host
//! of these tests resolves secret handles like wfhost's process runner does, so the identity
//! path can be checked to reach ssh without ever appearing in a request.

use super::*;
use wfhost_pack_sdk::transport::RunRequest;
use crate::command::{
    IDENTITY_ENV, SETTING_ACCEPT_NEW, SETTING_CONTROL_DIR, SETTING_DEFAULT_HOST,
    SETTING_IDENTITY_HANDLE, SETTING_KNOWN_HOSTS, SETTING_OPTIONS,
};
use crate::testsupport::{calls, fake_ssh, last_argv, path_with};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wfhost_pack_sdk::testing::{run, RunSpec, TempDir};

struct TestHost {
    settings: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    path: String,
    requests: RefCell<Vec<RunRequest>>,
    logs: RefCell<Vec<(Level, String)>>,
}

impl Host for TestHost {
    fn run(&self, r: &RunRequest) -> Result<CommandResult, String> {
        self.requests.borrow_mut().push(r.clone());
        if !["ssh", "scp", "sh"].contains(&r.program.as_str()) {
            return Err(format!("{} is not allowlisted", r.program));
        }
        let mut env = r.env.clone();
        for (k, handle) in &r.secret_env {
            let v = self
                .secrets
                .get(handle)
                .ok_or_else(|| format!("secret handle {handle:?} is not known to the host"))?;
            env.push((k.clone(), v.clone()));
        }
        env.push(("PATH".into(), self.path.clone()));
        Ok(run(&RunSpec {
            env,
            ..RunSpec::from_request(r)
        })
        .into())
    }
    fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).cloned()
    }
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }
}

struct Fixture {
    tmp: TempDir,
    bin: String,
    host: TestHost,
}

impl Fixture {
    fn new() -> Self {
        let tmp = TempDir::new("wfhost-ssh").unwrap();
        let bin = fake_ssh(&tmp);
        let host = TestHost {
            settings: BTreeMap::new(),
            secrets: BTreeMap::new(),
            path: path_with(&bin),
            requests: RefCell::new(Vec::new()),
            logs: RefCell::new(Vec::new()),
        };
        Fixture { tmp, bin, host }
    }
    fn set(mut self, k: &str, v: &str) -> Self {
        self.host.settings.insert(k.into(), v.into());
        self
    }
    fn t(&self) -> Ssh<'_, TestHost> {
        Ssh::new(&self.host)
    }
    fn last(&self) -> RunRequest {
        self.host.requests.borrow().last().cloned().unwrap()
    }
}

fn exec(cmd: &str) -> ExecSpec {
    ExecSpec {
        command: cmd.into(),
        cwd: None,
        env: vec![],
        timeout_ms: 20_000,
    }
}

const T: &str = "ssh://root@box:2222";

// ---------------------------------------------------------------- no-network operations

#[test]
fn id_and_parse_target() {
    let f = Fixture::new();
    assert_eq!(f.t().id(), "ssh");
    assert_eq!(f.t().parse_target(" root@gpu ").unwrap(), "root@gpu");
    assert_eq!(f.t().parse_target("ssh://u@h:22/").unwrap(), "ssh://u@h:22");
    assert!(matches!(
        f.t().parse_target("root@h;id"),
        Err(TransportError::Invalid(_))
    ));
    assert_eq!(calls(&f.bin), 0, "parse-target never connects");
}

#[test]
fn provision_refuses_and_says_what_to_do() {
    let f = Fixture::new();
    let e = f.t().provision("wf-abc", "key").unwrap_err();
    assert_eq!(
        e,
        TransportError::Failed(
            "the ssh transport cannot create pods: set LIUM_TARGET=<user@host> and use --provision skip".into()
        )
    );
    let f = Fixture::new().set(SETTING_DEFAULT_HOST, "ubuntu@gpu-7");
    let e = f.t().provision("wf-abc", "key").unwrap_err().to_string();
    assert!(e.contains("LIUM_TARGET=ubuntu@gpu-7"), "{e}");
    assert_eq!(calls(&f.bin), 0);
}

#[test]
fn delete_is_always_refused() {
    let f = Fixture::new();
    let e = f.t().delete(T).unwrap_err();
    assert!(
        matches!(&e, TransportError::Failed(m) if m.contains("never deletes hosts") && m.contains(T)),
        "{e:?}"
    );
    assert!(matches!(
        f.t().delete("bad target"),
        Err(TransportError::Invalid(_))
    ));
    assert_eq!(calls(&f.bin), 0, "delete never touches the host");
}

#[test]
fn resolve_path_is_the_identity_on_normalised_paths() {
    let f = Fixture::new();
    assert_eq!(
        f.t().resolve_path(T, "/mnt/outputs/").unwrap(),
        "/mnt/outputs"
    );
    assert_eq!(f.t().resolve_path(T, "/").unwrap(), "/");
    for bad in ["mnt", "/a/../b", "/a//b", ""] {
        assert!(
            matches!(f.t().resolve_path(T, bad), Err(TransportError::Invalid(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        f.t().resolve_path("x y", "/a"),
        Err(TransportError::Invalid(_))
    ));
}

// ---------------------------------------------------------------- status and failures

#[test]
fn status_is_ready_when_a_shell_answers() {
    let f = Fixture::new();
    let PodReport { state, detail } = f.t().status(T).unwrap();
    assert_eq!(state, PodState::Ready);
    assert!(
        detail.contains(T) && detail.contains("host name"),
        "{detail}"
    );
    let r = f.last();
    assert_eq!(r.program, "ssh");
    assert_eq!(r.stdin, None);
    assert!(r.timeout_ms <= STATUS_TIMEOUT_MS);
    let argv = last_argv(&f.bin);
    assert_eq!(&argv[..2], ["-o", "BatchMode=yes"]);
    assert!(argv.contains(&"-n".to_string()));
}

#[test]
fn unreachable_and_refusals_are_told_apart() {
    let f = Fixture::new().set(SETTING_KNOWN_HOSTS, "/w/kh");
    let e = f.t().status("root@refused").unwrap_err();
    assert!(
        matches!(&e, TransportError::Unreachable(m) if m.contains("Connection refused")),
        "{e:?}"
    );
    let e = f.t().exec("root@refused", &exec("true")).unwrap_err();
    assert!(matches!(e, TransportError::Unreachable(_)), "{e:?}");
    let e = f.t().status("root@badkey").unwrap_err();
    assert!(
        matches!(&e, TransportError::Failed(m) if m.contains("not in /w/kh") && m.contains("WF_SSH_ACCEPT_NEW=1")),
        "{e:?}"
    );
    let e = f.t().status("root@changedkey").unwrap_err();
    assert!(
        matches!(&e, TransportError::Failed(m) if m.contains("CHANGED")),
        "{e:?}"
    );
    let e = f
        .t()
        .get_file("root@denied", "/etc/hostname", 10)
        .unwrap_err();
    assert!(
        matches!(&e, TransportError::Failed(m) if m.contains("refused the login as root")),
        "{e:?}"
    );
    let e = f
        .t()
        .put_file("root@refused", "/tmp/x", b"x".to_vec(), 0o644)
        .unwrap_err();
    assert!(matches!(e, TransportError::Unreachable(_)), "{e:?}");
}

#[test]
fn a_host_that_never_answers_times_out_instead_of_hanging() {
    let f = Fixture::new();
    let t0 = Instant::now();
    let e = f
        .t()
        .exec(
            "root@slow",
            &ExecSpec {
                timeout_ms: 500,
                ..exec("true")
            },
        )
        .unwrap_err();
    assert!(
        matches!(&e, TransportError::Timeout(m) if m.contains("no answer")),
        "{e:?}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_connection_dropped_mid_command_is_unreachable() {
    let f = Fixture::new();
    let e = f
        .t()
        .exec("root@dropper", &exec("echo partial"))
        .unwrap_err();
    assert!(
        matches!(&e, TransportError::Unreachable(m) if m.contains("dropped")),
        "{e:?}"
    );
}

#[test]
fn bad_settings_fail_before_running_anything() {
    let f = Fixture::new().set(SETTING_OPTIONS, "-o StrictHostKeyChecking=no");
    assert!(matches!(f.t().status(T), Err(TransportError::Invalid(_))));
    let f = Fixture::new().set(SETTING_ACCEPT_NEW, "maybe");
    assert!(matches!(
        f.t().exec(T, &exec("true")),
        Err(TransportError::Invalid(_))
    ));
    assert_eq!(calls(&f.bin), 0);
}

#[test]
fn long_control_dirs_are_logged_once_per_call() {
    let long = format!("/{}", "c".repeat(80));
    let f = Fixture::new().set(SETTING_CONTROL_DIR, &long);
    f.t().status(T).unwrap();
    let logs = f.host.logs.borrow();
    assert!(
        logs.iter()
            .any(|(l, m)| *l == Level::Warn && m.contains("sharing is off")),
        "{logs:?}"
    );
}

// ---------------------------------------------------------------- exec

#[test]
fn exec_returns_the_commands_result_without_the_mark() {
    let f = Fixture::new();
    let r = f
        .t()
        .exec(T, &exec("echo out; echo err >&2; exit 3"))
        .unwrap();
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(r.stdout, "out\n");
    assert_eq!(r.stderr, "err\n");
    // The command's own exit 255 is not mistaken for an ssh failure.
    let r = f
        .t()
        .exec(T, &exec("echo 'Connection refused' >&2; exit 255"))
        .unwrap();
    assert_eq!(r.exit_code, Some(255));
}

#[test]
fn exec_uses_cwd_and_env_and_refuses_a_missing_cwd() {
    let f = Fixture::new();
    let dir = f.tmp.join("remote dir");
    std::fs::create_dir(&dir).unwrap();
    let spec = ExecSpec {
        command: r#"printf '%s %s' "$(pwd)" "$WF_X""#.into(),
        cwd: Some(dir.clone()),
        env: vec![("WF_X".into(), "a 'b' $c".into())],
        timeout_ms: 20_000,
    };
    let r = f.t().exec(T, &spec).unwrap();
    assert_eq!(r.stdout, format!("{dir} a 'b' $c"));
    let e = f
        .t()
        .exec(
            T,
            &ExecSpec {
                cwd: Some(f.tmp.join("gone")),
                ..exec("echo ran")
            },
        )
        .unwrap_err();
    assert!(
        matches!(&e, TransportError::Failed(m) if m.contains("does not exist") && m.contains("gone")),
        "{e:?}"
    );
}

#[test]
fn exec_closes_stdin_so_prompts_end_at_once() {
    let f = Fixture::new();
    let t0 = Instant::now();
    let r = f
        .t()
        .exec(
            T,
            &exec("printf 'password: '; read answer || { echo 'no input' >&2; exit 9; }"),
        )
        .unwrap();
    assert_eq!(r.exit_code, Some(9));
    assert_eq!(r.stderr, "no input\n");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(f.last().stdin, None);
    assert!(last_argv(&f.bin).contains(&"-n".to_string()));
}

#[test]
fn exec_timeout_comes_back_as_a_timed_out_result() {
    let f = Fixture::new();
    let r = f
        .t()
        .exec(
            T,
            &ExecSpec {
                timeout_ms: 400,
                ..exec("echo started; sleep 20")
            },
        )
        .unwrap();
    assert!(r.timed_out);
    assert_eq!(r.exit_code, None);
}

#[test]
fn a_timed_out_exec_does_not_run_on_on_the_remote() {
    // `session` detaches the remote command from the local ssh like sshd does, so killing the
    // local side at the timeout cannot stop it: only the remote limit can.
    let f = Fixture::new();
    let marker = f.tmp.join("late");
    let t0 = Instant::now();
    let r = f
        .t()
        .exec(
            "root@session",
            &ExecSpec {
                timeout_ms: 1000,
                env: vec![("M".into(), marker.clone())],
                ..exec(r#"(sleep 4; touch "$M.child") & sleep 4; touch "$M""#)
            },
        )
        .unwrap();
    assert!(r.timed_out, "{r:?}");
    let until = t0 + Duration::from_secs(6);
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    assert!(
        !std::path::Path::new(&marker).exists(),
        "the command ran on after the timeout"
    );
    assert!(
        !std::path::Path::new(&format!("{marker}.child")).exists(),
        "the command's child ran on after the timeout"
    );
}

// ---------------------------------------------------------------- files

#[test]
fn put_then_get_round_trips_with_mode_and_parents() {
    let f = Fixture::new();
    let file = f.tmp.join("out/_control/state.json");
    f.t()
        .put_file(T, &file, b"{\"state\": \"INIT\"}\n".to_vec(), 0o600)
        .unwrap();
    let req = f.last();
    assert_eq!(req.stdin.as_deref(), Some(&b"{\"state\": \"INIT\"}\n"[..]));
    assert!(
        !last_argv(&f.bin).contains(&"-n".to_string()),
        "put-file feeds stdin"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        f.t().get_file(T, &file, 1 << 20).unwrap(),
        b"{\"state\": \"INIT\"}\n"
    );
    assert_eq!(f.t().get_file(T, &file, 5).unwrap(), b"{\"sta");
    // Overwrite is atomic and complete.
    f.t().put_file(T, &file, b"new".to_vec(), 0o644).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
}

#[test]
fn get_of_a_missing_file_is_failed_and_bad_paths_are_invalid() {
    let f = Fixture::new();
    let e = f.t().get_file(T, &f.tmp.join("none.json"), 10).unwrap_err();
    assert!(
        matches!(&e, TransportError::Failed(m) if m.contains("no such file")),
        "{e:?}"
    );
    assert!(matches!(
        f.t().get_file(T, "rel", 1),
        Err(TransportError::Invalid(_))
    ));
    assert!(matches!(
        f.t().put_file(T, "/", vec![], 0o644),
        Err(TransportError::Invalid(_))
    ));
    assert!(matches!(
        f.t().put_file(T, "/a/../etc/passwd", vec![], 0o644),
        Err(TransportError::Invalid(_))
    ));
}

#[test]
fn fetch_streams_the_tree_and_judges_how_ssh_ended() {
    let f = Fixture::new();
    let src = f.tmp.join("runs/r1");
    std::fs::create_dir_all(format!("{src}/_wf")).unwrap();
    std::fs::write(format!("{src}/metrics.json"), "{\"loss\": 1}").unwrap();
    std::fs::write(format!("{src}/_wf/exit_code"), "0\n").unwrap();
    let fetch = |target: &str, dir: &str| {
        let source = f.t().fetch_command(target, dir)?;
        assert_eq!(source.command.stdin, None);
        let ended = f.host.run(&source.command).expect("runs");
        f.t().fetch_ended(target, dir, &CommandResult { stdout: String::new(), ..ended.clone() }).map(|()| ended.stdout)
    };
    let archive = fetch(T, &src).unwrap();
    for name in ["./metrics.json", "./_wf/exit_code", "{\"loss\": 1}"] {
        assert!(archive.contains(name), "{name} missing from the stream");
    }
    let e = fetch(T, &f.tmp.join("runs/none")).unwrap_err();
    assert!(matches!(&e, TransportError::Failed(m) if m.contains("no such directory")), "{e:?}");
    let e = fetch("root@refused", &src).unwrap_err();
    assert!(matches!(e, TransportError::Unreachable(_)), "{e:?}");
    let e = f.t().fetch_command(T, "relative/dir").unwrap_err();
    assert!(matches!(e, TransportError::Invalid(_)), "{e:?}");
}

// ---------------------------------------------------------------- the identity secret

#[test]
fn the_identity_reaches_ssh_only_through_the_secret_env() {
    let secret = "/very/secret/keys/id_ed25519";
    let mut f = Fixture::new().set(SETTING_IDENTITY_HANDLE, "ssh_identity");
    f.host.secrets.insert("ssh_identity".into(), secret.into());
    f.t().status(T).unwrap();
    let src = f.tmp.join("s");
    std::fs::create_dir(&src).unwrap();
    let fetch = f.t().fetch_command(T, &src).unwrap();
    f.host.run(&fetch.command).unwrap();
    f.t()
        .put_file(T, &f.tmp.join("p"), b"x".to_vec(), 0o644)
        .unwrap();
    f.t().exec(T, &exec("true")).unwrap();
    let argv = last_argv(&f.bin);
    assert_eq!(&argv[..2], ["-i", secret], "{argv:?}");
    assert!(argv.contains(&"IdentitiesOnly=yes".to_string()));
    for r in f.host.requests.borrow().iter() {
        assert_eq!(r.program, "sh");
        assert_eq!(
            r.secret_env,
            [(IDENTITY_ENV.to_string(), "ssh_identity".to_string())]
        );
        assert!(r.env.is_empty());
        assert!(
            !r.args.iter().any(|a| a.contains("very/secret")),
            "the identity path leaked into a request: {:?}",
            r.args
        );
    }
    for (_, m) in f.host.logs.borrow().iter() {
        assert!(!m.contains("very/secret"), "{m}");
    }
}

#[test]
fn an_unknown_secret_handle_is_a_clear_failure() {
    let f = Fixture::new().set(SETTING_IDENTITY_HANDLE, "ssh_identity");
    let e = f.t().status(T).unwrap_err();
    assert!(
        matches!(&e, TransportError::Failed(m) if m.contains("not known to the host") && m.contains("WF_SSH_IDENTITY")),
        "{e:?}"
    );
}

#[test]
fn check_config_refuses_what_a_call_would_refuse_without_running_anything() {
    assert_eq!(Fixture::new().t().check_config(), Ok(()));
    let ok = Fixture::new()
        .set(SETTING_OPTIONS, "-o ConnectTimeout=3 -C")
        .set(SETTING_DEFAULT_HOST, "me@gpu-1");
    assert_eq!(ok.t().check_config(), Ok(()));
    let cases = [
        (SETTING_OPTIONS, "-o StrictHostKeyChecking=no", "StrictHostKeyChecking=no"),
        (SETTING_OPTIONS, "-t", "only -o, -J"),
        (SETTING_ACCEPT_NEW, "yes", "must be 0 or 1"),
        (SETTING_DEFAULT_HOST, "-oProxyCommand=x", "OPS_DEFAULT_HOST"),
    ];
    for (key, value, needle) in cases {
        let f = Fixture::new().set(key, value);
        let Err(TransportError::Invalid(m)) = f.t().check_config() else {
            panic!("{key}={value} was not refused as invalid");
        };
        assert!(m.contains(key) && m.contains(needle), "{key}={value}: {m}");
        assert!(f.host.requests.borrow().is_empty(), "check-config ran a program");
    }
}
