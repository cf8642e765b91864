//! Test-only auditor that reads a host file through `std::fs`. It imports `wasi:filesystem`, so
//! the host must refuse it at load.

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
