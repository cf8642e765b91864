//! Hardening: what bad input files, a full disk, a concurrent flow, a signal or a hostile value
//! does to the real binary on the local transport. Each test names the defect it guards.

use crate::harness::Sandbox;
use std::time::Duration;
use wfhost_constitution::codes;

fn last_status(run: &crate::harness::Run) -> (String, String, u16) {
    run.statuses().last().cloned().unwrap_or_else(|| panic!("no status line\n{}", run.explain()))
}

/// A P70 that runs out of its budget halts with the sweep family's PHASE_TIMEOUT, whatever
/// stopped it (here the executor's deadline while it waits), never with another code's advice.
#[test]
fn a_monitor_past_its_phase_budget_halts_with_phase_timeout() {
    let mut s = Sandbox::new();
    s.manifest("run_id,command\nt1,sh train.sh --seed 1 --sleep 8\n");
    s.set("WF_PHASE_TIMEOUT_P70", "2");
    let run = s.run_with_limit(&["flow", "--yes", "--wait", "true"], Duration::from_secs(90));
    assert_eq!(last_status(&run), ("P70".to_string(), "fail".to_string(), codes::PHASE_TIMEOUT_4XX.get()), "{}", run.explain());
    assert_eq!(run.status, 40, "{}", run.explain());
    let reason = run.verdict("P70")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("over its 2s budget") && reason.contains("WF_PHASE_TIMEOUT_P70"), "{reason}");
    assert!(!reason.to_lowercase().contains("manifest"), "{reason}");
}
