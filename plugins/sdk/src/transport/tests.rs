//! Tests of the transport glue: `export_transport!` expanded over a stand-in for the modules
//! wit-bindgen generates for world `transport-plugin` (same module paths, names and signatures;
//! the imports record what they are given and answer what the test sets), with a probe
//! transport that passes everything it receives through its [`Host`].

use super::*;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The stand-in bindings (`types`, `log` and `settings` from `crate::stand_in`), and the glue
/// expanded over them (also the conversions of `record_conversions!`, which
/// `crate::records::tests` checks).
pub(crate) mod component {
    pub mod wfhost {
        pub mod plugin {
            crate::stand_in::shared_modules!(crate::transport::tests::IMPORTS);

            pub mod process {
                use super::types::{CommandResult, Kv};

                #[derive(Debug, Clone, PartialEq, Eq)]
                pub struct RunRequest {
                    pub program: String,
                    pub args: Vec<String>,
                    pub cwd: Option<String>,
                    pub env: Vec<Kv>,
                    pub secret_env: Vec<Kv>,
                    pub stdin: Option<Vec<u8>>,
                    pub timeout_ms: u64,
                }

                pub fn run(request: &RunRequest) -> Result<CommandResult, String> {
                    crate::transport::tests::IMPORTS.with(|i| {
                        let mut i = i.borrow_mut();
                        i.runs.push(request.clone());
                        i.answer.clone()
                    })
                }
            }

            pub mod http {
                use super::types::Kv;

                #[derive(Debug, Clone, Copy, PartialEq, Eq)]
                pub enum Method {
                    Get,
                    Head,
                    Post,
                    Put,
                    Patch,
                    Delete,
                }

                #[derive(Debug, Clone, PartialEq, Eq)]
                pub struct SecretHeader {
                    pub name: String,
                    pub handle: String,
                    pub prefix: String,
                }

                #[derive(Debug, Clone, PartialEq, Eq)]
                pub struct Request {
                    pub method: Method,
                    pub url: String,
                    pub headers: Vec<Kv>,
                    pub secret_headers: Vec<SecretHeader>,
                    pub body: Option<Vec<u8>>,
                    pub timeout_ms: u64,
                    pub side_effect: bool,
                    pub idempotency_key: Option<String>,
                }

                #[derive(Debug, Clone, PartialEq, Eq)]
                pub struct Response {
                    pub status: u16,
                    pub headers: Vec<Kv>,
                    pub body: Vec<u8>,
                }

                // The probe sees some of the errors only.
                #[allow(dead_code)]
                #[derive(Debug, Clone, PartialEq, Eq)]
                pub enum HttpError {
                    Refused(String),
                    Unreachable(String),
                    Timeout(String),
                    TooLarge(String),
                    Failed(String),
                }

                /// Answers with the request echoed: the URL as the body, its headers back.
                pub fn send(r: &Request) -> Result<Response, HttpError> {
                    crate::transport::tests::IMPORTS.with(|i| i.borrow_mut().http.push(r.clone()));
                    if r.url.contains("refuse") {
                        return Err(HttpError::Refused(format!("{} is not declared", r.url)));
                    }
                    Ok(Response { status: 201, headers: r.headers.clone(), body: r.url.clone().into_bytes() })
                }
            }

            pub mod memo {
                pub fn get(key: &str) -> Option<String> {
                    crate::transport::tests::IMPORTS.with(|i| i.borrow().memo.get(key).cloned())
                }

                pub fn set(key: &str, value: &str) -> Result<(), String> {
                    if value.len() > 8 {
                        return Err("value too long".into());
                    }
                    crate::transport::tests::IMPORTS
                        .with(|i| i.borrow_mut().memo.insert(key.into(), value.into()));
                    Ok(())
                }
            }
        }
    }

    pub mod exports {
        pub mod wfhost {
            pub mod plugin {
                pub mod transport {
                    use super::super::super::super::wfhost::plugin::process::RunRequest;
                    use super::super::super::super::wfhost::plugin::types::{
                        CommandResult, Kv, PodIdentity, PodReport,
                    };

                    #[derive(Debug, Clone, PartialEq, Eq)]
                    pub struct FetchSource {
                        pub command: RunRequest,
                        pub begin_after: Option<String>,
                    }

                    #[derive(Debug, Clone, PartialEq, Eq)]
                    pub enum TransportError {
                        Unreachable(String),
                        Vanished(String),
                        Timeout(String),
                        Failed(String),
                        Invalid(String),
                    }

                    #[derive(Debug, Clone, PartialEq, Eq)]
                    pub struct ExecSpec {
                        pub command: String,
                        pub cwd: Option<String>,
                        pub env: Vec<Kv>,
                        pub timeout_ms: u64,
                    }

                    pub trait Guest {
                        fn id() -> String;
                        fn check_config() -> Result<(), TransportError>;
                        fn parse_target(target: String) -> Result<String, TransportError>;
                        fn provision(
                            name_hint: String,
                            idempotency_key: String,
                        ) -> Result<PodIdentity, TransportError>;
                        fn status(target: String) -> Result<PodReport, TransportError>;
                        fn resolve_path(
                            target: String,
                            path: String,
                        ) -> Result<String, TransportError>;
                        fn exec(
                            target: String,
                            spec: ExecSpec,
                        ) -> Result<CommandResult, TransportError>;
                        fn put_file(
                            target: String,
                            path: String,
                            contents: Vec<u8>,
                            mode: u32,
                        ) -> Result<(), TransportError>;
                        fn get_file(
                            target: String,
                            path: String,
                            max_bytes: u64,
                        ) -> Result<Vec<u8>, TransportError>;
                        fn fetch_command(
                            target: String,
                            remote_dir: String,
                        ) -> Result<FetchSource, TransportError>;
                        fn fetch_ended(
                            target: String,
                            remote_dir: String,
                            ended: CommandResult,
                        ) -> Result<(), TransportError>;
                        fn delete(target: String) -> Result<(), TransportError>;
                    }
                }
            }
        }
    }

    crate::export_transport!(pub(super) Component, super::Probe::new);
}

use component::exports::wfhost::plugin::transport::{
    ExecSpec as WitExecSpec, Guest, TransportError as WitError,
};
use component::wfhost::plugin::log::Level as WitLevel;
use component::wfhost::plugin::process::RunRequest as WitRunRequest;
use component::wfhost::plugin::types::{
    CommandResult as WitResult, Kv as WitKv, PodIdentity as WitPod, PodState as WitState,
    PodReport as WitStatus,
};
use component::Component;

/// What the stand-in imports saw, and what `process.run` answers.
struct Imports {
    runs: Vec<WitRunRequest>,
    logs: Vec<(WitLevel, String)>,
    settings: BTreeMap<String, String>,
    answer: Result<WitResult, String>,
    http: Vec<component::wfhost::plugin::http::Request>,
    memo: BTreeMap<String, String>,
}

thread_local! {
    static IMPORTS: RefCell<Imports> = RefCell::new(Imports {
        runs: Vec::new(),
        logs: Vec::new(),
        settings: BTreeMap::new(),
        answer: Err("no answer set".into()),
        http: Vec::new(),
        memo: BTreeMap::new(),
    });
}

fn answer(a: Result<WitResult, String>) {
    IMPORTS.with(|i| i.borrow_mut().answer = a);
}

fn setting(key: &str, value: &str) {
    IMPORTS.with(|i| {
        i.borrow_mut()
            .settings
            .insert(key.to_string(), value.to_string())
    });
}

fn runs() -> Vec<WitRunRequest> {
    IMPORTS.with(|i| i.borrow().runs.clone())
}

fn logs() -> Vec<(WitLevel, String)> {
    IMPORTS.with(|i| i.borrow().logs.clone())
}

fn kv(key: &str, value: &str) -> WitKv {
    WitKv {
        key: key.into(),
        value: value.into(),
    }
}

fn wit_result() -> WitResult {
    WitResult {
        exit_code: Some(7),
        stdout: "out".into(),
        stderr: "err".into(),
        timed_out: true,
        duration_ms: 1234,
        truncated: true,
    }
}

/// A transport that hands what it is given to its host, and names its errors after the target.
struct Probe<'h, H: Host> {
    host: &'h H,
}

impl<'h, H: Host> Probe<'h, H> {
    fn new(host: &'h H) -> Self {
        Probe { host }
    }

    fn run(&self, request: RunRequest) -> Result<CommandResult, TransportError> {
        self.host.run(&request).map_err(TransportError::Failed)
    }
}

/// The error a target names: `unreachable:msg`, `vanished:msg`, ...
fn named_error(target: &str) -> Option<TransportError> {
    let (kind, msg) = target.split_once(':')?;
    let msg = msg.to_string();
    Some(match kind {
        "unreachable" => TransportError::Unreachable(msg),
        "vanished" => TransportError::Vanished(msg),
        "timeout" => TransportError::Timeout(msg),
        "failed" => TransportError::Failed(msg),
        "invalid" => TransportError::Invalid(msg),
        _ => return None,
    })
}

impl<H: Host> Transport for Probe<'_, H> {
    fn id(&self) -> String {
        "probe".into()
    }

    fn check_config(&self) -> Result<(), TransportError> {
        match self.host.setting("BASE") {
            Some(base) if !base.starts_with('/') => Err(TransportError::Invalid(format!(
                "BASE={base:?} is refused: it must be an absolute path"
            ))),
            _ => Ok(()),
        }
    }

    fn parse_target(&self, target: &str) -> Result<String, TransportError> {
        match named_error(target) {
            Some(e) => Err(e),
            None => Ok(target.trim().to_string()),
        }
    }

    fn provision(
        &self,
        name_hint: &str,
        idempotency_key: &str,
    ) -> Result<PodIdentity, TransportError> {
        let base = self
            .host
            .setting("BASE")
            .ok_or_else(|| TransportError::Invalid("BASE is not set".into()))?;
        Ok(PodIdentity {
            transport: self.id(),
            target: name_hint.to_string(),
            location: format!("{base}/{idempotency_key}"),
        })
    }

    fn status(&self, target: &str) -> Result<PodReport, TransportError> {
        let state = match target {
            "starting" => PodState::Starting,
            "stopped" => PodState::Stopped,
            "missing" => PodState::Missing,
            _ => PodState::Ready,
        };
        self.parse_target(target).map(|t| PodReport {
            state,
            detail: format!("{t} is fine"),
        })
    }

    fn resolve_path(&self, target: &str, path: &str) -> Result<String, TransportError> {
        self.parse_target(target)
            .map(|t| format!("/pods/{t}{path}"))
    }

    fn exec(&self, target: &str, spec: &ExecSpec) -> Result<CommandResult, TransportError> {
        if let Some(url) = spec.command.strip_prefix("http ") {
            let request = HttpRequest {
                method: HttpMethod::Post,
                url: url.to_string(),
                headers: spec.env.clone(),
                secret_headers: vec![SecretHeader {
                    name: "Authorization".into(),
                    handle: "api_key".into(),
                    prefix: "Bearer ".into(),
                }],
                body: Some(b"{}".to_vec()),
                timeout_ms: spec.timeout_ms,
                side_effect: true,
                idempotency_key: Some(target.to_string()),
            };
            return match self.host.http(&request) {
                Ok(r) => Ok(CommandResult {
                    exit_code: Some(i32::from(r.status)),
                    stdout: String::from_utf8_lossy(&r.body).into_owned(),
                    stderr: format!("{:?}", r.headers),
                    ..CommandResult::default()
                }),
                Err(e) => Err(TransportError::Failed(e.to_string())),
            };
        }
        if let Some(rest) = spec.command.strip_prefix("memo ") {
            let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
            let set = self.host.memo_set(key, value);
            return Ok(CommandResult {
                stdout: format!("{:?} {:?}", set, self.host.memo_get(key)),
                ..CommandResult::default()
            });
        }
        self.run(RunRequest {
            program: "sh".into(),
            args: vec!["-c".into(), spec.command.clone(), target.into()],
            cwd: spec.cwd.clone(),
            env: spec.env.clone(),
            secret_env: vec![("KEY_FILE".into(), "ssh-key".into())],
            stdin: None,
            timeout_ms: spec.timeout_ms,
        })
    }

    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), TransportError> {
        self.run(RunRequest {
            program: "put".into(),
            args: vec![target.into(), path.into(), format!("{mode:o}")],
            stdin: Some(contents),
            ..RunRequest::default()
        })
        .map(|_| ())
    }

    fn get_file(
        &self,
        target: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, TransportError> {
        self.run(RunRequest {
            program: "get".into(),
            args: vec![target.into(), path.into(), max_bytes.to_string()],
            ..RunRequest::default()
        })
        .map(|r| r.stdout.into_bytes())
    }

    fn fetch_command(&self, target: &str, remote_dir: &str) -> Result<FetchSource, TransportError> {
        self.parse_target(target)?;
        Ok(FetchSource {
            command: RunRequest {
                program: "tar".into(),
                args: vec!["-cf".into(), "-".into(), "-C".into(), remote_dir.into(), ".".into()],
                secret_env: vec![("KEY_FILE".into(), "ssh-key".into())],
                timeout_ms: 777,
                ..RunRequest::default()
            },
            begin_after: Some("begin".into()),
        })
    }

    fn fetch_ended(&self, target: &str, remote_dir: &str, ended: &CommandResult) -> Result<(), TransportError> {
        self.parse_target(target)?;
        match ended.exit_code {
            Some(0) => Ok(()),
            code => Err(TransportError::Failed(format!("{remote_dir}: exit {code:?}: {}", ended.stderr))),
        }
    }

    fn delete(&self, target: &str) -> Result<(), TransportError> {
        for (level, word) in [
            (Level::Debug, "debug"),
            (Level::Info, "info"),
            (Level::Warn, "warn"),
            (Level::Error, "error"),
        ] {
            self.host.log(level, &format!("{word} {target}"));
        }
        Err(TransportError::Vanished(format!("{target} is gone")))
    }
}

#[test]
fn exec_carries_every_field_to_process_run_and_back() {
    answer(Ok(wit_result()));
    let got = Component::exec(
        "pod-1".into(),
        WitExecSpec {
            command: "echo hi".into(),
            cwd: Some("/work".into()),
            env: vec![kv("A", "1"), kv("B", "two words")],
            timeout_ms: 4321,
        },
    );
    assert_eq!(got, Ok(wit_result()));
    assert_eq!(
        runs(),
        vec![WitRunRequest {
            program: "sh".into(),
            args: vec!["-c".into(), "echo hi".into(), "pod-1".into()],
            cwd: Some("/work".into()),
            env: vec![kv("A", "1"), kv("B", "two words")],
            secret_env: vec![kv("KEY_FILE", "ssh-key")],
            stdin: None,
            timeout_ms: 4321,
        }]
    );
}

#[test]
fn a_program_that_cannot_start_reaches_the_transport() {
    answer(Err("scp is not allowlisted".into()));
    let got = Component::get_file("pod".into(), "/f".into(), 10);
    assert_eq!(got, Err(WitError::Failed("scp is not allowlisted".into())));
}

#[test]
fn put_file_passes_bytes_and_mode_and_get_file_returns_stdout() {
    answer(Ok(wit_result()));
    assert_eq!(
        Component::put_file("p".into(), "/a b".into(), vec![0, 255, 10], 0o640),
        Ok(())
    );
    assert_eq!(
        Component::get_file("p".into(), "/a b".into(), 99),
        Ok(b"out".to_vec())
    );
    let runs = runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].args, vec!["p", "/a b", "640"]);
    assert_eq!(runs[0].stdin, Some(vec![0, 255, 10]));
    assert_eq!(runs[1].args, vec!["p", "/a b", "99"]);
    assert_eq!(runs[1].stdin, None);
}

#[test]
fn every_error_keeps_its_variant_and_message() {
    let cases = [
        (
            "unreachable:no route",
            WitError::Unreachable("no route".into()),
        ),
        ("vanished:gone", WitError::Vanished("gone".into())),
        ("timeout:30 s", WitError::Timeout("30 s".into())),
        ("failed:exit 2", WitError::Failed("exit 2".into())),
        ("invalid:bad name", WitError::Invalid("bad name".into())),
    ];
    for (target, want) in cases {
        assert_eq!(Component::status(target.into()), Err(want.clone()));
        assert_eq!(Component::parse_target(target.into()), Err(want.clone()));
        assert_eq!(
            Component::resolve_path(target.into(), "/x".into()),
            Err(want.clone())
        );
        assert_eq!(
            Component::fetch_command(target.into(), "/r".into()),
            Err(want.clone())
        );
        assert_eq!(
            Component::fetch_ended(target.into(), "/r".into(), wit_result()),
            Err(want)
        );
    }
}

#[test]
fn answers_pass_through_unchanged() {
    assert_eq!(Component::id(), "probe");
    assert_eq!(Component::parse_target(" box ".into()), Ok("box".into()));
    let status = |target: &str, state| {
        assert_eq!(
            Component::status(target.into()),
            Ok(WitStatus {
                state,
                detail: format!("{target} is fine"),
            })
        );
    };
    status("box", WitState::Ready);
    status("starting", WitState::Starting);
    status("stopped", WitState::Stopped);
    status("missing", WitState::Missing);
    assert_eq!(
        Component::resolve_path("box".into(), "/mnt/out".into()),
        Ok("/pods/box/mnt/out".into())
    );
}

#[test]
fn provision_reads_settings_and_returns_the_identity() {
    assert_eq!(
        Component::provision("wf-1".into(), "k".into()),
        Err(WitError::Invalid("BASE is not set".into()))
    );
    setting("BASE", "/srv/pods");
    assert_eq!(
        Component::provision("wf-1".into(), "k".into()),
        Ok(WitPod {
            transport: "probe".into(),
            target: "wf-1".into(),
            location: "/srv/pods/k".into(),
        })
    );
}

#[test]
fn every_log_level_reaches_log_emit() {
    assert_eq!(
        Component::delete("box".into()),
        Err(WitError::Vanished("box is gone".into()))
    );
    assert_eq!(
        logs(),
        vec![
            (WitLevel::Debug, "debug box".to_string()),
            (WitLevel::Info, "info box".to_string()),
            (WitLevel::Warn, "warn box".to_string()),
            (WitLevel::Error, "error box".to_string()),
        ]
    );
}

#[test]
fn errors_display_as_kind_and_message() {
    assert_eq!(
        TransportError::Vanished("pod wf-1 is gone".into()).to_string(),
        "vanished: pod wf-1 is gone"
    );
    assert_eq!(
        TransportError::Invalid("x".into()).to_string(),
        "invalid: x"
    );
}

#[test]
fn default_clock_is_the_system_clock() {
    struct Quiet;
    impl Host for Quiet {
        fn run(&self, _: &RunRequest) -> Result<CommandResult, String> {
            Err("no processes here".into())
        }
        fn setting(&self, _: &str) -> Option<String> {
            None
        }
        fn log(&self, _: Level, _: &str) {}
    }
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap();
    let now = Quiet.now_secs();
    assert!(
        (before..=before + 5).contains(&now),
        "{now} is not within 5 s after {before}"
    );
}

#[test]
fn check_config_reads_settings_and_keeps_the_refusal() {
    assert_eq!(Component::check_config(), Ok(()));
    setting("BASE", "pods");
    assert_eq!(
        Component::check_config(),
        Err(WitError::Invalid(
            "BASE=\"pods\" is refused: it must be an absolute path".into()
        ))
    );
    setting("BASE", "/srv/pods");
    assert_eq!(Component::check_config(), Ok(()));
}

#[test]
fn http_requests_and_the_memo_cross_the_glue_field_for_field() {
    let spec = |command: &str| WitExecSpec {
        command: command.into(),
        cwd: None,
        env: vec![kv("Accept", "application/json")],
        timeout_ms: 2500,
    };
    let got = Component::exec("pod-1".into(), spec("http https://api.example/pods")).unwrap();
    assert_eq!((got.exit_code, got.stdout.as_str()), (Some(201), "https://api.example/pods"));
    assert!(got.stderr.contains("Accept"), "{}", got.stderr);
    let sent = IMPORTS.with(|i| i.borrow().http.clone());
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(r.method, component::wfhost::plugin::http::Method::Post);
    assert_eq!((r.url.as_str(), r.timeout_ms), ("https://api.example/pods", 2500));
    assert_eq!(r.headers, vec![kv("Accept", "application/json")]);
    assert_eq!(r.secret_headers[0].name, "Authorization");
    assert_eq!((r.secret_headers[0].handle.as_str(), r.secret_headers[0].prefix.as_str()), ("api_key", "Bearer "));
    assert_eq!((r.body.as_deref(), r.idempotency_key.as_deref()), (Some(&b"{}"[..]), Some("pod-1")));
    assert!(r.side_effect);
    let refused = Component::exec("pod-1".into(), spec("http https://refuse.example/")).unwrap_err();
    assert_eq!(refused, WitError::Failed("refused: https://refuse.example/ is not declared".into()));

    let memo = Component::exec("pod-1".into(), spec("memo endpoint=10.0.0.5:2222")).unwrap();
    assert_eq!(memo.stdout, "Err(\"value too long\") None");
    let memo = Component::exec("pod-1".into(), spec("memo port=2222")).unwrap();
    assert_eq!(memo.stdout, "Ok(()) Some(\"2222\")");
}

#[test]
fn fetch_command_and_fetch_ended_cross_the_glue_field_for_field() {
    let got = Component::fetch_command("pod".into(), "/runs/r1".into()).expect("a source");
    assert_eq!(got.begin_after.as_deref(), Some("begin"));
    assert_eq!(
        got.command,
        WitRunRequest {
            program: "tar".into(),
            args: vec!["-cf".into(), "-".into(), "-C".into(), "/runs/r1".into(), ".".into()],
            cwd: None,
            env: vec![],
            secret_env: vec![kv("KEY_FILE", "ssh-key")],
            stdin: None,
            timeout_ms: 777,
        }
    );
    let mut ended = wit_result();
    ended.exit_code = Some(0);
    assert_eq!(Component::fetch_ended("pod".into(), "/runs/r1".into(), ended.clone()), Ok(()));
    ended.exit_code = Some(2);
    ended.stderr = "tar: cannot open".into();
    assert_eq!(
        Component::fetch_ended("pod".into(), "/runs/r1".into(), ended),
        Err(WitError::Failed("/runs/r1: exit Some(2): tar: cannot open".into()))
    );
}
