//! Each law's refusal, through the real binary with stdin closed.

use crate::harness::Sandbox;
use wfhost_constitution::{codes, Code};
use std::time::Duration;

fn p00_refusal(run: &crate::harness::Run, code: Code) {
    let code = code.get();
    assert_eq!(run.status, 10, "{}", run.explain());
    let statuses = run.statuses();
    assert_eq!(statuses.len(), 1, "nothing may run after a P00 refusal: {}", run.explain());
    assert_eq!(statuses[0], ("P00".to_string(), "fail".to_string(), code), "{}", run.explain());
    let courts = run.courts();
    assert_eq!(courts[0].1, "fail");
    let summary = run.summary();
    assert_eq!(summary["first_failure_code"], code);
}

#[test]
fn law1_override_is_refused_without_allow_override() {
    let mut s = Sandbox::new();
    s.write("other.env", "WF_CONSTITUTION_VERSION=1\n");
    s.env.push(("WORKFLOW_CONFIG".into(), s.root().join("other.env").display().to_string()));
    let run = s.run(&["flow", "--yes"]);
    p00_refusal(&run, codes::OVERRIDE_REFUSED);
    assert!(s.pods().is_empty());
    // With WF_ALLOW_OVERRIDE=1 the override is used, and said so in the header.
    s.env.push(("WF_ALLOW_OVERRIDE".into(), "1".into()));
    let run = s.run(&["flow", "--yes", "--sweep", "skip", "--provision", "skip"]);
    assert_eq!(run.header("override_enabled"), Some("1"), "{}", run.explain());
    assert!(run.header("active_config_path").unwrap().ends_with("other.env"));
}

#[test]
fn law4_no_consent_no_terminal_fails_in_p00_before_anything_is_created() {
    let s = Sandbox::new();
    let run = s.run(&["flow"]);
    p00_refusal(&run, codes::CONSENT_MISSING);
    assert!(s.pods().is_empty(), "no pod may be created without consent");
}

#[test]
fn law9_the_court_cannot_be_switched_off() {
    let mut s = Sandbox::new();
    s.set("WF_PHASE_COURT_ENFORCE", "0");
    let run = s.run(&["flow", "--yes"]);
    p00_refusal(&run, codes::COURT_DISABLED);
}

#[test]
fn unknown_teardown_value_is_refused_in_p00() {
    let s = Sandbox::new();
    let run = s.run(&["flow", "--yes", "--teardown=destroy"]);
    p00_refusal(&run, codes::FLAGS_ILLEGAL);
    assert!(run.verdict("P00")["halt_reason"].as_str().unwrap().contains("--teardown \"destroy\""));
}

#[test]
fn missing_repo_url_is_refused_in_p00() {
    let mut s = Sandbox::new();
    s.unset("REPO_URL");
    let run = s.run(&["flow", "--yes"]);
    p00_refusal(&run, codes::REQUIRED_VAR_MISSING);
    assert!(run.verdict("P00")["halt_reason"].as_str().unwrap().contains("REPO_URL"));
}

#[test]
fn a_number_past_its_documented_maximum_is_refused_in_p00_naming_the_key_and_the_maximum() {
    // WF_PHASE_TIMEOUT_P60=18446744073709551615 once passed P00 and panicked with "overflow when
    // adding duration to instant" as P60 started. Every numeric key has a documented maximum
    // (constitution/config.toml) that P00 enforces, before anything is created.
    let vocabulary = wfhost_constitution::Vocabulary::get().unwrap();
    let max_of = |name: &str| -> u64 {
        let kind = match vocabulary.key(name) {
            Some(k) => &k.kind,
            None => &vocabulary.pattern_for(name).unwrap_or_else(|| panic!("{name} is not in the vocabulary")).kind,
        };
        match kind {
            wfhost_constitution::Kind::Uint { max: Some(max), .. } => *max,
            // A decimal's whole maximum (in seconds), e.g. WF_MONITOR_POLL_SECS.
            wfhost_constitution::Kind::Decimal { max_millis: Some(max), .. } if max % 1000 == 0 => max / 1000,
            other => panic!("{name} is {other:?}, not a bounded uint or a whole-bounded decimal"),
        }
    };
    let cases = [
        ("WF_PHASE_TIMEOUT_P60", u64::MAX.to_string()),
        ("SWEEP_MAX_PARALLEL", (max_of("SWEEP_MAX_PARALLEL") + 1).to_string()),
        ("WF_MONITOR_POLL_SECS", (max_of("WF_MONITOR_POLL_SECS") + 1).to_string()),
        ("WF_AUDITOR_FUEL", (max_of("WF_AUDITOR_FUEL") + 1).to_string()),
        ("WF_AUDITOR_MEMORY_MB", (max_of("WF_AUDITOR_MEMORY_MB") + 1).to_string()),
    ];
    for (key, value) in cases {
        let mut s = Sandbox::new();
        s.set(key, &value);
        let run = s.run(&["flow", "--yes"]);
        p00_refusal(&run, codes::CONFIG_INVALID);
        let reason = run.verdict("P00")["halt_reason"].as_str().unwrap_or_default().to_string();
        let max = max_of(key);
        assert!(reason.contains(&format!("{key}=\"{value}\"")), "{key}: {reason}");
        assert!(reason.contains(&format!("at most {max}")), "{key}: {reason}");
        assert!(!run.stderr.contains("panicked"), "{}", run.explain());
        assert!(s.pods().is_empty(), "{key}: nothing may be created");
        // The maximum itself is accepted: P00 passes it (the sweep is skipped to stay quick).
        s.set(key, &max.to_string());
        let ok = s.run(&["flow", "--yes", "--sweep", "skip", "--teardown", "delete"]);
        assert_eq!(ok.status, 0, "{key}={max}: {}", ok.explain());
    }
}

#[test]
fn law3_a_target_that_changes_mid_run_halts_the_flow() {
    let mut s = Sandbox::new();
    // The bootstrap script (run on the local "pod") rewrites the config's target mid-run.
    let cfg = s.root().join("infra_scripts/workflow.env").display().to_string();
    s.write("bootstrap.sh", &format!("echo LIUM_TARGET=someone-elses-pod >> '{cfg}'\n"));
    s.set("BOOTSTRAP_SCRIPT", "bootstrap.sh");
    let run = s.run(&["flow", "--yes"]);
    assert_eq!(run.status, 30, "{}", run.explain());
    let last = run.statuses().last().cloned().unwrap();
    assert_eq!(last.0, "P40");
    let verdict = run.verdict("P40");
    assert_eq!(verdict["deterministic"], "fail");
    assert!(verdict["halt_reason"].as_str().unwrap().contains("config_unchanged"), "{verdict}");
    assert!(verdict["violated_laws"].as_array().unwrap().iter().any(|l| l == "L1"), "{verdict}");
}

#[test]
fn a_dirty_checkout_needs_checkout_force_clean() {
    let mut s = Sandbox::new();
    let first = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(first.status, 0, "{}", first.explain());
    let pod = s.pods()[0].clone();
    let checkout = s.root().join(".wfhost/pods").join(&pod).join("root/mnt/repo");
    std::fs::write(checkout.join("README"), "local edit\n").unwrap();
    s.set("LIUM_TARGET", &pod);
    let dirty = s.run(&["flow", "--provision", "skip", "--sweep", "skip"]);
    assert_eq!(dirty.status, 30, "{}", dirty.explain());
    assert_eq!(dirty.statuses().last().unwrap().2, codes::CHECKOUT_DIRTY.get());
    assert_eq!(std::fs::read_to_string(checkout.join("README")).unwrap(), "local edit\n", "nothing discarded without consent");
    s.set("CHECKOUT_FORCE_CLEAN", "1");
    let forced = s.run(&["flow", "--provision", "skip", "--sweep", "skip"]);
    assert_eq!(forced.status, 0, "{}", forced.explain());
    assert_eq!(std::fs::read_to_string(checkout.join("README")).unwrap(), "test experiment\n");
}

#[test]
fn a_hanging_phase_is_bounded_by_its_timeout() {
    let mut s = Sandbox::new();
    s.write("bootstrap.sh", "sleep 600\n");
    s.set("BOOTSTRAP_SCRIPT", "bootstrap.sh");
    s.set("WF_PHASE_TIMEOUT_P40", "3");
    let run = s.run_with_limit(&["flow", "--yes"], Duration::from_secs(60));
    assert_eq!(run.status, 30, "{}", run.explain());
    let last = run.statuses().last().cloned().unwrap();
    assert_eq!((last.0.as_str(), last.2), ("P40", codes::PHASE_TIMEOUT_3XX.get()), "{}", run.explain());
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
}

#[test]
fn a_hostile_auditor_halts_the_flow_at_the_first_court() {
    let mut s = Sandbox::new();
    let hostile = wfhost_builtins::components_dir().join("hostile_runtime.wasm");
    assert!(hostile.exists(), "{} is built by wfhost-builtins' build script", hostile.display());
    s.set("WF_AUDITORS", &format!("constitution,{}", hostile.display()));
    s.set("WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS", "2");
    let run = s.run_with_limit(&["flow", "--yes"], Duration::from_secs(60));
    assert_eq!(run.status, 10, "{}", run.explain());
    let courts = run.courts();
    assert_eq!(courts.len(), 1, "the flow must stop at the first court: {}", run.explain());
    assert_eq!((courts[0].2.as_str(), courts[0].3.as_str()), ("pass", "unverified"));
    assert_eq!(run.statuses()[0].1, "ok", "P00 itself succeeded; the court halted it");
    assert_eq!(run.verdict("P00")["code"], codes::COURT_AUDITOR_FAIL_1XX.get());
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(run.flow_dir().join("phase/phase.P00.constitutional.json")).unwrap()).unwrap();
    let hostile_record = &c["auditors"][1];
    assert_eq!(hostile_record["status"], "unverified", "{c}");
    let kind = hostile_record["reason_kind"].as_str().unwrap();
    assert!(["fuel_exhausted", "deadline"].contains(&kind), "a spinning auditor runs out of fuel or time, not {kind}");
    assert_eq!(c["auditors"][0]["status"], "pass", "the built-in auditor still passed P00: {c}");
    assert!(s.pods().is_empty());
}

#[test]
fn stdout_is_only_the_contract_lines() {
    let s = Sandbox::new();
    let run = s.run(&["flow", "--yes", "--sweep", "skip", "--teardown", "delete"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    for line in run.stdout.lines() {
        let key = line.split('=').next().unwrap();
        assert!(
            line.starts_with("PHASE=")
                || ["WF_CONSTITUTION_VERSION", "active_config_path", "active_config_sha256", "override_enabled", "resolved_target", "target_source", "transport", "remote_env_path", "fsm_state_file", "flow_id"].contains(&key),
            "unexpected stdout line: {line}"
        );
    }
}

#[test]
fn a_target_that_does_not_exist_halts_p20_with_205_and_no_delete_advice() {
    let mut s = Sandbox::new();
    s.set("LIUM_TARGET", "ghost-pod");
    let run = s.run(&["flow", "--provision", "skip"]);
    assert_eq!(run.status, 20, "{}", run.explain());
    // Binding reads the remote FSM: a target that is gone is told at once, not taken for a
    // fresh pod.
    assert_eq!(run.statuses().last().unwrap(), &("P20".to_string(), "fail".to_string(), codes::POD_VANISHED_2XX.get()));
    let summary = run.summary();
    assert!(summary["pod_state"].as_str().unwrap().starts_with("vanished"), "{summary}");
    assert!(summary["delete_command"].is_null(), "{summary}");
}

#[test]
fn sweep_skip_without_a_repository_skips_checkout_and_sweep_and_passes() {
    // A pod used only for its environment: nothing to check out, nothing to sweep. The skipped
    // phases' preconditions (a checkout before a sweep) are not asked of them.
    let mut s = Sandbox::new();
    s.unset("REPO_URL");
    let run = s.run(&["flow", "--yes", "--sweep", "skip", "--teardown", "delete"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let statuses = run.statuses();
    for (phase, want) in [("P50", "skip"), ("P60", "skip"), ("P40", "ok"), ("P90", "ok")] {
        let got = statuses.iter().find(|(p, _, _)| p == phase).map(|(_, st, _)| st.as_str());
        assert_eq!(got, Some(want), "{phase}: {}", run.explain());
    }
    let verify = s.run(&["verify", &run.flow_dir().display().to_string()]);
    assert_eq!(verify.status, 0, "{}", verify.explain());
}
