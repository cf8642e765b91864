//! Progress on a terminal and off one: under a pseudo-terminal (`script`), P70 and P80 draw
//! bars from the executor's structured progress; without one, stderr carries the plain lines it
//! always did and no terminal control (stdout is the snapshot of local_flow).

use crate::harness::{cache_dir, Sandbox};
use std::process::{Command, Stdio};
use std::time::Duration;

fn sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    // Runs that take a moment, so the bar is drawn while they run.
    s.manifest("run_id,seed,extra\nr1,1,\nr2,2,\nr3,3,\n");
    s.set("SWEEP_RUN_TEMPLATE", "sh train.sh --seed {seed} --sleep 1");
    s
}

#[test]
fn a_terminal_gets_bars_for_the_sweep_and_the_fetch() {
    let s = sandbox();
    s.write_config();
    let typescript = s.root().join("typescript");
    let command = format!("{} flow --yes --wait true --fetch all", env!("CARGO_BIN_EXE_wfhost"));
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "120", "script", "-qec", &command])
        .arg(&typescript)
        .current_dir(s.root())
        .env("WFHOST_CACHE_DIR", cache_dir())
        .env("COLUMNS", "160")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for k in ["LIUM_YES", "LIUM_TARGET", "WORKFLOW_CONFIG", "WF_ALLOW_OVERRIDE"] {
        cmd.env_remove(k);
    }
    let status = cmd.status().expect("script runs");
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).expect("script wrote its typescript")).into_owned();
    assert!(status.success(), "{status:?}\n{screen}");
    // The sweep's bar: runs done of the total, failed and running, elapsed and an estimate.
    assert!(screen.contains("P70 ["), "no sweep bar:\n{screen}");
    assert!(screen.contains("3/3 runs done, 0 failed, 0 running"), "no final sweep counts:\n{screen}");
    assert!(screen.contains("(eta "), "no estimate:\n{screen}");
    // The fetch's bar: runs, files and bytes.
    assert!(screen.contains("P80 ["), "no fetch bar:\n{screen}");
    assert!(screen.contains("3/3 runs fetched, 36 files, "), "no final fetch counts:\n{screen}");
    assert!(screen.contains(" KiB") || screen.contains(" B "), "no bytes:\n{screen}");
    // The plain progress lines still print above the bar, and the protocol line never shows.
    assert!(screen.contains("wfhost: P70: sweep: 3/3 done, 0 failed, 0 running"), "{screen}");
    assert!(!screen.contains("wfhost-progress"), "{screen}");
    assert!(screen.contains("PHASE=P99 COURT=pass"), "{screen}");
}

#[test]
fn off_a_terminal_the_plain_lines_are_unchanged() {
    let s = sandbox();
    let run = s.run_with_limit(&["flow", "--yes", "--wait", "true", "--fetch", "all"], Duration::from_secs(120));
    assert_eq!(run.status, 0, "{}", run.explain());
    assert!(!run.stderr.contains('\u{1b}') && !run.stdout.contains('\u{1b}'), "a terminal control off a terminal:\n{}", run.explain());
    assert!(!run.stderr.contains("runs done") && !run.stderr.contains("wfhost-progress"), "{}", run.explain());
    assert!(run.stderr.contains("wfhost: P70: sweep: 3/3 done, 0 failed, 0 running\n"), "{}", run.explain());
    assert!(run.stderr.contains("wfhost: P80: fetching run r3\n"), "{}", run.explain());
    // Every stderr line is a plain `wfhost: ` line.
    assert!(run.stderr.lines().all(|l| l.starts_with("wfhost: ")), "{}", run.stderr);
}
