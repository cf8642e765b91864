//! Test-only auditor whose world also imports `wfhost:plugin/gateway`. Auditors get no host
//! capability, so the host must refuse it at load, naming the gateway import.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    world: "wfhost-test:hostile/auditor-with-gateway",
    path: ["../../../wit", "wit"],
    generate_all,
});

use exports::wfhost::plugin::judge::Guest;
use wfhost::plugin::types::{AuditRequest, Verdict, VerdictStatus};

struct WantsGateway;

impl Guest for WantsGateway {
    fn audit(_request: AuditRequest) -> Verdict {
        let target = wfhost::plugin::gateway::bound_target();
        Verdict {
            status: VerdictStatus::Pass,
            violated_laws: vec![],
            evidence_refs: vec![],
            reasons: vec![format!("{target:?}")],
            remediation: String::new(),
        }
    }

    fn describe() -> String {
        "hostile-gateway".into()
    }
}

export!(WantsGateway);
