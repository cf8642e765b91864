//! Whole flows on the local transport: the happy path, detached sweeps, failing runs, fetch.

use crate::harness::Sandbox;
use wfhost_constitution::codes;
use std::time::Duration;

const FULL: &[&str] = &["flow", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"];

#[test]
fn full_flow_runs_every_phase_fetches_and_deletes_the_pod() {
    let s = Sandbox::new();
    let run = s.run(FULL);
    assert_eq!(run.status, 0, "{}", run.explain());
    let statuses = run.statuses();
    let phases: Vec<&str> = statuses.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(phases, ["P00", "P10", "P20", "P30", "P40", "P50", "P60", "P70", "P80", "P90", "P99"]);
    assert!(statuses.iter().all(|(_, st, code)| st == "ok" && *code == 0), "{}", run.explain());
    assert!(run.courts().iter().all(|(_, c, d, k)| c == "pass" && d == "pass" && k == "pass"));
    // Autobind: pending first, then the bound pod.
    let targets: Vec<&str> = run.stdout.lines().filter_map(|l| l.strip_prefix("resolved_target=")).collect();
    assert_eq!(targets.len(), 2, "{}", run.explain());
    assert_eq!(targets[0], "pending");
    let pod = targets[1];
    // Every run's outputs came back, with their digests in evidence.
    for id in ["r1", "r2", "r3"] {
        let metrics = s.root().join("artifacts/pod_logs").join(pod).join(id).join("metrics.json");
        let text = std::fs::read_to_string(&metrics).unwrap_or_else(|e| panic!("{}: {e}\n{}", metrics.display(), run.explain()));
        assert!(text.contains("\"seed\""), "{text}");
    }
    let summary = run.summary();
    assert_eq!(summary["verdict"], "pass");
    assert_eq!(summary["exit_status"], 0);
    assert_eq!(summary["pod_state"], "deleted");
    assert!(summary["files_fetched"].as_u64().unwrap() >= 6, "{summary}");
    // Teardown delete removed the pod directory.
    assert!(s.pods().is_empty(), "pods left: {:?}", s.pods());
    insta::assert_snapshot!("full_flow_stdout", run.redacted_stdout(s.root()));
}

#[test]
fn detached_sweep_outlives_the_flow_and_resume_waits_for_it() {
    let mut s = Sandbox::new();
    s.manifest("run_id,command\nslow1,sh train.sh --seed 1 --sleep 2\nslow2,sh train.sh --seed 2 --sleep 2\n");
    let first = s.run(&["flow", "--yes", "--wait", "false"]);
    assert_eq!(first.status, 0, "{}", first.explain());
    assert!(first.took < Duration::from_secs(60));
    let p70 = first.flow_dir().join("phase/phase.P70.json");
    let snapshot: serde_json::Value = serde_json::from_slice(&std::fs::read(p70).unwrap()).unwrap();
    assert_eq!(snapshot["facts"]["total"], "2", "{snapshot}");
    let pods = s.pods();
    assert_eq!(pods.len(), 1, "--teardown keep is the default: the pod stays");
    let pod = &pods[0];
    // The runs go on without wfhost; a second flow on the same target waits for them.
    let mut s2 = s;
    s2.set("LIUM_TARGET", pod);
    let second = s2.run(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true", "--fetch", "run:slow2"]);
    assert_eq!(second.status, 0, "{}", second.explain());
    assert_eq!(second.header("target_source"), Some("explicit"));
    let p70: serde_json::Value = serde_json::from_slice(&std::fs::read(second.flow_dir().join("phase/phase.P70.json")).unwrap()).unwrap();
    assert_eq!(p70["facts"]["ok"], "2", "{p70}");
    assert!(s2.root().join("artifacts/pod_logs").join(pod).join("slow2/summary.json").exists());
    assert!(!s2.root().join("artifacts/pod_logs").join(pod).join("slow1").exists(), "only run:slow2 was asked for");
    // Each run ran exactly once, although the sweep was launched twice.
    for id in ["slow1", "slow2"] {
        let log = s2.root().join(".wfhost/pods").join(pod).join("root/mnt/outputs/runs").join(id).join("train.log");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().count(), 1, "{id} ran more than once: {text}");
    }
}

#[test]
fn a_failing_run_fails_monitor_with_4xx_and_says_how_to_delete_the_pod() {
    let mut s = Sandbox::new();
    s.manifest("run_id,command\ngood,sh train.sh --seed 1\nbad,sh train.sh --seed 2 --fail 3\nbadsummary,sh train.sh --seed 3 --bad-summary\n");
    let run = s.run(&["flow", "--yes", "--wait", "true", "--teardown", "delete"]);
    assert_eq!(run.status, 40, "{}", run.explain());
    let last = run.statuses().last().cloned().unwrap();
    assert_eq!((last.0.as_str(), last.2), ("P70", codes::RUNS_FAILED.get()), "{}", run.explain());
    let verdict = run.verdict("P70");
    assert_eq!(verdict["court"], "fail");
    let reason = verdict["halt_reason"].as_str().unwrap();
    assert!(reason.contains("bad,") || reason.contains("bad ") || reason.contains("bad and"), "the exit-3 run must be named: {verdict}");
    assert!(reason.contains("badsummary"), "the ok:false run must be named: {verdict}");
    let summary = run.summary();
    assert_eq!(summary["first_failure_phase"], "P70");
    assert_eq!(summary["first_failure_code"], codes::RUNS_FAILED.get());
    // Law 7: a halt never deletes the pod, even with --teardown delete; it says how to.
    assert_eq!(s.pods().len(), 1);
    let cmd = summary["delete_command"].as_str().unwrap();
    assert!(cmd.starts_with("wfhost pod-delete --target wf-"), "{cmd}");
    let last_err = run.stderr.lines().last().unwrap();
    assert!(last_err.contains(cmd), "last stderr line must carry the delete command: {last_err}");
    // And that command works.
    let del = s.run(&["pod-delete", "--target", &s.pods()[0], "--yes"]);
    assert_eq!(del.status, 0, "{}", del.explain());
    assert!(s.pods().is_empty());
}

#[test]
fn a_bad_manifest_fails_p00_before_any_pod_or_run_starts() {
    // The manifest is read and planned in P00 (it used to be found in P60, after a pod was
    // created and left running).
    let mut s = Sandbox::new();
    s.manifest("run_id,seed,extra\nr1,1,\nr1,2,\n");
    let run = s.run(&["flow", "--yes"]);
    assert_eq!(run.status, 10, "{}", run.explain());
    let last = run.statuses().last().cloned().unwrap();
    assert_eq!((last.0.as_str(), last.2), ("P00", codes::INPUT_INVALID.get()));
    let reason = run.verdict("P00")["halt_reason"].as_str().unwrap().to_string();
    assert!(reason.contains("line 2") && reason.contains("line 3"), "{reason}");
    assert!(s.pods().is_empty(), "no pod (and so no run) may start from a bad manifest: {:?}", s.pods());
}

#[test]
fn a_long_non_ascii_checkout_check_is_recorded_not_a_panic() {
    // The gateway records each command's first line, shortened to 200 bytes; a check whose
    // 200th byte falls inside a multi-byte character once panicked the host mid-phase.
    let mut s = Sandbox::new();
    let check = format!("true {}", "é".repeat(150));
    s.set("CHECKOUT_CHECKS", &check);
    let r = s.run(&["flow", "--yes", "--wait", "true", "--teardown", "delete"]);
    assert_eq!(r.status, 0, "{}", r.explain());
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let outcome: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.flow_dir().join("phase/phase.P50.json")).unwrap()).unwrap();
    let calls = outcome["gateway_calls"].as_array().unwrap();
    assert!(calls.iter().any(|c| c["detail"].as_str().is_some_and(|d| d.contains("éé") && d.ends_with('…'))), "{outcome}");
}
