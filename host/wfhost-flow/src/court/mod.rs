//! The court: after every phase, a deterministic validator AND every auditor must pass.
//!
//! ```text
//! phase outcome ─► deterministic::run (Rust, named checks from phases.toml)
//!              └─► evidence_pack ─► each auditor component (sandboxed, fuel + deadline)
//!                               └─► WF_SUBAGENT_VALIDATOR_CMD, if configured (hard timeout)
//! wfhost_audit::decision::decide: pass = deterministic pass AND every auditor pass.
//! ```
//!
//! Anything other than `pass` from an auditor — `fail`, `unverified`, a crash, a timeout,
//! malformed output — fails the phase (Law 9).

pub mod deterministic;
pub mod external;

/// The `reason_kind` of an auditor that was never asked because its input file could not be
/// written: the engine records that as a failed evidence write, not as a verdict.
pub const EVIDENCE_WRITE: &str = "evidence_write";

use wfhost_config::config::Config;
use wfhost_config::flags::{self, Fetch, Flags, Provision, Sweep, Teardown};
use crate::plugins::Plugins;
use crate::types::{
    AuditRequest, EvidencePack, FetchMode, FlowFlags, Kv, Law, PhaseOutcome, ProvisionMode, SweepMode, TeardownMode, Verdict,
    VerdictStatus,
};
use serde_json::Value;
use std::path::Path;
use wfhost_audit::decision;
use wfhost_audit::records::{AuditStatus, AuditorEntry, AuditorVerdict, ConstitutionalRecord, WitVerdictStatus};
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

impl AuditorRecord {
    /// The record's entry in `phase.<Pxx>.constitutional.json`.
    pub fn entry(&self) -> AuditorEntry {
        AuditorEntry {
            name: self.name.clone(),
            status: audit_status(self.status),
            reason_kind: self.reason_kind.clone(),
            message: self.message.clone(),
            fuel_used: self.fuel_used,
            duration_ms: self.duration_ms,
            verdict: self.verdict.as_ref().map(|v| AuditorVerdict {
                status: match v.status {
                    VerdictStatus::Pass => WitVerdictStatus::Pass,
                    VerdictStatus::Fail => WitVerdictStatus::Fail,
                    VerdictStatus::Unverified => WitVerdictStatus::Unverified,
                },
                violated_laws: v.violated_laws.clone(),
                evidence_refs: v.evidence_refs.clone(),
                reasons: v.reasons.clone(),
                remediation: v.remediation.clone(),
            }),
        }
    }
}

/// Every auditor's record for one phase.
#[derive(Debug, Clone, Default)]
pub struct Constitutional {
    /// One per auditor, in configured order.
    pub records: Vec<AuditorRecord>,
}

impl Constitutional {
    /// The phase's `court.auditor` record (its status decided by
    /// [`decision::constitutional_status`]).
    pub fn record(&self, phase: &str, pack_sha256: Option<String>) -> ConstitutionalRecord {
        let auditors: Vec<AuditorEntry> = self.records.iter().map(AuditorRecord::entry).collect();
        ConstitutionalRecord { phase: phase.to_string(), status: decision::constitutional_status(&auditors), auditors, pack_sha256 }
    }
}

/// The record form of a runtime verdict status.
pub fn audit_status(s: VerdictStatus) -> AuditStatus {
    match s {
        VerdictStatus::Pass => AuditStatus::Pass,
        VerdictStatus::Fail => AuditStatus::Fail,
        VerdictStatus::Unverified => AuditStatus::Unverified,
    }
}

/// `pass`, `fail`, `unverified`.
pub fn verdict_str(s: VerdictStatus) -> &'static str {
    audit_status(s).as_str()
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

/// The flags as the WIT `flow-flags` record components receive (phase context, evidence pack).
pub fn wit_flags(f: &Flags) -> FlowFlags {
    FlowFlags {
        provision: match f.provision {
            Provision::Auto => ProvisionMode::Auto,
            Provision::Skip => ProvisionMode::Skip,
        },
        sweep: match f.sweep {
            Sweep::Start => SweepMode::Start,
            Sweep::Resume => SweepMode::Resume,
            Sweep::Skip => SweepMode::Skip,
        },
        wait: f.wait,
        fetch: match &f.fetch {
            Fetch::None => FetchMode::None,
            Fetch::All => FetchMode::All,
            Fetch::Run(id) => FetchMode::Run(id.clone()),
        },
        teardown: match f.teardown {
            Teardown::Keep => TeardownMode::Keep,
            Teardown::Delete => TeardownMode::Delete,
        },
        yes: f.yes,
    }
}

/// The flags of a WIT `flow-flags` record.
fn flags_of(f: &FlowFlags) -> Flags {
    Flags {
        provision: match f.provision {
            ProvisionMode::Auto => Provision::Auto,
            ProvisionMode::Skip => Provision::Skip,
        },
        sweep: match f.sweep {
            SweepMode::Start => Sweep::Start,
            SweepMode::Resume => Sweep::Resume,
            SweepMode::Skip => Sweep::Skip,
        },
        wait: f.wait,
        fetch: match &f.fetch {
            FetchMode::None => Fetch::None,
            FetchMode::All => Fetch::All,
            FetchMode::Run(id) => Fetch::Run(id.clone()),
        },
        teardown: match f.teardown {
            TeardownMode::Keep => Teardown::Keep,
            TeardownMode::Delete => Teardown::Delete,
        },
        yes: f.yes,
    }
}

/// The pack as `phase.<Pxx>.pack.json` holds it: the WIT record's members, its typed flags and
/// consent written as the key/value list evidence has always held (the flags in command-line
/// form, then `consent`), so `verify`, replay and courts read the packs of every flow alike.
pub fn pack_value(pack: &EvidencePack) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(pack)?;
    if let Value::Object(m) = &mut value {
        let mut list: Vec<Kv> = flags_of(&pack.flow_flags).to_pairs().into_iter().map(|(key, value)| Kv { key, value }).collect();
        list.push(Kv { key: "consent".into(), value: pack.consent.to_string() });
        m.remove("consent");
        m.insert("flow_flags".into(), serde_json::to_value(list)?);
    }
    Ok(value)
}

/// The WIT record of a pack file's WIT members ([`wfhost_audit::pack::wit_record`]): the
/// inverse of [`pack_value`], its flags parsed as the command line's are. The error says which
/// member does not read.
pub fn pack_from_value(mut value: Value) -> Result<EvidencePack, String> {
    let Value::Object(m) = &mut value else { return Err("not a JSON object".into()) };
    let list: Vec<Kv> = serde_json::from_value(m.remove("flow_flags").unwrap_or(Value::Null))
        .map_err(|e| format!("flow_flags is not a key/value list ({e})"))?;
    let get = |key: &str| list.iter().find(|kv| kv.key == key).map(|kv| kv.value.as_str());
    let parsed = || -> Result<Flags, flags::FlagError> {
        let mut f = Flags::default();
        if let Some(v) = get("provision") {
            f.provision = v.parse()?;
        }
        if let Some(v) = get("sweep") {
            f.sweep = v.parse()?;
        }
        if let Some(v) = get("wait") {
            f.wait = flags::parse_wait(v)?;
        }
        if let Some(v) = get("fetch") {
            f.fetch = v.parse()?;
        }
        if let Some(v) = get("teardown") {
            f.teardown = v.parse()?;
        }
        f.yes = get("yes") == Some("true");
        Ok(f)
    };
    let f = parsed().map_err(|e| format!("flow_flags: {e}"))?;
    m.insert("flow_flags".into(), serde_json::to_value(wit_flags(&f)).map_err(|e| e.to_string())?);
    m.insert("consent".into(), Value::Bool(get("consent") == Some("true")));
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Build the evidence pack auditors judge.
pub fn evidence_pack(i: PackInput<'_>) -> EvidencePack {
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
        flow_flags: wit_flags(i.flags),
        consent: i.consent,
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
/// The auditor components judge the WIT record; the external court (`WF_SUBAGENT_VALIDATOR_CMD`)
/// gets the pack file (`pack_file`, the flat pack with the constitution's minimum members).
pub fn constitutional(c: &Constitution, phase: &Phase, pack: &EvidencePack, pack_file: Option<&serde_json::Value>, plugins: &Plugins, flow_dir: &Path) -> Constitutional {
    let req = audit_request(c, phase, pack);
    let mut records: Vec<AuditorRecord> = plugins.auditors.iter().map(|a| a.audit(&req)).collect();
    if let Some(ext) = &plugins.external_auditor {
        records.push(ext.audit(c, &req, pack_file, flow_dir));
    }
    Constitutional { records }
}

/// Judge a phase when plugins could not be loaded (a P00 failure): the built-in auditor is
/// still asked; if even it cannot run, the result is `unverified`.
pub fn constitutional_without_plugins(c: &Constitution, phase: &Phase, pack: &EvidencePack, env: &std::collections::BTreeMap<String, String>) -> Constitutional {
    let req = audit_request(c, phase, pack);
    let record = match crate::plugins::builtin_auditor(env) {
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

    fn pack(flags: &Flags, consent: bool) -> EvidencePack {
        let outcome = PhaseOutcome {
            phase: "P80".into(),
            status: crate::types::PhaseStatus::Ok,
            code: 0,
            message: "ok".into(),
            artifacts: vec![],
            facts: vec![],
            details_json: None,
        };
        EvidencePack {
            flow_id: "f".into(),
            phase: "P80".into(),
            constitution_version: 1,
            applicable_laws: vec!["L5".into()],
            config_sha256_at_start: "a".into(),
            config_sha256: "a".into(),
            transport: "local".into(),
            bound_target: Some("pod".into()),
            phase_target: None,
            target_source: "explicit".into(),
            outcome,
            flow_flags: wit_flags(flags),
            consent,
            config: vec![],
            fsm_before: "INIT".into(),
            fsm_after: "INIT".into(),
            deterministic_pass: true,
            deterministic_findings: vec![],
        }
    }

    #[test]
    fn the_pack_file_keeps_the_flags_as_a_key_value_list_and_reads_back_typed() {
        let flags = Flags { provision: Provision::Skip, sweep: Sweep::Resume, wait: true, fetch: Fetch::Run("r-1".into()), teardown: Teardown::Delete, yes: true };
        let p = pack(&flags, true);
        let v = pack_value(&p).unwrap();
        assert!(v.get("consent").is_none(), "{v}");
        assert_eq!(
            v["flow_flags"],
            serde_json::json!([
                {"key": "provision", "value": "skip"}, {"key": "sweep", "value": "resume"},
                {"key": "wait", "value": "true"}, {"key": "fetch", "value": "run:r-1"},
                {"key": "teardown", "value": "delete"}, {"key": "yes", "value": "true"},
                {"key": "consent", "value": "true"},
            ])
        );
        assert_eq!(pack_from_value(v).unwrap(), p);
        let plain = pack(&Flags::default(), false);
        assert_eq!(pack_from_value(pack_value(&plain).unwrap()).unwrap(), plain);
        // A pack file whose flags do not parse says which.
        let mut bad = pack_value(&plain).unwrap();
        bad["flow_flags"][4]["value"] = "burn".into();
        let e = pack_from_value(bad).unwrap_err();
        assert!(e.contains("flow_flags") && e.contains("--teardown \"burn\""), "{e}");
    }

    #[test]
    fn the_record_is_fail_closed() {
        let all_pass = Constitutional { records: vec![rec(VerdictStatus::Pass), rec(VerdictStatus::Pass)] };
        assert_eq!(all_pass.record("P30", None).status, AuditStatus::Pass);
        let one_unverified = Constitutional { records: vec![rec(VerdictStatus::Pass), rec(VerdictStatus::Unverified)] };
        assert_eq!(one_unverified.record("P30", None).status, AuditStatus::Unverified);
        assert_eq!(Constitutional::default().record("P30", None).status, AuditStatus::Unverified, "no auditor must never pass");
        let failed = Constitutional { records: vec![rec(VerdictStatus::Unverified), rec(VerdictStatus::Fail)] };
        let r = failed.record("P30", Some("ab".into()));
        assert_eq!((r.status, r.pack_sha256.as_deref(), r.auditors.len()), (AuditStatus::Fail, Some("ab"), 2));
    }
}
