//! The legacy primitives, `doctor`, `court audit` and the help text, through the real binary.

use crate::harness::Sandbox;
use wfhost_constitution::codes;

#[test]
fn primitives_drive_the_same_lifecycle_step_by_step() {
    let mut s = Sandbox::new();
    let up = s.run(&["pod-up", "--yes"]);
    assert_eq!(up.status, 0, "{}", up.explain());
    let pod = s.pods().pop().expect("pod-up created a pod");
    s.set("LIUM_TARGET", &pod);
    for cmd in ["pod-status", "bootstrap", "checkout", "sweep-start", "sweep-watch", "fetch-all"] {
        let r = s.run(&[cmd]);
        assert_eq!(r.status, 0, "{cmd}: {}", r.explain());
        assert_eq!(r.header("target_source"), Some("explicit"), "{cmd}");
        assert!(r.statuses().iter().all(|(_, st, _)| st != "fail"), "{cmd}: {}", r.explain());
    }
    for id in ["r1", "r2", "r3"] {
        assert!(s.root().join("artifacts/pod_logs").join(&pod).join(id).join("metrics.json").exists(), "{id} fetched");
    }
    let one = s.run(&["fetch-run", "r2"]);
    assert_eq!(one.status, 0, "{}", one.explain());
    let missing = s.run(&["fetch-run", "nope"]);
    assert_eq!(missing.status, 50, "{}", missing.explain());
    assert_eq!(missing.statuses().last().unwrap().2, codes::RUN_NOT_FOUND.get());

    let fsm = s.run(&["fsm-status"]);
    assert_eq!(fsm.status, 0, "{}", fsm.explain());
    let state: serde_json::Value = serde_json::from_str(&fsm.stdout).expect("fsm-status prints JSON");
    assert_eq!(state["state"], "SWEEP_COMPLETED", "{state}");

    let refused = s.run(&["pod-delete"]);
    assert_eq!(refused.status, 10, "pod-delete without --yes and without a terminal: {}", refused.explain());
    assert_eq!(s.pods(), vec![pod.clone()], "nothing deleted without consent");
    let del = s.run(&["pod-delete", "--yes"]);
    assert_eq!(del.status, 0, "{}", del.explain());
    assert!(s.pods().is_empty());
}

#[test]
fn primitives_refuse_to_run_without_a_target() {
    let s = Sandbox::new();
    let r = s.run(&["checkout"]);
    assert_eq!(r.status, 10, "{}", r.explain());
    assert_eq!(r.statuses()[0].2, codes::FLAGS_ILLEGAL.get());
    assert!(r.verdict("P00")["halt_reason"].as_str().unwrap().contains("--target"));
    assert!(s.pods().is_empty());
}

#[test]
fn sweep_csv_template_prints_a_manifest_the_flow_accepts() {
    let mut s = Sandbox::new();
    let t = s.run(&["sweep-csv-template"]);
    assert_eq!(t.status, 0);
    assert!(t.stdout.starts_with("run_id,"), "{}", t.stdout);
    let template = t.stderr.lines().find_map(|l| l.split("SWEEP_RUN_TEMPLATE=").nth(1)).expect("template on stderr").to_string();
    s.manifest(&t.stdout);
    // The example template runs a script that is not in the test repo; `true` keeps the
    // columns but proves the manifest parses and plans.
    assert!(template.contains('{'), "{template}");
    s.set("SWEEP_RUN_TEMPLATE", "true {seed}");
    let r = s.run(&["flow", "--yes", "--wait", "true", "--teardown", "delete"]);
    assert_eq!(r.status, 0, "{}", r.explain());
}

#[test]
fn doctor_reports_config_plugins_and_target() {
    let mut s = Sandbox::new();
    let ok = s.run(&["doctor"]);
    assert_eq!(ok.status, 0, "{}", ok.explain());
    assert!(ok.stdout.contains("ok   config"), "{}", ok.stdout);
    assert!(ok.stdout.contains("ok   plugins"), "{}", ok.stdout);
    s.set("LIUM_TARGET", "no-such-pod");
    let bad = s.run(&["doctor"]);
    assert_eq!(bad.status, 10, "{}", bad.explain());
    assert!(bad.stdout.contains("FAIL target"), "{}", bad.stdout);
}

#[test]
fn court_audit_reruns_an_auditor_on_a_flows_evidence_pack() {
    let s = Sandbox::new();
    let r = s.run(&["flow", "--yes", "--sweep", "skip", "--teardown", "delete"]);
    assert_eq!(r.status, 0, "{}", r.explain());
    let pack = r.flow_dir().join("phase/phase.P50.pack.json");
    let pack_arg = pack.display().to_string();
    let audit = s.run(&["court", "audit", "--phase", "P50", "--evidence", &pack_arg]);
    assert_eq!(audit.status, 0, "{}", audit.explain());
    let v: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    assert_eq!(v["status"], "pass");
    // Tamper with the pack: a config hash that changed mid-run must fail L1.
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&pack).unwrap()).unwrap();
    doc["config_sha256"] = serde_json::Value::String("0".repeat(64));
    let tampered = s.root().join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&doc).unwrap()).unwrap();
    let audit = s.run(&["court", "audit", "--phase", "P50", "--evidence", &tampered.display().to_string()]);
    assert_eq!(audit.status, 1, "{}", audit.explain());
    let v: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    assert_eq!(v["status"], "fail");
    assert!(v["verdict"]["violated_laws"].as_array().unwrap().iter().any(|l| l == "L1"), "{v}");
    // Garbage is a usage error naming the file, not a crash.
    std::fs::write(s.root().join("garbage.json"), "not json").unwrap();
    let bad = s.run(&["court", "audit", "--phase", "P50", "--evidence", "garbage.json"]);
    assert_eq!(bad.status, 64, "{}", bad.explain());
    assert!(bad.stderr.contains("garbage.json"), "{}", bad.stderr);
}

#[test]
fn court_audit_judges_under_the_limits_of_the_config_in_its_directory() {
    let mut s = Sandbox::new();
    let r = s.run(&["flow", "--yes", "--sweep", "skip", "--teardown", "delete"]);
    assert_eq!(r.status, 0, "{}", r.explain());
    let pack = r.flow_dir().join("phase/phase.P50.pack.json").display().to_string();
    // A fuel budget far too small for a judgement: the hand-run audit runs out, as the flow's would.
    s.set("WF_AUDITOR_FUEL", "1000");
    let starved = s.run(&["court", "audit", "--phase", "P50", "--evidence", &pack]);
    assert_eq!(starved.status, 1, "{}", starved.explain());
    let v: serde_json::Value = serde_json::from_str(&starved.stdout).unwrap();
    assert_eq!((v["status"].as_str(), v["reason_kind"].as_str()), (Some("unverified"), Some("fuel_exhausted")), "{v}");
    assert_eq!(v["limits"]["fuel"], 1000, "{v}");
    assert!(v["limits"]["from"].as_str().unwrap().ends_with("infra_scripts/workflow.env"), "{v}");
    // -C names another directory: its config decides (none there: the vocabulary's defaults).
    std::fs::create_dir_all(s.root().join("elsewhere")).unwrap();
    let other = s.run(&["-C", "elsewhere", "court", "audit", "--phase", "P50", "--evidence", &pack]);
    assert_eq!(other.status, 0, "{}", other.explain());
    let v: serde_json::Value = serde_json::from_str(&other.stdout).unwrap();
    assert_eq!(v["status"], "pass", "{v}");
    assert_eq!(v["limits"]["fuel"], wfhost_constitution::keys::WF_AUDITOR_FUEL.default_value(), "{v}");
    assert!(v["limits"]["from"].as_str().unwrap().starts_with("defaults"), "{v}");
    // A config there that does not load is an error naming it, not a silent default; its
    // status is the config family's, as in a flow.
    s.write("elsewhere/infra_scripts/workflow.env", "WF_AUDITOR_FUEL=lots\n");
    let bad = s.run(&["-C", "elsewhere", "court", "audit", "--phase", "P50", "--evidence", &pack]);
    assert_eq!(bad.status, 10, "{}", bad.explain());
    assert!(bad.stderr.contains("WF_AUDITOR_FUEL"), "{}", bad.stderr);
}

#[test]
fn help_marks_primitives_legacy_and_usage_errors_exit_64() {
    let s = Sandbox::new();
    let h = s.run(&["--help"]);
    assert_eq!(h.status, 0);
    assert!(h.stdout.contains("`flow` is the canonical path"), "{}", h.stdout);
    for cmd in ["pod-up", "pod-status", "bootstrap", "checkout", "sweep-start", "sweep-status", "fetch-run", "fetch-all", "pod-delete", "fsm-status", "fsm-reset"] {
        let line = h.stdout.lines().find(|l| l.trim_start().starts_with(&format!("{cmd} "))).unwrap_or_else(|| panic!("{cmd} missing from --help"));
        assert!(line.contains("[legacy primitive]"), "{line}");
    }
    let f = s.run(&["flow", "--help"]);
    for flag in ["--provision", "--sweep", "--wait", "--fetch", "--teardown", "--yes"] {
        assert!(f.stdout.contains(flag), "flow --help lacks {flag}");
    }
    for teaches in ["--sweep resume --wait true", "SWEEP_RETRY_LOST=1", "wfhost explain <flow_dir>"] {
        assert!(f.stdout.contains(teaches), "flow --help does not show {teaches:?}:\n{}", f.stdout);
    }
    let bad = s.run(&["flow", "--no-such-flag"]);
    assert_eq!(bad.status, 64, "{}", bad.explain());
}

#[test]
fn exit_statuses_come_from_one_map_and_the_help_lists_them_all() {
    let s = Sandbox::new();
    // A target that does not exist is the target family's status, as in a flow (205 -> 20),
    // not a config problem.
    let mut gone = Sandbox::new();
    gone.set("LIUM_TARGET", "no-such-pod");
    let r = gone.run(&["fsm-status"]);
    assert_eq!(r.status, 20, "{}", r.explain());
    assert!(r.stderr.contains("wfhost: target no-such-pod does not exist"), "{}", r.explain());
    // -C naming a file is a usage error, said as such.
    s.write("plain.txt", "x");
    let r = s.run(&["-C", "plain.txt", "doctor"]);
    assert_eq!(r.status, 64, "{}", r.explain());
    assert!(r.stderr.contains("not a directory"), "{}", r.explain());
    // A bad argument of court audit is a usage error; a pack the auditor judges is 0 or 1.
    let r = s.run(&["court", "audit", "--phase", "P77", "--evidence", "nope.json"]);
    assert_eq!(r.status, 64, "{}", r.explain());
    // Every status is documented in the top-level help.
    let help = s.run(&["--help"]);
    assert_eq!(help.status, 0);
    for status in ["0 ", "1 ", "10 ", "20 ", "30 ", "40 ", "50 ", "64 ", "70 "] {
        assert!(help.stdout.lines().any(|l| l.trim_start().starts_with(status)), "{status:?} missing:\n{}", help.stdout);
    }
    // Every error message carries the prefix exactly once.
    assert!(!r.stderr.contains("wfhost: wfhost:"), "{}", r.stderr);
}
