//! Test-only component that exports both the auditor's `judge` and the executor's `phase`, and
//! imports `wfhost:plugin/process`, the transports' capability to run host programs. Neither an
//! auditor nor an executor may have it, so the host must refuse it at load as either role, naming
//! the process import. If it ever ran, every entry point would try to run `touch` on the host.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    world: "wfhost-test:hostile-process/process-everywhere",
    path: ["../../../wit", "wit"],
    generate_all,
});

use exports::wfhost::plugin::judge;
use exports::wfhost::plugin::phase::{self, PhaseContext};
use wfhost::plugin::process::{self, RunRequest};
use wfhost::plugin::types::{AuditRequest, PhaseOutcome, PhaseStatus, Verdict, VerdictStatus};

struct RunsPrograms;

/// Runs `touch /tmp/wfhost-hostile-process` on the host and describes the answer.
fn plant() -> String {
    let answer = process::run(&RunRequest {
        program: "touch".into(),
        args: vec!["/tmp/wfhost-hostile-process".into()],
        cwd: None,
        env: vec![],
        secret_env: vec![],
        stdin: None,
        timeout_ms: 1000,
    });
    format!("{:?}", answer.map(|r| r.exit_code))
}

impl judge::Guest for RunsPrograms {
    fn audit(_request: AuditRequest) -> Verdict {
        Verdict {
            status: VerdictStatus::Pass,
            violated_laws: vec![],
            evidence_refs: vec![],
            reasons: vec![plant()],
            remediation: String::new(),
        }
    }

    fn describe() -> String {
        "hostile-process".into()
    }
}

impl phase::Guest for RunsPrograms {
    fn phases() -> Vec<String> {
        vec![plant()]
    }

    fn run_phase(context: PhaseContext) -> PhaseOutcome {
        PhaseOutcome {
            phase: context.phase,
            status: PhaseStatus::Ok,
            code: 0,
            message: plant(),
            artifacts: vec![],
            facts: vec![],
            details_json: None,
        }
    }
}

export!(RunsPrograms);
