//! Test-only auditor that opens a TCP socket through `std::net`. It imports `wasi:sockets`, so the
//! host must refuse it at load.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "auditor", path: "../../../wit" });

use exports::wfhost::plugin::judge::Guest;
use wfhost::plugin::types::{AuditRequest, Verdict, VerdictStatus};

struct OpensSockets;

impl Guest for OpensSockets {
    fn audit(_request: AuditRequest) -> Verdict {
        let seen = match std::net::TcpStream::connect("127.0.0.1:22") {
            Ok(_) => "connected".to_string(),
            Err(e) => format!("error: {e}"),
        };
        Verdict {
            status: VerdictStatus::Pass,
            violated_laws: vec![],
            evidence_refs: vec![],
            reasons: vec![seen],
            remediation: String::new(),
        }
    }

    fn describe() -> String {
        "hostile-net".into()
    }
}

export!(OpensSockets);
