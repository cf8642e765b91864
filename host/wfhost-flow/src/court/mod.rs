//! The court: after every phase, a deterministic validator AND every auditor must pass.
//!
//! ```text
//! phase outcome ─► deterministic::run (Rust, named checks from phases.toml)
//!              └─► evidence_pack ─► each auditor component (sandboxed, fuel + deadline)
//!                               └─► WF_SUBAGENT_VALIDATOR_CMD, if configured (hard timeout)
//! CourtResult::merge: pass = deterministic pass AND every auditor pass.
//! ```
//!
//! Anything other than `pass` from an auditor — `fail`, `unverified`, a crash, a timeout,
//! malformed output — fails the phase (Law 9).

pub mod deterministic;
pub mod external;

use wfhost_config::config::Config;
use wfhost_config::flags::Flags;
use crate::plugins::Plugins;
use crate::types::{AuditRequest, EvidencePack, Kv, Law, PhaseOutcome, Verdict, VerdictStatus};
use serde_json::{json, Value};
use std::path::Path;
use wfhost_constitution::{Constitution, Phase};

/// What one auditor said.
#[derive(Debug, Clone)]
pub struct AuditorRecord {
    /// Auditor name (built-in name, .wasm path, or `external`).
    pub name: String,
    /// Its status.
    pub status: VerdictStatus,
    /// Its verdict, when it returned one that parsed.
    pub verdict: Option<Verdict>,
    /// Why it is unverified (`fuel_exhausted`, `deadline`, `trap`, ...), when it is.
    pub reason_kind: Option<String>,
    /// Human-readable detail.
    pub message: String,
    /// Fuel the call used, when known.
    pub fuel_used: Option<u64>,
    /// Wall time of the call.
    pub duration_ms: u64,
}

/// Every auditor's record for one phase.
#[derive(Debug, Clone, Default)]
pub struct Constitutional {
    /// One per auditor, in configured order.
    pub records: Vec<AuditorRecord>,
}

impl Constitutional {
    /// pass only when there is at least one auditor and all passed; fail when any failed;
    /// otherwise unverified.
    pub fn status(&self) -> VerdictStatus {
        if self.records.is_empty() {
            return VerdictStatus::Unverified;
        }
        if self.records.iter().any(|r| r.status == VerdictStatus::Fail) {
            VerdictStatus::Fail
        } else if self.records.iter().all(|r| r.status == VerdictStatus::Pass) {
            VerdictStatus::Pass
        } else {
            VerdictStatus::Unverified
        }
    }

    /// `pass`, `fail` or `unverified`.
    pub fn status_str(&self) -> &'static str {
        verdict_str(self.status())
    }

    /// Reasons of every auditor that did not pass.
    pub fn reasons(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| r.status != VerdictStatus::Pass)
            .map(|r| {
                let detail = r
                    .verdict
                    .as_ref()
                    .map(|v| v.reasons.join("; "))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| r.message.clone());
                format!("{} says {}: {detail}", r.name, verdict_str(r.status))
            })
            .collect()
    }

    /// Union of violated law IDs, in first-seen order.
    pub fn violated_laws(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.records {
            let laws = r.verdict.as_ref().map(|v| v.violated_laws.clone()).unwrap_or_default();
            for l in laws {
                if !out.contains(&l) {
                    out.push(l);
                }
            }
            if r.status == VerdictStatus::Unverified && !out.iter().any(|l| l == "L9") {
                out.push("L9".into());
            }
        }
        out
    }

    /// The `.constitutional.json` document.
    pub fn to_json(&self, phase: &str) -> Value {
        json!({
            "phase": phase,
            "status": self.status_str(),
            "auditors": self.records.iter().map(|r| json!({
                "name": r.name,
                "status": verdict_str(r.status),
                "reason_kind": r.reason_kind,
                "message": r.message,
                "fuel_used": r.fuel_used,
                "duration_ms": r.duration_ms,
                "verdict": r.verdict,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The court's merged decision for a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CourtResult {
    /// Whether the next phase may start.
    pub pass: bool,
}

impl CourtResult {
    /// Fail-closed merge.
    pub fn merge(deterministic_pass: bool, constitutional: &Constitutional) -> CourtResult {
        CourtResult { pass: deterministic_pass && constitutional.status() == VerdictStatus::Pass }
    }
}

/// `pass`, `fail`, `unverified`.
pub fn verdict_str(s: VerdictStatus) -> &'static str {
    match s {
        VerdictStatus::Pass => "pass",
        VerdictStatus::Fail => "fail",
        VerdictStatus::Unverified => "unverified",
    }
}

/// Inputs of [`evidence_pack`].
pub struct PackInput<'a> {
    /// The constitution.
    pub c: &'a Constitution,
    /// The phase judged.
    pub phase: &'a Phase,
    /// Flow id.
    pub flow_id: &'a str,
    /// The config, when it loaded.
    pub config: Option<&'a Config>,
    /// Config sha256 at P00.
    pub config_sha_start: &'a str,
    /// Config sha256 now.
    pub config_sha_now: Option<&'a str>,
    /// Transport id.
    pub transport: String,
    /// Bound target.
    pub bound_target: Option<String>,
    /// Target the phase acted on.
    pub phase_target: Option<String>,
    /// explicit|autobind|pending.
    pub target_source: &'a str,
    /// The outcome.
    pub outcome: &'a PhaseOutcome,
    /// Flags.
    pub flags: &'a Flags,
    /// Consent given.
    pub consent: bool,
    /// FSM before.
    pub fsm_before: &'a str,
    /// FSM after.
    pub fsm_after: &'a str,
    /// Deterministic result.
    pub det_pass: bool,
    /// Failed checks.
    pub findings: Vec<String>,
}

/// Build the evidence pack auditors judge.
pub fn evidence_pack(i: PackInput<'_>) -> EvidencePack {
    let mut flags: Vec<Kv> = i.flags.to_pairs().into_iter().map(|(key, value)| Kv { key, value }).collect();
    flags.push(Kv { key: "consent".into(), value: i.consent.to_string() });
    EvidencePack {
        flow_id: i.flow_id.to_string(),
        phase: i.phase.id.to_string(),
        constitution_version: i.c.version,
        applicable_laws: i.phase.laws.clone(),
        config_sha256_at_start: i.config_sha_start.to_string(),
        config_sha256: i.config_sha_now.unwrap_or("").to_string(),
        transport: i.transport,
        bound_target: i.bound_target,
        phase_target: i.phase_target,
        target_source: i.target_source.to_string(),
        outcome: i.outcome.clone(),
        flow_flags: flags,
        config: i
            .config
            .map(|c| c.public_entries().into_iter().map(|(key, value)| Kv { key, value }).collect())
            .unwrap_or_default(),
        fsm_before: i.fsm_before.to_string(),
        fsm_after: i.fsm_after.to_string(),
        deterministic_pass: i.det_pass,
        deterministic_findings: i.findings,
    }
}

/// The audit request for a phase: the pack plus the applicable laws' text.
pub fn audit_request(c: &Constitution, phase: &Phase, pack: &EvidencePack) -> AuditRequest {
    AuditRequest {
        pack: pack.clone(),
        laws: c
            .laws_for(phase)
            .into_iter()
            .map(|l| Law { id: l.id.clone(), title: l.title.clone(), text: l.text.clone() })
            .collect(),
    }
}

/// Run every configured auditor on a phase.
pub fn constitutional(c: &Constitution, phase: &Phase, pack: &EvidencePack, plugins: &Plugins, flow_dir: &Path) -> Constitutional {
    let req = audit_request(c, phase, pack);
    let mut records: Vec<AuditorRecord> = plugins.auditors.iter().map(|a| a.audit(&req)).collect();
    if let Some(ext) = &plugins.external_auditor {
        records.push(ext.audit(&req, flow_dir));
    }
    Constitutional { records }
}

/// Judge a phase when plugins could not be loaded (a P00 failure): the built-in auditor is
/// still asked; if even it cannot run, the result is `unverified`.
pub fn constitutional_without_plugins(c: &Constitution, phase: &Phase, pack: &EvidencePack, _flow_dir: &Path) -> Constitutional {
    let req = audit_request(c, phase, pack);
    let record = match crate::plugins::builtin_auditor() {
        Ok(a) => a.audit(&req),
        Err(e) => AuditorRecord {
            name: crate::plugins::BUILTIN_AUDITOR.into(),
            status: VerdictStatus::Unverified,
            verdict: None,
            reason_kind: Some("load_refused".into()),
            message: e,
            fuel_used: None,
            duration_ms: 0,
        },
    };
    Constitutional { records: vec![record] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: VerdictStatus) -> AuditorRecord {
        AuditorRecord { name: "a".into(), status, verdict: None, reason_kind: None, message: String::new(), fuel_used: None, duration_ms: 0 }
    }

    #[test]
    fn merge_is_fail_closed() {
        let all_pass = Constitutional { records: vec![rec(VerdictStatus::Pass), rec(VerdictStatus::Pass)] };
        assert!(CourtResult::merge(true, &all_pass).pass);
        assert!(!CourtResult::merge(false, &all_pass).pass);
        let one_unverified = Constitutional { records: vec![rec(VerdictStatus::Pass), rec(VerdictStatus::Unverified)] };
        assert_eq!(one_unverified.status(), VerdictStatus::Unverified);
        assert!(!CourtResult::merge(true, &one_unverified).pass);
        assert!(one_unverified.violated_laws().contains(&"L9".to_string()));
        let none = Constitutional::default();
        assert!(!CourtResult::merge(true, &none).pass, "no auditor must never pass");
        let failed = Constitutional { records: vec![rec(VerdictStatus::Unverified), rec(VerdictStatus::Fail)] };
        assert_eq!(failed.status(), VerdictStatus::Fail);
    }
}
