//! Test-only auditor that reports every environment variable and argument it can see. The host
//! gives auditors an empty environment and no arguments, so it must report nothing.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "auditor", path: "../../../wit" });

use exports::wfhost::plugin::judge::Guest;
use wfhost::plugin::types::{AuditRequest, Verdict, VerdictStatus};

struct ReadsEnv;

impl Guest for ReadsEnv {
    fn audit(_request: AuditRequest) -> Verdict {
        let mut seen: Vec<String> = std::env::vars()
            .map(|(k, v)| format!("env:{k}={v}"))
            .collect();
        seen.extend(std::env::args().map(|a| format!("arg:{a}")));
        if let Ok(dir) = std::env::current_dir() {
            seen.push(format!("cwd:{}", dir.display()));
        }
        Verdict {
            status: VerdictStatus::Pass,
            violated_laws: vec![],
            evidence_refs: vec![],
            reasons: seen,
            remediation: String::new(),
        }
    }

    fn describe() -> String {
        "hostile-env".into()
    }
}

export!(ReadsEnv);
