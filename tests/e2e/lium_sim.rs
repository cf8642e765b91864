//! The Lium API simulator's own suite (`tests/lium_sim`, pytest), run from the workspace's test
//! command so that `cargo test --workspace` covers it: its routes, failure knobs and namespaced
//! sshd pods, and its fidelity to the real `lium` CLI (pinned in requirements.txt). The script
//! installs what is missing and bounds the run; every test must pass, none may be skipped.

use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn the_lium_simulator_suite_passes_against_the_real_lium_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lium_sim");
    let out = Command::new("bash")
        .arg(dir.join("run_tests.sh"))
        .args(["-p", "no:cacheprovider", "-rfEs"])
        .env("LIUM_SIM_TEST_TIMEOUT", "1200")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs tests/lium_sim/run_tests.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stdout.lines().rev().take(40).collect();
    let report = format!("stdout (tail, reversed):\n{}\nstderr:\n{stderr}", tail.join("\n"));
    assert!(out.status.success(), "the simulator suite failed ({}):\n{report}", out.status);
    let summary = stdout.lines().rev().find(|l| l.contains(" passed")).unwrap_or_else(|| panic!("no pytest summary line:\n{report}"));
    let passed: u32 = summary
        .split_whitespace()
        .zip(summary.split_whitespace().skip(1))
        .find(|(_, w)| w.trim_end_matches(',') == "passed")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable pytest summary {summary:?}"));
    assert!(passed >= 60, "only {passed} simulator tests ran: {summary}");
    for word in ["failed", "skipped", "error", "xfail", "deselected"] {
        assert!(!summary.contains(word), "the simulator suite reported {word}: {summary}");
    }
}
