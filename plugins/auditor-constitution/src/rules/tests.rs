//! Tests for every rule of the auditor, passing and failing.

use super::*;
use crate::model::{Artifact, FlowFlags, Law, Outcome};
use wfhost_pack_sdk::verdict::Status;

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// Applicable laws per phase, as in constitution/phases.toml.
fn laws_of(phase: &str) -> Vec<String> {
    let laws: &[&str] = match phase {
        "P00" => &["L1", "L2", "L4", "L5", "L9"],
        "P10" => &["L3", "L4", "L5", "L6", "L9"],
        "P20" => &["L3", "L5", "L9"],
        "P40" => &["L3", "L5", "L6", "L9", "L10"],
        "P90" => &["L3", "L5", "L7", "L9"],
        "P99" => &["L6", "L7", "L9"],
        _ => &["L3", "L5", "L6", "L9"],
    };
    laws.iter().map(|s| s.to_string()).collect()
}

/// Facts a passing phase reports.
fn good_facts(phase: &str) -> Vec<(String, String)> {
    match phase {
        "P50" => vec![
            kv("repo_url", "/src/repo.git"),
            kv("ref", "main"),
            kv("commit", COMMIT),
            kv("checks_run", "0"),
        ],
        "P60" => vec![
            kv("manifest_sha256", SHA_B),
            kv("runs_selected", "3"),
            kv("mode", "start"),
        ],
        "P70" => vec![
            kv("total", "4"),
            kv("ok", "2"),
            kv("failed", "1"),
            kv("running", "1"),
            kv("pending", "0"),
            kv("lost", "0"),
            kv("complete", "false"),
        ],
        "P90" => vec![kv("deleted", "false")],
        _ => vec![],
    }
}

/// A pack that every rule accepts.
fn pack(phase: &str) -> AuditRequest {
    let after_bind = phase > "P20";
    let laws = laws_of(phase);
    AuditRequest {
        laws: (1..=10)
            .map(|i| Law {
                id: format!("L{i}"),
                title: format!("law {i}"),
                text: format!("text of law {i}"),
            })
            .collect(),
        pack: EvidencePack {
            flow_id: "20240101T000000Z-abcd1234".into(),
            phase: phase.into(),
            constitution_version: 1,
            applicable_laws: laws,
            config_sha256_at_start: SHA_A.into(),
            config_sha256: SHA_A.into(),
            transport: "local".into(),
            bound_target: after_bind.then(|| "pod-1".to_string()),
            phase_target: after_bind.then(|| "pod-1".to_string()),
            target_source: if after_bind {
                "autobind".into()
            } else {
                "pending".into()
            },
            outcome: Outcome {
                phase: phase.into(),
                status: PhaseStatus::Ok,
                code: 0,
                message: "done".into(),
                artifacts: vec![Artifact::default()],
                facts: good_facts(phase),
                details_json: None,
            },
            flow_flags: FlowFlags {
                provision: ProvisionMode::Skip,
                wait: true,
                ..FlowFlags::default()
            },
            consent: false,
            config: vec![kv("WF_PHASE_COURT_ENFORCE", "1")],
            fsm_before: "INIT".into(),
            fsm_after: "INIT".into(),
            deterministic_pass: true,
            deterministic_findings: vec![],
        },
    }
}

fn judge(req: &AuditRequest) -> VerdictParts {
    audit(req)
}

fn set_fact(req: &mut AuditRequest, key: &str, value: &str) {
    let facts = &mut req.pack.outcome.facts;
    facts.retain(|(k, _)| k != key);
    facts.push(kv(key, value));
}

fn remove_fact(req: &mut AuditRequest, key: &str) {
    req.pack.outcome.facts.retain(|(k, _)| k != key);
}

/// Provision `auto` (else `skip`) and teardown `delete` (else `keep`).
fn set_flag(req: &mut AuditRequest, key: &str, value: &str) {
    let flags = &mut req.pack.flow_flags;
    match key {
        "provision" if value == "auto" => flags.provision = ProvisionMode::Auto,
        "teardown" if value == "delete" => flags.teardown = TeardownMode::Delete,
        _ => panic!("no flag {key}={value} in these tests"),
    }
}

fn fail_of(req: &mut AuditRequest, code: u16) {
    req.pack.outcome.status = PhaseStatus::Fail;
    req.pack.outcome.code = code;
}

#[track_caller]
fn assert_pass(v: &VerdictParts) {
    assert_eq!(v.status, Status::Pass, "expected pass, got {v:#?}");
    assert!(v.violated_laws.is_empty());
    assert!(!v.reasons.is_empty(), "a pass says what was judged");
}

#[track_caller]
fn assert_fails(v: &VerdictParts, law: &str, evidence: &str) {
    assert_eq!(v.status, Status::Fail, "expected fail, got {v:#?}");
    assert!(
        v.violated_laws.iter().any(|l| l == law),
        "{law} not in {:?}",
        v.violated_laws
    );
    assert!(
        v.evidence_refs.iter().any(|r| r == evidence),
        "{evidence} not in {:?}",
        v.evidence_refs
    );
    assert!(
        v.reasons.iter().any(|r| r.starts_with(&format!("{law}: "))),
        "{:?}",
        v.reasons
    );
    assert!(!v.remediation.is_empty());
}

// ------------------------------------------------------------------ passing packs

#[test]
fn every_phase_passes_with_good_evidence() {
    for phase in [
        "P00", "P10", "P20", "P30", "P40", "P50", "P60", "P70", "P80", "P90", "P99",
    ] {
        let v = judge(&pack(phase));
        assert_pass(&v);
        assert!(v.reasons[0].starts_with(phase), "{:?}", v.reasons);
    }
}

#[test]
fn pass_note_names_judged_and_unjudged_laws() {
    let v = judge(&pack("P40"));
    assert_pass(&v);
    assert_eq!(
        v.reasons[0],
        "P40 judged against L3, L5, L9; L6, L10 left to the deterministic validator."
    );
}

#[test]
fn skip_with_code_zero_passes() {
    let mut r = pack("P80");
    r.pack.outcome.status = PhaseStatus::Skip;
    assert_pass(&judge(&r));
}

// ------------------------------------------------------------------ L5 required fields

#[test]
fn missing_flow_id_fails_l5() {
    let mut r = pack("P30");
    r.pack.flow_id = " ".into();
    assert_fails(&judge(&r), "L5", "pack.flow-id");
}

#[test]
fn unknown_phase_fails_l5() {
    let mut r = pack("P35");
    r.pack.applicable_laws = vec!["L5".into()];
    let v = judge(&r);
    assert_fails(&v, "L5", "pack.phase");
    assert!(v
        .reasons
        .iter()
        .any(|x| x.contains("not in constitution/phases.toml")));
}

#[test]
fn empty_phase_fails_l5() {
    let mut r = pack("P30");
    r.pack.phase = String::new();
    r.pack.outcome.phase = String::new();
    assert_fails(&judge(&r), "L5", "pack.phase");
}

#[test]
fn malformed_config_hashes_fail_l5() {
    let mut r = pack("P30");
    r.pack.config_sha256 = "nothex".into();
    r.pack.config_sha256_at_start = String::new();
    let v = judge(&r);
    assert_fails(&v, "L5", "pack.config-sha256");
    assert_fails(&v, "L5", "pack.config-sha256-at-start");
}

#[test]
fn missing_transport_fails_l5() {
    let mut r = pack("P30");
    r.pack.transport = String::new();
    assert_fails(&judge(&r), "L5", "pack.transport");
}

#[test]
fn outcome_for_another_phase_fails_l5() {
    let mut r = pack("P30");
    r.pack.outcome.phase = "P40".into();
    assert_fails(&judge(&r), "L5", "outcome.phase");
}

// ------------------------------------------------------------------ L5 outcome codes

#[test]
fn ok_with_nonzero_code_fails_l5() {
    let mut r = pack("P40");
    r.pack.outcome.code = 300;
    assert_fails(&judge(&r), "L5", "outcome.code");
}

#[test]
fn skip_with_nonzero_code_fails_l5() {
    let mut r = pack("P80");
    r.pack.outcome.status = PhaseStatus::Skip;
    r.pack.outcome.code = 500;
    assert_fails(&judge(&r), "L5", "outcome.code");
}

#[test]
fn fail_with_code_zero_fails_l5() {
    let mut r = pack("P40");
    fail_of(&mut r, 0);
    assert_fails(&judge(&r), "L5", "outcome.code");
}

#[test]
fn fail_with_code_of_its_family_passes() {
    for (phase, code) in [
        ("P10", 200),
        ("P30", 204),
        ("P40", 300),
        ("P50", 304),
        ("P60", 401),
        ("P70", 402),
        ("P80", 501),
        ("P90", 502),
        ("P00", 104),
    ] {
        let mut r = pack(phase);
        fail_of(&mut r, code);
        assert_pass(&judge(&r));
    }
}

#[test]
fn fail_with_code_of_another_family_fails_l5() {
    let mut r = pack("P50");
    fail_of(&mut r, 205);
    let v = judge(&r);
    assert_fails(&v, "L5", "outcome.code");
    assert!(
        v.reasons.iter().any(|x| x.contains("family 3")),
        "{:?}",
        v.reasons
    );
}

#[test]
fn fail_with_undefined_code_fails_l5() {
    let mut r = pack("P40");
    fail_of(&mut r, 398);
    let v = judge(&r);
    assert_fails(&v, "L5", "outcome.code");
    assert!(v.reasons.iter().any(|x| x.contains("not defined")));
}

// ------------------------------------------------------------------ L5 phase facts

#[test]
fn checkout_ok_without_repo_url_fails_l5() {
    let mut r = pack("P50");
    remove_fact(&mut r, "repo_url");
    assert_fails(&judge(&r), "L5", "facts.repo_url");
}

#[test]
fn checkout_ok_with_bad_commit_fails_l5() {
    let mut r = pack("P50");
    set_fact(&mut r, "commit", "main");
    assert_fails(&judge(&r), "L5", "facts.commit");
}

#[test]
fn checkout_fail_needs_no_facts() {
    let mut r = pack("P50");
    r.pack.outcome.facts.clear();
    fail_of(&mut r, 304);
    assert_pass(&judge(&r));
}

#[test]
fn sweep_ok_without_manifest_sha_fails_l5() {
    let mut r = pack("P60");
    remove_fact(&mut r, "manifest_sha256");
    assert_fails(&judge(&r), "L5", "facts.manifest_sha256");
}

#[test]
fn sweep_ok_with_odd_facts_fails_l5() {
    let mut r = pack("P60");
    set_fact(&mut r, "manifest_sha256", "abc");
    set_fact(&mut r, "runs_selected", "many");
    let v = judge(&r);
    assert_fails(&v, "L5", "facts.manifest_sha256");
    assert_fails(&v, "L5", "facts.runs_selected");
}

#[test]
fn sweep_skip_needs_no_facts() {
    let mut r = pack("P60");
    r.pack.outcome.facts.clear();
    r.pack.outcome.status = PhaseStatus::Skip;
    assert_pass(&judge(&r));
}

// ------------------------------------------------------------------ L5 monitor counts

#[test]
fn counts_with_lost_apart_pass() {
    let mut r = pack("P70");
    set_fact(&mut r, "total", "5");
    set_fact(&mut r, "lost", "1");
    assert_pass(&judge(&r));
}

#[test]
fn counts_that_do_not_add_up_fail_l5() {
    let mut r = pack("P70");
    set_fact(&mut r, "total", "9");
    let v = judge(&r);
    assert_fails(&v, "L5", "facts.total");
    assert!(v.reasons.iter().any(|x| x.contains("total 9")));
}

#[test]
fn non_numeric_counts_fail_l5_without_panic() {
    let mut r = pack("P70");
    set_fact(&mut r, "running", "two");
    set_fact(&mut r, "lost", "-1");
    let v = judge(&r);
    assert_fails(&v, "L5", "facts.running");
    assert_fails(&v, "L5", "facts.lost");
}

#[test]
fn overflowing_counts_fail_l5_without_panic() {
    let mut r = pack("P70");
    set_fact(&mut r, "ok", &u64::MAX.to_string());
    set_fact(&mut r, "failed", &u64::MAX.to_string());
    assert_fails(&judge(&r), "L5", "facts.total");
}

#[test]
fn monitor_ok_without_counts_fails_l5() {
    let mut r = pack("P70");
    remove_fact(&mut r, "pending");
    assert_fails(&judge(&r), "L5", "facts.pending");
}

#[test]
fn monitor_fail_without_counts_passes() {
    let mut r = pack("P70");
    r.pack.outcome.facts.clear();
    fail_of(&mut r, 405);
    assert_pass(&judge(&r));
}

#[test]
fn complete_sweep_with_running_runs_fails_l5() {
    let mut r = pack("P70");
    set_fact(&mut r, "complete", "true");
    assert_fails(&judge(&r), "L5", "facts.complete");
}

// ------------------------------------------------------------------ L1

#[test]
fn changed_config_fails_l1_where_it_applies() {
    let mut r = pack("P00");
    r.pack.config_sha256 = SHA_B.into();
    let v = judge(&r);
    assert_fails(&v, "L1", "pack.config-sha256");
    assert!(v.remediation.contains("workflow.env"));
}

#[test]
fn l1_is_not_judged_where_it_does_not_apply() {
    let mut r = pack("P40");
    r.pack.config_sha256 = SHA_B.into();
    assert_pass(&judge(&r));
}

// ------------------------------------------------------------------ L9

#[test]
fn court_switched_off_fails_l9() {
    let mut r = pack("P30");
    r.pack.config = vec![kv("WF_PHASE_COURT_ENFORCE", "0")];
    assert_fails(&judge(&r), "L9", "config.WF_PHASE_COURT_ENFORCE");
    r.pack.config.clear();
    assert_fails(&judge(&r), "L9", "config.WF_PHASE_COURT_ENFORCE");
}

#[test]
fn deterministic_failure_fails_l9_with_its_findings() {
    let mut r = pack("P30");
    r.pack.deterministic_pass = false;
    r.pack.deterministic_findings = vec!["target_unchanged: acted on pod-2".into()];
    let v = judge(&r);
    assert_fails(&v, "L9", "pack.deterministic-pass");
    assert!(v.reasons.iter().any(|x| x.contains("acted on pod-2")));
}

// ------------------------------------------------------------------ L3

#[test]
fn target_drift_after_bind_fails_l3() {
    let mut r = pack("P50");
    r.pack.phase_target = Some("pod-2".into());
    let v = judge(&r);
    assert_fails(&v, "L3", "pack.phase-target");
    assert!(v.remediation.contains("new flow"));
}

#[test]
fn missing_phase_target_is_not_drift() {
    let mut r = pack("P90");
    r.pack.phase_target = None;
    assert_pass(&judge(&r));
}

#[test]
fn pending_target_source_after_bind_fails_l3() {
    let mut r = pack("P30");
    r.pack.target_source = "pending".into();
    assert_fails(&judge(&r), "L3", "pack.target-source");
    r.pack.target_source = "explicit".into();
    assert_pass(&judge(&r));
}

#[test]
fn target_rules_do_not_apply_before_bind() {
    let mut r = pack("P10");
    r.pack.phase_target = Some("pod-9".into());
    r.pack.bound_target = Some("pod-1".into());
    assert_pass(&judge(&r));
}

#[test]
fn provisioning_despite_explicit_target_fails_l3() {
    let mut r = pack("P10");
    set_flag(&mut r, "provision", "auto");
    r.pack.consent = true;
    set_fact(&mut r, "target", "wf-abcd1234");
    r.pack.config.push(kv("LIUM_TARGET", "pod-1"));
    assert_fails(&judge(&r), "L3", "facts.target");
}

// ------------------------------------------------------------------ L4

#[test]
fn provision_without_consent_fails_l4() {
    let mut r = pack("P10");
    set_flag(&mut r, "provision", "auto");
    set_fact(&mut r, "target", "wf-abcd1234");
    let v = judge(&r);
    assert_fails(&v, "L4", "flags.consent");
    assert!(v.remediation.contains("--yes"));
    assert!(v.reasons.iter().any(|r| r.contains("without consent")), "{v:#?}");
}

#[test]
fn provision_with_consent_passes() {
    let mut r = pack("P10");
    set_flag(&mut r, "provision", "auto");
    r.pack.consent = true;
    set_fact(&mut r, "target", "wf-abcd1234");
    assert_pass(&judge(&r));
}

#[test]
fn skipped_or_failed_provision_needs_no_consent() {
    let mut r = pack("P10");
    set_flag(&mut r, "provision", "auto");
    r.pack.outcome.status = PhaseStatus::Skip;
    assert_pass(&judge(&r));
    fail_of(&mut r, 200);
    assert_pass(&judge(&r));
}

// ------------------------------------------------------------------ L7

#[test]
fn deleting_with_teardown_keep_fails_l7() {
    let mut r = pack("P90");
    set_fact(&mut r, "deleted", "true");
    let v = judge(&r);
    assert_fails(&v, "L7", "facts.deleted");
    assert!(v.remediation.contains("--teardown delete"));
}

#[test]
fn deleting_after_a_failure_without_the_flag_fails_l7() {
    let mut r = pack("P90");
    set_fact(&mut r, "deleted", "true");
    fail_of(&mut r, 502);
    assert_fails(&judge(&r), "L7", "facts.deleted");
}

#[test]
fn teardown_delete_that_kept_the_pod_fails_l7() {
    let mut r = pack("P90");
    set_flag(&mut r, "teardown", "delete");
    assert_fails(&judge(&r), "L7", "facts.deleted");
}

#[test]
fn teardown_delete_that_deleted_passes() {
    let mut r = pack("P90");
    set_flag(&mut r, "teardown", "delete");
    set_fact(&mut r, "deleted", "true");
    assert_pass(&judge(&r));
}

#[test]
fn failed_delete_that_kept_the_pod_passes() {
    let mut r = pack("P90");
    set_flag(&mut r, "teardown", "delete");
    fail_of(&mut r, 502);
    assert_pass(&judge(&r));
}

#[test]
fn teardown_ok_without_deleted_fact_fails_l7() {
    let mut r = pack("P90");
    remove_fact(&mut r, "deleted");
    assert_fails(&judge(&r), "L7", "facts.deleted");
}

#[test]
fn odd_deleted_fact_fails_l7() {
    let mut r = pack("P90");
    set_fact(&mut r, "deleted", "perhaps");
    assert_fails(&judge(&r), "L7", "facts.deleted");
}

#[test]
fn l7_judges_only_p90_facts() {
    let mut r = pack("P99");
    set_fact(&mut r, "deleted", "true");
    assert_pass(&judge(&r));
}

// ------------------------------------------------------------------ unverified and mixed

#[test]
fn unknown_constitution_version_is_unverified() {
    let mut r = pack("P30");
    r.pack.constitution_version = 2;
    let v = judge(&r);
    assert_eq!(v.status, Status::Unverified);
    assert!(v.reasons[0].contains("version 2"));
    assert!(!v.remediation.is_empty());
}

#[test]
fn missing_law_text_is_unverified() {
    let mut r = pack("P30");
    r.laws.retain(|l| l.id != "L3");
    let v = judge(&r);
    assert_eq!(v.status, Status::Unverified);
    assert!(v.reasons[0].contains("L3"));
}

#[test]
fn several_findings_give_one_reason_each_and_all_laws() {
    let mut r = pack("P90");
    set_fact(&mut r, "deleted", "true");
    r.pack.phase_target = Some("other".into());
    r.pack.outcome.code = 7;
    let v = judge(&r);
    assert_eq!(v.violated_laws, vec!["L3", "L5", "L7"]);
    assert_eq!(v.reasons.len(), 3, "{:?}", v.reasons);
    assert_eq!(
        v.evidence_refs,
        vec!["outcome.code", "pack.phase-target", "facts.deleted"]
    );
}

#[test]
fn no_applicable_laws_passes_with_a_note() {
    let mut r = pack("P30");
    r.pack.applicable_laws.clear();
    r.pack.outcome.code = 999;
    let v = judge(&r);
    assert_pass(&v);
    assert!(v.reasons[0].contains("no law"));
}

#[test]
fn description_names_version() {
    assert!(crate::description().contains("constitution v1"));
}
