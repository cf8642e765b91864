//! WIT glue (wasm32 only): implements [`crate::host::Host`] with the `gateway`, `settings` and
//! `log` imports (and the WASI clock for sleeping), and forwards `phase` exports to
//! [`crate::phases`]. The records every role shares cross with the SDK's
//! [`record_conversions!`](wfhost_pack_sdk::record_conversions); the executor's own records
//! (exec request, artifacts, outcome) are copied here. No logic lives here.

wit_bindgen::generate!({ world: "executor", path: "../../wit" });
wfhost_pack_sdk::record_conversions!();

use crate::context::PhaseContext as Ctx;
use crate::host::{self, Host};
use crate::outcome::{self, Status};
use exports::wfhost::plugin::phase::{Guest, PhaseContext};
use wfhost::plugin::gateway::{self as gw, ExecRequest, GatewayError};
use wfhost::plugin::log::emit;
use wfhost::plugin::settings;
use wfhost::plugin::types::{ActionClass, Artifact, Kv, PhaseOutcome, PhaseStatus};

struct WitHost {
    start: std::time::Instant,
}

fn err(e: GatewayError) -> host::GatewayError {
    match e {
        GatewayError::Refused(m) => host::GatewayError::Refused(m),
        GatewayError::Unreachable(m) => host::GatewayError::Unreachable(m),
        GatewayError::Vanished(m) => host::GatewayError::Vanished(m),
        GatewayError::Timeout(m) => host::GatewayError::Timeout(m),
        GatewayError::Failed(m) => host::GatewayError::Failed(m),
    }
}

fn kvs(list: Vec<Kv>) -> Vec<host::Kv> {
    list.into_iter().map(Into::into).collect()
}

impl Host for WitHost {
    fn provision(&self, name_hint: &str) -> Result<host::PodIdentity, host::GatewayError> {
        gw::provision(name_hint).map(Into::into).map_err(err)
    }

    fn pod_status(&self, target: &str) -> Result<(String, String), host::GatewayError> {
        gw::pod_status(target).map_err(err)
    }

    fn resolve_path(&self, target: &str, path: &str) -> Result<String, host::GatewayError> {
        gw::resolve_path(target, path).map_err(err)
    }

    fn exec(&self, r: &host::ExecRequest) -> Result<host::CommandResult, host::GatewayError> {
        let req = ExecRequest {
            target: r.target.clone(),
            command: r.command.clone(),
            cwd: r.cwd.clone(),
            env: r.env.iter().cloned().map(Into::into).collect(),
            timeout_ms: r.timeout_ms,
            class: match r.class {
                host::ActionClass::Read => ActionClass::Read,
                host::ActionClass::WriteInternal => ActionClass::WriteInternal,
                host::ActionClass::WriteExternalSideEffect => ActionClass::WriteExternalSideEffect,
            },
            idempotency_key: r.idempotency_key.clone(),
        };
        gw::exec(&req).map(Into::into).map_err(err)
    }

    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), host::GatewayError> {
        gw::put_file(target, path, contents, mode).map_err(err)
    }

    fn fetch_dir(
        &self,
        target: &str,
        remote_dir: &str,
        local_rel: &str,
    ) -> Result<Vec<host::Artifact>, host::GatewayError> {
        gw::fetch_dir(target, remote_dir, local_rel)
            .map(|list| {
                list.into_iter()
                    .map(|a| host::Artifact {
                        name: a.name,
                        path: a.path,
                        sha256: a.sha256,
                    })
                    .collect()
            })
            .map_err(err)
    }

    fn delete_pod(&self, target: &str) -> Result<(), host::GatewayError> {
        gw::delete_pod(target).map_err(err)
    }

    fn setting(&self, key: &str) -> Option<String> {
        settings::get(key)
    }

    fn log(&self, level: host::Level, message: &str) {
        emit(level.into(), message);
    }

    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

fn outcome(o: outcome::Outcome) -> PhaseOutcome {
    PhaseOutcome {
        phase: o.phase,
        status: match o.status {
            Status::Ok => PhaseStatus::Ok,
            Status::Skip => PhaseStatus::Skip,
            Status::Fail => PhaseStatus::Fail,
        },
        code: o.code,
        message: o.message,
        artifacts: o
            .artifacts
            .into_iter()
            .map(|a| Artifact {
                name: a.name,
                path: a.path,
                sha256: a.sha256,
            })
            .collect(),
        facts: o.facts.into_iter().map(Into::into).collect(),
        details_json: o.details_json,
    }
}

struct Executors;

impl Guest for Executors {
    fn phases() -> Vec<String> {
        crate::phases::PHASES
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    fn run_phase(context: PhaseContext) -> PhaseOutcome {
        let ctx = Ctx {
            flow_id: context.flow_id,
            phase: context.phase,
            flow_flags: kvs(context.flow_flags),
            config: kvs(context.config),
            target: context.target,
            fsm_state: context.fsm_state,
            inputs: kvs(context.inputs),
        };
        let host = WitHost {
            start: std::time::Instant::now(),
        };
        outcome(crate::phases::run_phase(&host, &ctx))
    }
}

export!(Executors);
