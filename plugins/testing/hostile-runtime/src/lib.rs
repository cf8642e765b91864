//! Test-only hostile auditor. It never ships: only the runtime's test suite loads it.
//!
//! The behaviour is chosen by `request.pack.phase` so one component covers every misbehaviour the
//! host must survive: `loop`, `memory-bomb`, `recursion`, `trap`, `panic`, `output-100mb`,
//! `stderr-flood-panic`, `stdout-flood`, `sleep`, `exit`, `malformed-no-law`,
//! `malformed-unknown-law`, `malformed-empty-remediation`, `malformed-pass-with-law`; `pass` and
//! `fail-valid` return well-formed verdicts so tests can show the component itself works. A real
//! phase id (`P00`..`P99`) spins like `loop`, so a flow using this auditor halts at its first
//! court.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "auditor", path: "../../../wit" });

use exports::wfhost::plugin::judge::Guest;
use std::hint::black_box;
use std::io::Write;
use wfhost::plugin::types::{AuditRequest, Verdict, VerdictStatus};

struct Hostile;

fn verdict(
    status: VerdictStatus,
    laws: Vec<String>,
    reasons: Vec<String>,
    remediation: &str,
) -> Verdict {
    Verdict {
        status,
        violated_laws: laws,
        evidence_refs: vec!["outcome.code".into()],
        reasons,
        remediation: remediation.into(),
    }
}

/// Recurses without bound; `black_box` keeps the optimiser from turning it into a loop.
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    black_box(recurse(depth + 1)).wrapping_add(depth)
}

fn flood(out: &mut dyn Write, total: usize) {
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = 0;
    while written < total {
        // Errors are ignored on purpose: a closed pipe must not stop the flood.
        let _ = out.write_all(&chunk);
        written += chunk.len();
    }
}

impl Guest for Hostile {
    fn audit(request: AuditRequest) -> Verdict {
        let first_law = request
            .laws
            .first()
            .map(|l| l.id.clone())
            .unwrap_or_default();
        match request.pack.phase.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0xA5; 1 << 20]);
                    black_box(&hoard);
                }
            }
            "recursion" => {
                let n = recurse(0);
                verdict(VerdictStatus::Pass, vec![], vec![format!("{n}")], "")
            }
            "trap" => core::arch::wasm32::unreachable(),
            "panic" => panic!("hostile auditor panicked on purpose"),
            "output-100mb" => {
                let big = "x".repeat(100 * 1024 * 1024);
                verdict(VerdictStatus::Pass, vec![], vec![big], "")
            }
            "stdout-flood" => {
                flood(&mut std::io::stdout(), 100 * 1024 * 1024);
                verdict(
                    VerdictStatus::Pass,
                    vec![],
                    vec!["flooded stdout".into()],
                    "",
                )
            }
            "stderr-flood-panic" => {
                flood(&mut std::io::stderr(), 100 * 1024 * 1024);
                panic!("panic after the stderr flood");
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                verdict(VerdictStatus::Pass, vec![], vec!["woke up".into()], "")
            }
            "exit" => std::process::exit(3),
            "malformed-no-law" => {
                verdict(VerdictStatus::Fail, vec![], vec!["no law".into()], "fix it")
            }
            "malformed-unknown-law" => verdict(
                VerdictStatus::Fail,
                vec!["L999".into()],
                vec!["unknown law".into()],
                "fix it",
            ),
            "malformed-empty-remediation" => verdict(
                VerdictStatus::Fail,
                vec![first_law],
                vec!["no remediation".into()],
                " ",
            ),
            "malformed-pass-with-law" => verdict(
                VerdictStatus::Pass,
                vec![first_law],
                vec!["pass yet violated".into()],
                "",
            ),
            "fail-valid" => verdict(
                VerdictStatus::Fail,
                vec![first_law],
                vec!["the phase broke the law".into()],
                "rerun the phase after fixing the cause",
            ),
            // A real phase id (`P00`..`P99`), as in a flow: spin until the host's deadline, so a
            // flow configured with this auditor halts at its first court.
            phase if phase.len() == 3 && phase.starts_with('P') && phase[1..].bytes().all(|b| b.is_ascii_digit()) => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            _ => verdict(VerdictStatus::Pass, vec![], vec!["looks fine".into()], ""),
        }
    }

    fn describe() -> String {
        "hostile-runtime 0.1.0".into()
    }
}

export!(Hostile);
