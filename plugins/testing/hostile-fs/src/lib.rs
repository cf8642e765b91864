//! Test-only auditor that reads a host file through `std::fs`. It imports `wasi:filesystem`, so
//! the host must refuse it at load.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "auditor", path: "../../../wit" });

use exports::wfhost::plugin::judge::Guest;
use wfhost::plugin::types::{AuditRequest, Verdict, VerdictStatus};

struct ReadsFiles;

impl Guest for ReadsFiles {
    fn audit(_request: AuditRequest) -> Verdict {
        let seen = std::fs::read_to_string("/etc/passwd").unwrap_or_else(|e| format!("error: {e}"));
        Verdict {
            status: VerdictStatus::Pass,
            violated_laws: vec![],
            evidence_refs: vec![],
            reasons: vec![seen],
            remediation: String::new(),
        }
    }

    fn describe() -> String {
        "hostile-fs".into()
    }
}

export!(ReadsFiles);
