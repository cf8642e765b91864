//! Courts written for the original workflow, run unchanged as `WF_SUBAGENT_VALIDATOR_CMD`: the
//! flat evidence pack with the constitution's minimum members, laws by their descriptive ids,
//! `flow.start.json`, and the courts' own verdict shape.

use crate::harness::Sandbox;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const FULL: &[&str] = &["flow", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"];

fn court() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/courts/constitution_court.py")
}

fn court_cmd() -> String {
    format!("python3 {}", court().display())
}

/// Run the court by hand on `pack` in `flow_dir` (its working directory), as wfhost does.
fn judge(flow_dir: &Path, pack: &Path, phase: &str) -> Value {
    let out = flow_dir.join("by-hand.verdict.json");
    let status = Command::new("python3")
        .arg(court())
        .args(["--evidence", &pack.display().to_string(), "--output", &out.display().to_string(), "--phase", phase])
        .current_dir(flow_dir)
        .status()
        .expect("python3 runs the court");
    assert!(status.success(), "the court always exits 0");
    let v = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    v
}

#[test]
fn a_court_written_from_the_constitution_passes_every_phase_and_fails_a_tampered_pack() {
    let mut s = Sandbox::new();
    s.set("WF_SUBAGENT_VALIDATOR_CMD", &court_cmd());
    let run = s.run(FULL);
    assert_eq!(run.status, 0, "{}", run.explain());
    let dir = run.flow_dir();
    let courts = run.courts();
    assert_eq!(courts.len(), 11, "{}", run.explain());
    for (phase, court, _, constitutional) in &courts {
        assert_eq!((court.as_str(), constitutional.as_str()), ("pass", "pass"), "{phase}: {}", run.explain());
        let record: Value = serde_json::from_slice(&std::fs::read(dir.join(format!("phase/phase.{phase}.constitutional.json"))).unwrap()).unwrap();
        let external = record["auditors"].as_array().unwrap().iter().find(|a| a["name"] == "external").expect("the external court judged");
        assert_eq!(external["status"], "pass", "{phase}: {record}");
        // The court got the pack file itself.
        let given = std::fs::read(dir.join(format!("phase/phase.{phase}.external-input.json"))).unwrap();
        let pack = std::fs::read(dir.join(format!("phase/phase.{phase}.pack.json"))).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&given).unwrap(), serde_json::from_slice::<Value>(&pack).unwrap(), "{phase}");
    }
    assert_eq!(s.run(&["verify", &dir.display().to_string()]).status, 0, "the evidence verifies with the court's files");

    // Every pack carries the minimum schema under the constitution's names.
    let p50: Value = serde_json::from_slice(&std::fs::read(dir.join("phase/phase.P50.pack.json")).unwrap()).unwrap();
    assert_eq!(p50["command_name"], "checkout");
    assert_eq!(p50["phase_status"], "ok");
    assert_eq!(p50["command_rc"], 0);
    assert_eq!(p50["teardown_mode"], "delete");
    assert_eq!(p50["repo_url"], "repo");
    assert!(p50["transport_hint"].as_str().unwrap().starts_with("local:wf-"), "{p50}");
    assert!(p50["applicable_laws"].as_array().unwrap().iter().any(|l| l == "LAW_3_TARGET_RESOLUTION"), "{p50}");
    let p90: Value = serde_json::from_slice(&std::fs::read(dir.join("phase/phase.P90.pack.json")).unwrap()).unwrap();
    assert_eq!(p90["command_name"], "pod-delete");

    // A tampered pack fails, naming the law it breaks.
    let mut bad = p50.clone();
    bad["active_config_sha256"] = Value::String("0".repeat(64));
    let tampered = dir.join("tampered.json");
    std::fs::write(&tampered, serde_json::to_vec(&bad).unwrap()).unwrap();
    let v = judge(&dir, &tampered, "P50");
    assert_eq!((v["status"].as_str(), v["pass"].as_bool()), (Some("fail"), Some(false)), "{v}");
    assert_eq!(v["violated_laws"], serde_json::json!(["LAW_1_CANONICAL_CONFIG"]), "{v}");
    let mut drifted = p50.clone();
    drifted["transport_hint"] = Value::String("local:someone-else".into());
    std::fs::write(&tampered, serde_json::to_vec(&drifted).unwrap()).unwrap();
    let v = judge(&dir, &tampered, "P50");
    assert_eq!(v["violated_laws"], serde_json::json!(["LAW_3_TARGET_RESOLUTION"]), "{v}");
    std::fs::remove_file(&tampered).unwrap();
}

#[test]
fn a_court_that_says_unverified_or_exits_non_zero_fails_the_phase_and_aliases_are_laws() {
    // Exit 0 with `unverified` for input it cannot judge: the phase fails (Law 9).
    let mut s = Sandbox::new();
    s.write("court.sh", "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = --output ] && out=$2; shift; done\nprintf '{\"status\": \"unverified\", \"violations\": [\"cannot judge\"]}' > \"$out\"\n");
    // The court runs in the flow's evidence directory: its command names it absolutely.
    let cmd = format!("sh {}", s.root().join("court.sh").display());
    s.set("WF_SUBAGENT_VALIDATOR_CMD", &cmd);
    let run = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(run.status, 10, "{}", run.explain());
    assert_eq!(run.courts()[0].3, "unverified", "{}", run.explain());
    assert!(run.stderr.contains("external says unverified: cannot judge"), "{}", run.explain());
    // A non-zero exit: unverified too.
    s.write("court.sh", "#!/bin/sh\nexit 3\n");
    let run = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(run.status, 10, "{}", run.explain());
    assert_eq!(run.courts()[0].3, "unverified", "{}", run.explain());
    assert!(run.stderr.contains("exited with status 3"), "{}", run.explain());
    // A fail naming a law by its alias: the verdict names the law by id.
    s.write("court.sh", "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = --output ] && out=$2; shift; done\nprintf '{\"pass\": false, \"violations\": [\"nope\"], \"violated_laws\": [\"LAW_4_NONINTERACTIVE_SAFETY\"], \"remediation\": [\"a\", \"b\"]}' > \"$out\"\n");
    let run = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(run.status, 10, "{}", run.explain());
    assert_eq!(run.courts()[0].3, "fail", "{}", run.explain());
    let laws = run.verdict("P00")["violated_laws"].clone();
    assert!(laws.as_array().unwrap().iter().any(|l| l == "L4"), "{laws}");
    assert_eq!(s.run(&["verify", &run.flow_dir().display().to_string()]).status, 0);
}
