//! The court's rule and the exit-status rule, in one place: the engine decides with them and
//! `wfhost verify` re-decides with them from the recorded inputs.
//!
//! ```text
//! outcome (status, code, message) ─┐
//! deterministic checks ────────────┼─► decide ─► Decision { deterministic, constitutional,
//! auditors' entries ───────────────┘               court, code, halt_reason, violated_laws }
//! first failing verdict's code, how it stopped ─► exit_status ─► 0, 10..50, 70, 128+signal
//! ```
//!
//! The rule (constitution/phases.toml, checks.toml, codes.toml):
//! - deterministic passes when every check held and the phase did not fail;
//! - the auditors pass only when there is at least one and all passed; any `fail` is a fail;
//!   anything else is `unverified`;
//! - the court passes when both pass;
//! - the code is the phase's own when it failed, else the first failed check's own code
//!   (checks.toml), else the family's COURT_DETERMINISTIC_FAIL when a check failed, else the
//!   family's COURT_AUDITOR_FAIL when an auditor did not pass, else 0;
//! - the laws broken are those of every failed check, then the auditors' (an unverified
//!   auditor breaks L9), each once, in first-seen order.

use crate::records::{AuditStatus, AuditorEntry, CheckRecord, PhaseStatus};
use wfhost_constitution::{Constitution, Phase};

/// Exit status of a flow that could not run or record its decisions.
pub const EXIT_INTERNAL: i32 = 70;

/// The court's decision on one phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the deterministic validator passed.
    pub deterministic: bool,
    /// What the auditors said together.
    pub constitutional: AuditStatus,
    /// Whether the next phase may start.
    pub court: bool,
    /// 0, or the code the flow halts with.
    pub code: u16,
    /// Why the flow halts, when it does.
    pub halt_reason: Option<String>,
    /// Laws broken, each once, in first-seen order.
    pub violated_laws: Vec<String>,
}

/// The part of a phase's outcome the court looks at.
#[derive(Debug, Clone, Copy)]
pub struct OutcomeView<'a> {
    /// The phase's status.
    pub status: PhaseStatus,
    /// Its code.
    pub code: u16,
    /// Its message.
    pub message: &'a str,
}

/// Deterministic pass: every check held and the phase did not fail.
pub fn deterministic_pass(status: PhaseStatus, checks: &[CheckRecord]) -> bool {
    checks.iter().all(|c| c.pass) && status != PhaseStatus::Fail
}

/// The auditors together: pass only when there is at least one and all passed; fail when any
/// failed; otherwise unverified.
pub fn constitutional_status(auditors: &[AuditorEntry]) -> AuditStatus {
    if auditors.is_empty() {
        AuditStatus::Unverified
    } else if auditors.iter().any(|a| a.status == AuditStatus::Fail) {
        AuditStatus::Fail
    } else if auditors.iter().all(|a| a.status == AuditStatus::Pass) {
        AuditStatus::Pass
    } else {
        AuditStatus::Unverified
    }
}

/// Decide a phase from its outcome, its checks and its auditors.
pub fn decide(c: &Constitution, phase: &Phase, outcome: OutcomeView<'_>, checks: &[CheckRecord], auditors: &[AuditorEntry]) -> Decision {
    let deterministic = deterministic_pass(outcome.status, checks);
    let constitutional = constitutional_status(auditors);
    let court = deterministic && constitutional == AuditStatus::Pass;
    let failed: Vec<&CheckRecord> = checks.iter().filter(|r| !r.pass).collect();
    let code = if outcome.status == PhaseStatus::Fail {
        outcome.code
    } else if !deterministic {
        failed
            .iter()
            .find_map(|r| c.checks.get(&r.check).and_then(|k| k.code))
            .unwrap_or_else(|| phase.family.court_deterministic_fail().get())
    } else if !court {
        phase.family.court_auditor_fail().get()
    } else {
        0
    };
    let halt_reason = if court {
        None
    } else if outcome.status == PhaseStatus::Fail {
        Some(format!("{} failed: {}", phase.id, outcome.message))
    } else if !deterministic {
        let findings: Vec<String> = failed.iter().map(|r| format!("{} ({})", r.check, r.finding)).collect();
        Some(format!("deterministic validator rejected {}: {}", phase.id, findings.join("; ")))
    } else {
        Some(format!("auditors did not pass {}: {}", phase.id, auditor_reasons(auditors).join("; ")))
    };
    let mut violated_laws: Vec<String> = Vec::new();
    let check_laws = failed.iter().filter_map(|r| c.checks.get(&r.check).map(|k| k.law.clone()));
    for law in check_laws.chain(auditor_laws(auditors)) {
        if !violated_laws.contains(&law) {
            violated_laws.push(law);
        }
    }
    Decision { deterministic, constitutional, court, code, halt_reason, violated_laws }
}

/// Reasons of every auditor that did not pass.
pub fn auditor_reasons(auditors: &[AuditorEntry]) -> Vec<String> {
    auditors
        .iter()
        .filter(|a| a.status != AuditStatus::Pass)
        .map(|a| {
            let detail = a
                .verdict
                .as_ref()
                .map(|v| v.reasons.join("; "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| a.message.clone());
            format!("{} says {}: {detail}", a.name, a.status.as_str())
        })
        .collect()
}

/// Laws the auditors found broken, in first-seen order; an unverified auditor breaks L9 (the
/// phase could not be judged).
pub fn auditor_laws(auditors: &[AuditorEntry]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in auditors {
        for law in a.verdict.iter().flat_map(|v| v.violated_laws.iter()) {
            if !out.contains(law) {
                out.push(law.clone());
            }
        }
        if a.status == AuditStatus::Unverified && !out.iter().any(|l| l == "L9") {
            out.push("L9".into());
        }
    }
    out
}

/// How a flow stopped, as far as its exit status goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop<'a> {
    /// It ran to its end, or the court halted it.
    Court,
    /// It could not run or record its decisions.
    Internal,
    /// A signal stopped it (its name: `SIGINT`, `SIGTERM`, `SIGHUP`).
    Signal(&'a str),
}

impl<'a> Stop<'a> {
    /// The stop a `flow.halted` record tells.
    pub fn of(halted: &'a crate::records::FlowHalted) -> Stop<'a> {
        match halted.cause() {
            crate::records::HaltCause::Court => Stop::Court,
            crate::records::HaltCause::Internal => Stop::Internal,
            crate::records::HaltCause::Interrupted => Stop::Signal(halted.signal.as_deref().unwrap_or("")),
        }
    }
}

/// The exit status of a process a signal stopped: 128 + the signal's number, as shells report
/// it (SIGHUP 129, SIGINT 130, SIGTERM 143); `None` for another name.
pub fn signal_exit_status(name: &str) -> Option<i32> {
    match name {
        "SIGHUP" => Some(128 + 1),
        "SIGINT" => Some(128 + 2),
        "SIGTERM" => Some(128 + 15),
        _ => None,
    }
}

/// The process exit status of a flow: 0 when it passed, the family's status (10..50) for its
/// first failing verdict's code, 70 when it could not run or record its decisions, 128 + the
/// signal's number when a signal stopped it (an unknown signal is internal).
pub fn exit_status(first_failure_code: Option<u16>, stop: Stop<'_>) -> i32 {
    match (stop, first_failure_code) {
        (Stop::Internal, _) => EXIT_INTERNAL,
        (Stop::Signal(name), _) => signal_exit_status(name).unwrap_or(EXIT_INTERNAL),
        (Stop::Court, None) => 0,
        (Stop::Court, Some(code)) => wfhost_constitution::Code::from_u16(code).map(|c| c.family().exit_status()).unwrap_or(EXIT_INTERNAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{AuditorVerdict, Stage, WitVerdictStatus};

    fn c() -> &'static Constitution {
        Constitution::get().expect("constitution")
    }

    fn check(name: &str, pass: bool) -> CheckRecord {
        CheckRecord { check: name.into(), stage: Stage::Post, pass, finding: format!("{name} finding") }
    }

    fn auditor(status: AuditStatus, laws: &[&str]) -> AuditorEntry {
        AuditorEntry {
            name: "a".into(),
            status,
            reason_kind: None,
            message: "msg".into(),
            fuel_used: None,
            duration_ms: 0,
            verdict: Some(AuditorVerdict {
                status: WitVerdictStatus::Fail,
                violated_laws: laws.iter().map(|l| l.to_string()).collect(),
                evidence_refs: vec![],
                reasons: vec!["why".into()],
                remediation: String::new(),
            }),
        }
    }

    fn ok() -> OutcomeView<'static> {
        OutcomeView { status: PhaseStatus::Ok, code: 0, message: "fine" }
    }

    #[test]
    fn the_court_is_fail_closed() {
        let p = c().phase("P30").expect("P30");
        let pass = decide(c(), p, ok(), &[], &[auditor(AuditStatus::Pass, &[])]);
        assert!(pass.court && pass.deterministic);
        assert_eq!((pass.code, pass.halt_reason, pass.violated_laws.len()), (0, None, 0));
        // No auditor is never a pass.
        let none = decide(c(), p, ok(), &[], &[]);
        assert!(!none.court);
        assert_eq!(none.constitutional, AuditStatus::Unverified);
        assert_eq!(none.code, p.family.court_auditor_fail().get());
        // One unverified among passes: unverified, and L9.
        let mixed = decide(c(), p, ok(), &[], &[auditor(AuditStatus::Pass, &[]), auditor(AuditStatus::Unverified, &[])]);
        assert_eq!(mixed.constitutional, AuditStatus::Unverified);
        assert_eq!(mixed.violated_laws, vec!["L9".to_string()]);
        // Any fail is a fail, whatever else said.
        let failed = decide(c(), p, ok(), &[], &[auditor(AuditStatus::Unverified, &[]), auditor(AuditStatus::Fail, &["L3"])]);
        assert_eq!(failed.constitutional, AuditStatus::Fail);
        assert_eq!(failed.violated_laws, vec!["L9".to_string(), "L3".to_string()]);
        assert!(failed.halt_reason.expect("reason").contains("a says fail: why"));
    }

    #[test]
    fn codes_come_from_the_outcome_then_the_check_then_the_family() {
        let p = c().phase("P30").expect("P30");
        let timeout = wfhost_constitution::codes::COMMAND_TIMEOUT_3XX.get();
        let fail = OutcomeView { status: PhaseStatus::Fail, code: timeout, message: "boom" };
        let d = decide(c(), p, fail, &[check("rc_ok", true)], &[auditor(AuditStatus::Pass, &[])]);
        assert_eq!((d.code, d.deterministic, d.court), (timeout, false, false));
        assert_eq!(d.halt_reason.as_deref(), Some("P30 failed: boom"));
        // A failed check with a code of its own gives it; one without gives the family's.
        let (own, plain): (Vec<_>, Vec<_>) = c().checks.iter().partition(|(_, k)| k.code.is_some());
        if let Some((name, k)) = own.first() {
            let d = decide(c(), p, ok(), &[check(name, false)], &[auditor(AuditStatus::Pass, &[])]);
            assert_eq!(Some(d.code), k.code);
            assert_eq!(d.violated_laws, vec![k.law.clone()]);
        }
        let (name, k) = plain.first().expect("a check without its own code");
        let d = decide(c(), p, ok(), &[check(name, false)], &[auditor(AuditStatus::Fail, &[&k.law, "L1"])]);
        assert_eq!(d.code, p.family.court_deterministic_fail().get());
        assert_eq!(d.violated_laws.first(), Some(&k.law), "check laws come first");
        assert_eq!(d.violated_laws.iter().filter(|l| **l == k.law).count(), 1, "each law once");
        assert!(d.halt_reason.expect("reason").starts_with("deterministic validator rejected P30"));
    }

    #[test]
    fn exit_statuses_follow_the_family_table() {
        assert_eq!(exit_status(None, Stop::Court), 0);
        assert_eq!(exit_status(None, Stop::Internal), EXIT_INTERNAL);
        assert_eq!(exit_status(Some(wfhost_constitution::codes::COMMAND_TIMEOUT_3XX.get()), Stop::Internal), EXIT_INTERNAL);
        for (family, f) in &c().families {
            let generic = family.generic().get();
            assert_eq!(exit_status(Some(generic), Stop::Court), f.exit);
        }
        assert_eq!(exit_status(Some(999), Stop::Court), EXIT_INTERNAL, "an unknown family is internal");
    }

    #[test]
    fn a_signal_exits_as_shells_report_it_whatever_the_verdicts() {
        use crate::records::{FlowHalted, HaltCause};
        assert_eq!(exit_status(None, Stop::Signal("SIGINT")), 130);
        assert_eq!(exit_status(Some(wfhost_constitution::codes::RUNS_FAILED.get()), Stop::Signal("SIGTERM")), 143);
        assert_eq!(exit_status(None, Stop::Signal("SIGHUP")), 129);
        assert_eq!(exit_status(None, Stop::Signal("SIGUSR1")), EXIT_INTERNAL);
        let halted = |code: Option<u16>, cause: Option<HaltCause>, signal: Option<&str>| FlowHalted {
            phase: code.map(|_| "P70".to_string()),
            code,
            cause,
            reason: None,
            signal: signal.map(str::to_string),
        };
        // Older logs carry no cause: a failing verdict is the court's, none is internal.
        assert_eq!(Stop::of(&halted(Some(402), None, None)), Stop::Court);
        assert_eq!(Stop::of(&halted(None, None, None)), Stop::Internal);
        assert_eq!(Stop::of(&halted(None, Some(HaltCause::Interrupted), Some("SIGINT"))), Stop::Signal("SIGINT"));
        assert_eq!(Stop::of(&halted(Some(402), Some(HaltCause::Internal), None)), Stop::Internal);
    }
}
