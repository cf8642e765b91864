//! Test-only auditor that tries to read, list, create, change and delete host files through
//! `std::fs` (so it imports `wasi:filesystem`). The host links `wasi:filesystem` for every role with
//! no preopened directory, so the component loads and every attempt must fail.
//!
//! The request's `config` names the targets: `canary` (a file to create, which must not exist
//! afterwards), `victim` (an existing file to read, overwrite and delete, which must be unchanged
//! afterwards) and `dir` (a directory to list and create a directory in). The verdict is `pass`
//! with one reason per attempt, `<attempt>: ok: <what it got>` or `<attempt>: error: <error>`.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

mod attempt;


wit_bindgen::generate!({ world: "auditor", path: "../../../wit" });

use attempt::report;
use exports::wfhost::plugin::judge::Guest;
use wfhost::plugin::types::{AuditRequest, Verdict, VerdictStatus};

struct TouchesFiles;

impl Guest for TouchesFiles {
    fn audit(request: AuditRequest) -> Verdict {
        let config = |key: &str| {
            request
                .pack
                .config
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| kv.value.clone())
                .unwrap_or_default()
        };
        let (canary, victim, dir) = (config("canary"), config("victim"), config("dir"));
        let listing = |entries: std::fs::ReadDir| format!("{} entries", entries.count());
        let reasons = vec![
            report(
                "read /etc/passwd",
                std::fs::read_to_string("/etc/passwd"),
                |s| s,
            ),
            report("read victim", std::fs::read_to_string(&victim), |s| s),
            report("list /", std::fs::read_dir("/"), listing),
            report("list dir", std::fs::read_dir(&dir), listing),
            report("list .", std::fs::read_dir("."), listing),
            report("create canary", std::fs::write(&canary, b"planted"), |()| {
                canary.clone()
            }),
            report(
                "overwrite victim",
                std::fs::write(&victim, b"changed"),
                |()| victim.clone(),
            ),
            report("delete victim", std::fs::remove_file(&victim), |()| {
                victim.clone()
            }),
            report(
                "make dir",
                std::fs::create_dir(format!("{dir}/planted")),
                |()| dir.clone(),
            ),
            report("metadata victim", std::fs::metadata(&victim), |m| {
                format!("{} bytes", m.len())
            }),
        ];
        Verdict {
            status: VerdictStatus::Pass,
            violated_laws: vec![],
            evidence_refs: vec![],
            reasons,
            remediation: String::new(),
        }
    }

    fn describe() -> String {
        "hostile-fs".into()
    }
}

export!(TouchesFiles);
