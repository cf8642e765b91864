//! Tests of the executor glue: `export_executor!` expanded over a stand-in for the modules
//! wit-bindgen generates for world `executor` (`types`, `log` and `settings` from
//! `crate::stand_in`; `gateway` and the `phase` export here, recording what they are given and
//! answering fixed values), with an executor that passes everything it receives through its
//! [`Host`] and reports it as facts.

use super::*;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The stand-in bindings, and the glue expanded over them.
mod component {
    pub mod wfhost {
        pub mod plugin {
            crate::stand_in::shared_modules!(crate::executor::tests::IMPORTS);

            // The probe sees some of the errors only.
            #[allow(dead_code)]
            pub mod gateway {
                use super::types::{
                    ActionClass, Artifact, CommandResult, Kv, PodIdentity, PodState, PodReport,
                };

                crate::executor::gateway_records!();

                fn called(what: String) {
                    crate::executor::tests::CALLS.with(|c| c.borrow_mut().push(what));
                }

                pub fn bound_target() -> Option<String> {
                    Some("pod-1".into())
                }
                pub fn provision(hint: &str) -> Result<PodIdentity, GatewayError> {
                    called(format!("provision {hint}"));
                    Err(GatewayError::Refused("no consent".into()))
                }
                pub fn pod_status(target: &str) -> Result<PodReport, GatewayError> {
                    called(format!("pod-status {target}"));
                    Ok(PodReport { state: PodState::Starting, detail: "booting".into() })
                }
                pub fn resolve_path(target: &str, path: &str) -> Result<String, GatewayError> {
                    Ok(format!("/pods/{target}{path}"))
                }
                pub fn exec(r: &ExecRequest) -> Result<CommandResult, GatewayError> {
                    called(format!("exec {:?} {:?} {:?}", r.command, r.class, r.env));
                    Ok(CommandResult {
                        exit_code: Some(0),
                        stdout: "hi".into(),
                        stderr: String::new(),
                        timed_out: false,
                        duration_ms: 3,
                        truncated: false,
                    })
                }
                pub fn put_file(_: &str, path: &str, c: &[u8], mode: u32) -> Result<(), GatewayError> {
                    called(format!("put-file {path} {} {mode:o}", c.len()));
                    Ok(())
                }
                pub fn get_file(_: &str, _: &str, max: u64) -> Result<Vec<u8>, GatewayError> {
                    Ok(vec![b'x'; max as usize])
                }
                pub fn fetch_dir(_: &str, remote: &str, rel: &str) -> Result<Vec<Artifact>, GatewayError> {
                    Ok(vec![Artifact {
                        name: format!("{rel}/a"),
                        path: remote.into(),
                        sha256: Some("ab".into()),
                    }])
                }
                pub fn delete_pod(target: &str) -> Result<(), GatewayError> {
                    Err(GatewayError::Vanished(format!("{target} is gone")))
                }
            }
        }
    }

    pub mod exports {
        pub mod wfhost {
            pub mod plugin {
                pub mod phase {
                    use super::super::super::super::wfhost::plugin::types::{
                        FlowFlags, Kv, PhaseOutcome,
                    };

                    #[derive(Debug, Clone, PartialEq, Eq)]
                    pub struct PhaseContext {
                        pub flow_id: String,
                        pub phase: String,
                        pub flow_flags: FlowFlags,
                        pub config: Vec<Kv>,
                        pub target: Option<String>,
                        pub fsm_state: String,
                        pub inputs: Vec<Kv>,
                    }

                    pub trait Guest {
                        fn phases() -> Vec<String>;
                        fn run_phase(context: PhaseContext) -> PhaseOutcome;
                    }
                }
            }
        }
    }

    crate::export_executor!(pub(super) Component, super::Probe::new);
}

use component::exports::wfhost::plugin::phase::{Guest, PhaseContext as WitContext};
use component::wfhost::plugin::types::{
    FetchMode as WitFetch, FlowFlags as WitFlags, Kv as WitKv, PhaseStatus as WitPhaseStatus,
    ProvisionMode, SweepMode, TeardownMode,
};
use component::Component;

/// What the stand-in `log` saw and `settings` answers.
struct Imports {
    logs: Vec<(component::wfhost::plugin::log::Level, String)>,
    settings: BTreeMap<String, String>,
}

thread_local! {
    static CALLS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static IMPORTS: RefCell<Imports> = const {
        RefCell::new(Imports { logs: Vec::new(), settings: BTreeMap::new() })
    };
}

/// An executor that calls every host method and reports what came back.
struct Probe<'h, H: Host> {
    host: &'h H,
}

impl<'h, H: Host> Probe<'h, H> {
    fn new(host: &'h H) -> Self {
        Probe { host }
    }
}

impl<H: Host> Executor for Probe<'_, H> {
    fn phases(&self) -> Vec<String> {
        vec!["P30".into(), "P80".into()]
    }

    fn run_phase(&self, ctx: &PhaseContext) -> PhaseOutcome {
        let h = self.host;
        h.log(Level::Warn, &format!("running {}", ctx.phase));
        let target = h.bound_target().unwrap_or_default();
        let mut o = PhaseOutcome::new(&ctx.phase, PhaseStatus::Fail, 503, "probed");
        let status = h.pod_status(&target).map(|s| (s.state, s.detail));
        let exec = h.exec(&ExecRequest {
            target: target.clone(),
            command: "echo hi".into(),
            cwd: None,
            env: vec![("A".into(), "1".into())],
            timeout_ms: 10,
            class: ActionClass::WriteExternalSideEffect,
            idempotency_key: None,
        });
        let fetched = h.fetch_dir(&target, "/out/r1", "r1").unwrap_or_default();
        let facts = [
            ("fetch", ctx.flow_flags.fetch.to_string()),
            ("teardown", ctx.flow_flags.teardown.to_string()),
            ("wait", ctx.flow_flags.wait.to_string()),
            ("status", format!("{status:?}")),
            ("stdout", exec.map(|r| r.stdout).unwrap_or_default()),
            ("provision", format!("{:?}", h.provision("wf-1").err())),
            ("delete", h.delete_pod(&target).unwrap_err().to_string()),
            ("put", format!("{:?}", h.put_file(&target, "/f", b"abc", 0o640))),
            ("get", format!("{:?}", h.get_file(&target, "/f", 2))),
            ("resolve", h.resolve_path(&target, "/x").unwrap_or_default()),
            ("input", ctx.input("manifest").unwrap_or("-").to_string()),
            ("config", ctx.config_or("K", "dflt").to_string()),
            ("setting", h.setting("S").unwrap_or_default()),
        ];
        o.facts = facts.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        o.artifacts = fetched;
        o.details_json = Some("{}".into());
        o
    }
}

fn context(fetch: WitFetch) -> WitContext {
    WitContext {
        flow_id: "f".into(),
        phase: "P80".into(),
        flow_flags: WitFlags {
            provision: ProvisionMode::Skip,
            sweep: SweepMode::Skip,
            wait: true,
            fetch,
            teardown: TeardownMode::Delete,
            yes: false,
        },
        config: vec![WitKv { key: "K".into(), value: " v ".into() }],
        target: Some("pod-1".into()),
        fsm_state: "INIT".into(),
        inputs: vec![WitKv { key: "manifest".into(), value: "a,b\n".into() }],
    }
}

#[test]
fn the_context_arrives_typed_and_the_outcome_returns_field_for_field() {
    CALLS.with(|c| c.borrow_mut().clear());
    IMPORTS.with(|i| i.borrow_mut().settings.insert("S".into(), "from host".into()));
    assert_eq!(Component::phases(), ["P30", "P80"]);
    let o = Component::run_phase(context(WitFetch::Run("r1".into())));
    assert_eq!((o.phase.as_str(), o.status, o.code), ("P80", WitPhaseStatus::Fail, 503));
    let fact = |k: &str| o.facts.iter().find(|kv| kv.key == k).map(|kv| kv.value.clone());
    assert_eq!(fact("fetch").as_deref(), Some("run:r1"));
    assert_eq!(fact("teardown").as_deref(), Some("delete"));
    assert_eq!(fact("wait").as_deref(), Some("true"));
    assert_eq!(fact("status").as_deref(), Some("Ok((Starting, \"booting\"))"));
    assert_eq!(fact("stdout").as_deref(), Some("hi"));
    assert_eq!(fact("provision").as_deref(), Some("Some(Refused(\"no consent\"))"));
    assert_eq!(fact("delete").as_deref(), Some("vanished: pod-1 is gone"));
    assert_eq!(fact("put").as_deref(), Some("Ok(())"));
    assert_eq!(fact("get").as_deref(), Some("Ok([120, 120])"));
    assert_eq!(fact("resolve").as_deref(), Some("/pods/pod-1/x"));
    assert_eq!(fact("input").as_deref(), Some("a,b\n"));
    assert_eq!(fact("config").as_deref(), Some("v"));
    assert_eq!(fact("setting").as_deref(), Some("from host"));
    let logs = IMPORTS.with(|i| i.borrow().logs.clone());
    assert_eq!(logs, [(component::wfhost::plugin::log::Level::Warn, "running P80".to_string())]);
    assert_eq!(o.artifacts.len(), 1);
    assert_eq!((o.artifacts[0].name.as_str(), o.artifacts[0].sha256.as_deref()), ("r1/a", Some("ab")));
    assert_eq!(o.details_json.as_deref(), Some("{}"));
    let calls = CALLS.with(|c| c.borrow().clone());
    assert_eq!(calls[0], "pod-status pod-1");
    assert_eq!(calls[1], "exec \"echo hi\" WriteExternalSideEffect [Kv { key: \"A\", value: \"1\" }]");
    assert!(calls.contains(&"put-file /f 3 640".to_string()), "{calls:?}");
    let o = Component::run_phase(context(WitFetch::All));
    assert_eq!(o.facts.iter().find(|kv| kv.key == "fetch").map(|kv| kv.value.as_str()), Some("all"));
}
