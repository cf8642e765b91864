//! Auditors: load a constitutional judge and run `audit`, which never fails.
//!
//! A call gets a fresh store with the auditor limits and no capability (WASI that denies
//! everything). The verdict's size is
//! checked against `max_output_bytes` (the host copy made while lifting it is bounded by the
//! guest's memory limit), then it is checked against the verdict contract ([`check_verdict`]).
//! Every way this can go wrong, from a refused load to a trap, becomes an `unverified` verdict
//! with a machine-readable [`FailureKind`], so the court fails closed. The store, limits,
//! instantiation and size check of a call are the plumbing every role shares (`handle`).

use crate::bindings::auditor::AuditorPre;
use crate::error::LoadError;
use crate::failure::{FailureKind, PluginFailure};
use crate::handle::{role_handle, Handle};
use crate::limits::Limits;
use crate::runtime::{ComponentSource, Runtime};
use crate::state::AuditorState;
use crate::types::{AuditRequest, Verdict, VerdictStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// Why the host, not the auditor, decided `unverified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnverifiedReason {
    /// Machine-readable cause (`fuel_exhausted`, `deadline`, `malformed_verdict`, ...).
    pub kind: FailureKind,
    /// Human-readable detail.
    pub message: String,
}

/// The outcome of one audit. `verdict` is what the court uses; when the host overrode the
/// auditor, `reason` says why and `verdict.status` is `unverified`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditResult {
    /// The auditor's verdict, or an `unverified` one made by the host.
    pub verdict: Verdict,
    /// Set when the host made the verdict `unverified` (the auditor failed or misbehaved).
    pub reason: Option<UnverifiedReason>,
    /// Fuel the call consumed.
    pub fuel_used: u64,
    /// Wall-clock time of the call.
    pub duration: Duration,
}

impl AuditResult {
    /// The verdict status.
    pub fn status(&self) -> VerdictStatus {
        self.verdict.status
    }

    /// An `unverified` result for a plugin failure.
    pub fn from_failure(failure: &PluginFailure) -> AuditResult {
        AuditResult {
            verdict: Verdict {
                status: VerdictStatus::Unverified,
                violated_laws: Vec::new(),
                evidence_refs: Vec::new(),
                reasons: vec![format!(
                    "auditor {} could not judge ({}): {}",
                    failure.plugin, failure.kind, failure.message
                )],
                remediation: failure.kind.remediation().to_string(),
            },
            reason: Some(UnverifiedReason {
                kind: failure.kind,
                message: failure.message.clone(),
            }),
            fuel_used: failure.fuel_used,
            duration: failure.duration,
        }
    }

    /// An `unverified` result (`load_refused`) for an auditor that could not be loaded.
    pub fn from_load_error(plugin: &str, error: &LoadError) -> AuditResult {
        AuditResult::from_failure(&PluginFailure {
            plugin: plugin.to_string(),
            kind: FailureKind::LoadRefused,
            message: error.to_string(),
            fuel_used: 0,
            duration: Duration::ZERO,
        })
    }
}

/// A loaded auditor. Each `audit` is a fresh instance in a fresh store.
pub struct Auditor {
    handle: Handle<AuditorPre<AuditorState>>,
}

role_handle!(Auditor);

impl Auditor {
    /// Judge one phase. Never fails: any failure of the auditor is an `unverified` verdict with
    /// a reason.
    pub fn audit(&self, request: &AuditRequest, limits: &Limits) -> AuditResult {
        self.handle
            .call_metered(limits, (), |bindings, store| {
                bindings.wfhost_plugin_judge().call_audit(store, request)
            })
            .and_then(|(verdict, call)| {
                check_verdict(&verdict, request)
                    .map_err(|message| call.failure_with(FailureKind::MalformedVerdict, message))?;
                Ok(AuditResult {
                    verdict,
                    reason: None,
                    fuel_used: call.fuel_used(),
                    duration: call.elapsed(),
                })
            })
            .unwrap_or_else(|failure| AuditResult::from_failure(&failure))
    }

    /// The auditor's self-description (name and version) for evidence.
    pub fn describe(&self, limits: &Limits) -> Result<String, PluginFailure> {
        self.handle.call(limits, (), |bindings, store| {
            bindings.wfhost_plugin_judge().call_describe(store)
        })
    }
}

impl Runtime {
    /// Load an auditor (from this runtime's caches when possible) and judge one phase. Never
    /// fails: a load failure is an `unverified` result with reason `load_refused`.
    pub fn audit(
        &self,
        source: &ComponentSource,
        request: &AuditRequest,
        limits: &Limits,
    ) -> AuditResult {
        match self.load_auditor(source) {
            Ok(auditor) => auditor.audit(request, limits),
            Err(error) => AuditResult::from_load_error(&source.name(), &error),
        }
    }
}

/// The verdict contract: `fail` names at least one violated law, gives a reason and a
/// remediation; every violated law is one of the request's laws, listed once; `pass` names no
/// violated law. `unverified` from the auditor itself is accepted as is (it fails the phase).
pub fn check_verdict(verdict: &Verdict, request: &AuditRequest) -> Result<(), String> {
    let known: BTreeSet<&str> = request.laws.iter().map(|law| law.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    for law in &verdict.violated_laws {
        if !known.contains(law.as_str()) {
            return Err(format!(
                "violated law {law:?} is not among the laws of the request ({})",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        if !seen.insert(law.as_str()) {
            return Err(format!("violated law {law:?} is listed twice"));
        }
    }
    match verdict.status {
        VerdictStatus::Pass if !verdict.violated_laws.is_empty() => {
            Err("status is pass but violated laws are listed".to_string())
        }
        VerdictStatus::Fail if verdict.violated_laws.is_empty() => {
            Err("status is fail but no violated law is named".to_string())
        }
        VerdictStatus::Fail if verdict.remediation.trim().is_empty() => {
            Err("status is fail but the remediation is empty".to_string())
        }
        VerdictStatus::Fail if verdict.reasons.iter().all(|r| r.trim().is_empty()) => {
            Err("status is fail but no reason is given".to_string())
        }
        _ => Ok(()),
    }
}
