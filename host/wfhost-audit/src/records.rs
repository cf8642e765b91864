//! The evidence records, as typed values: one serde type per record kind (or evidence file).
//!
//! ```text
//! engine ──(builds these)──► Sink::event(kind, to_value(record)) ──► events.jsonl
//!        └─────────────────► layout::write_json(file, record)     ──► phase/*.json, fsm.json
//! verify / replay / explain ──► serde_json::from_value::<Record>(payload) ──► court rule, checks
//! ```
//!
//! The engine writes through these types and the verifier reads through them, so a member is
//! named once. Members keep the shape the published schemas (`docs/schemas/`) describe: an
//! `Option` is written as `null`, never left out, except where a schema makes the member
//! optional (marked `skip_serializing_if`). A test serialises a sample of each file-backed type
//! and validates it against its schema, and checks that the schema's members and the type's
//! agree.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `phase.started`: a phase begins.
pub const PHASE_STARTED: &str = "phase.started";
/// `phase.outcome`: what a phase did ([`PhaseOutcomeRecord`]).
pub const PHASE_OUTCOME: &str = "phase.outcome";
/// `court.deterministic`: the deterministic validator's checks ([`DeterministicRecord`]).
pub const COURT_DETERMINISTIC: &str = "court.deterministic";
/// `court.auditor`: every auditor's result ([`ConstitutionalRecord`]).
pub const COURT_AUDITOR: &str = "court.auditor";
/// `court.verdict`: the court's decision ([`VerdictRecord`]).
pub const COURT_VERDICT: &str = "court.verdict";
/// `flow.started`: the first record of a flow ([`FlowStarted`]).
pub const FLOW_STARTED: &str = "flow.started";
/// `flow.header`: one line of the constitutional header ([`FlowHeader`]).
pub const FLOW_HEADER: &str = "flow.header";
/// `flow.halted`: the flow stopped at a failing verdict or an internal error ([`FlowHalted`]).
pub const FLOW_HALTED: &str = "flow.halted";
/// `evidence.write_failed`: an evidence file could not be written ([`EvidenceWriteFailed`]).
pub const EVIDENCE_WRITE_FAILED: &str = "evidence.write_failed";
/// `flow.summary`: the last record of a finished flow ([`FlowSummaryRecord`]).
pub const FLOW_SUMMARY: &str = "flow.summary";
/// `fsm.loaded`: the remote FSM state read at bind ([`FsmLoaded`]).
pub const FSM_LOADED: &str = "fsm.loaded";
/// `fsm.transition`: the FSM moved ([`FsmTransition`]).
pub const FSM_TRANSITION: &str = "fsm.transition";

/// A phase's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseStatus {
    /// It did its work.
    Ok,
    /// The flags (or its executor) skipped it.
    Skip,
    /// It failed, with a code.
    Fail,
}

impl PhaseStatus {
    /// `ok`, `skip` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Ok => "ok",
            PhaseStatus::Skip => "skip",
            PhaseStatus::Fail => "fail",
        }
    }
}

/// Pass or fail: the court and the deterministic validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PassFail {
    /// It passed.
    Pass,
    /// It did not.
    Fail,
}

impl PassFail {
    /// `Pass` for true.
    pub fn from_bool(pass: bool) -> PassFail {
        if pass {
            PassFail::Pass
        } else {
            PassFail::Fail
        }
    }

    /// Whether it passed.
    pub fn passed(self) -> bool {
        self == PassFail::Pass
    }

    /// `pass` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            PassFail::Pass => "pass",
            PassFail::Fail => "fail",
        }
    }
}

/// An auditor's status; anything but `pass` fails the phase (Law 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditStatus {
    /// The auditor found no violation.
    Pass,
    /// It found one.
    Fail,
    /// It could not judge (crash, timeout, fuel, malformed output, no auditor at all).
    Unverified,
}

impl AuditStatus {
    /// `pass`, `fail` or `unverified`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Pass => "pass",
            AuditStatus::Fail => "fail",
            AuditStatus::Unverified => "unverified",
        }
    }
}

/// A file a phase produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// Its name in the phase's terms.
    pub name: String,
    /// Local absolute path, or a path on the target.
    pub path: String,
    /// sha256, when known.
    pub sha256: Option<String>,
}

/// One call an executor made through the gateway, as the outcome lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayCallEntry {
    /// The operation (`exec`, `put-file`, ...).
    pub op: String,
    /// The target it named.
    pub target: Option<String>,
    /// READ, WRITE_INTERNAL or WRITE_EXTERNAL_SIDE_EFFECT.
    pub class: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Wall time.
    pub duration_ms: u64,
    /// What it did, shortened.
    pub detail: String,
}

/// `phase/phase.<Pxx>.json` and the `phase.outcome` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseOutcomeRecord {
    /// The phase id.
    pub phase: String,
    /// Its name in the phase table.
    pub name: String,
    /// What happened.
    pub status: PhaseStatus,
    /// 0, or the failure code.
    pub code: u16,
    /// What happened, in words.
    pub message: String,
    /// When it started (RFC 3339, milliseconds, UTC).
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// The bound target, once there is one.
    pub target: Option<String>,
    /// FSM state before the phase.
    pub fsm_before: String,
    /// FSM state after it.
    pub fsm_after: String,
    /// The phase's facts.
    pub facts: BTreeMap<String, String>,
    /// Files it produced.
    pub artifacts: Vec<ArtifactRecord>,
    /// The executor's structured details, if any.
    pub details: Option<Value>,
    /// Time spent in processes on the target.
    pub process_ms: u64,
    /// Time spent in gateway calls.
    pub gateway_ms: u64,
    /// The gateway calls of the phase.
    pub gateway_calls: Vec<GatewayCallEntry>,
}

/// Before or after the phase.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Precondition.
    Pre,
    /// Postcondition.
    Post,
}

/// One deterministic check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// Check name from checks.toml.
    pub check: String,
    /// Pre or post.
    pub stage: Stage,
    /// Whether it held.
    pub pass: bool,
    /// What was found (always filled, so evidence says why a check passed too).
    pub finding: String,
}

/// `phase/phase.<Pxx>.deterministic.json` and the `court.deterministic` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeterministicRecord {
    /// The phase id.
    pub phase: String,
    /// Every check held and the phase did not fail ([`crate::decision::deterministic_pass`]).
    pub pass: bool,
    /// Pre checks first, then post checks, as the phase table names them.
    pub checks: Vec<CheckRecord>,
}

/// An auditor's verdict as the WIT contract's record serialises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditorVerdict {
    /// `Pass`, `Fail` or `Unverified` (the WIT enum's case names).
    pub status: WitVerdictStatus,
    /// Law ids the auditor found broken.
    pub violated_laws: Vec<String>,
    /// What it based the verdict on.
    pub evidence_refs: Vec<String>,
    /// Why.
    pub reasons: Vec<String>,
    /// What to do about it.
    pub remediation: String,
}

/// The WIT verdict status, serialised with its case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WitVerdictStatus {
    /// pass
    Pass,
    /// fail
    Fail,
    /// unverified
    Unverified,
}

/// What one auditor said about a phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditorEntry {
    /// Auditor name (built-in name, .wasm path, or `external`).
    pub name: String,
    /// Its status as the host counts it.
    pub status: AuditStatus,
    /// Why it is unverified (`fuel_exhausted`, `deadline`, `trap`, ...), when it is.
    pub reason_kind: Option<String>,
    /// Human-readable detail.
    pub message: String,
    /// Fuel the call used, when known.
    pub fuel_used: Option<u64>,
    /// Wall time of the call.
    pub duration_ms: u64,
    /// Its verdict, when it returned one that parsed.
    pub verdict: Option<AuditorVerdict>,
}

/// `phase/phase.<Pxx>.constitutional.json` and the `court.auditor` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstitutionalRecord {
    /// The phase id.
    pub phase: String,
    /// [`crate::decision::constitutional_status`] of the auditors.
    pub status: AuditStatus,
    /// One entry per auditor, in configured order.
    pub auditors: Vec<AuditorEntry>,
    /// sha256 of `phase/phase.<Pxx>.pack.json`, when the pack was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_sha256: Option<String>,
}

/// Where a verdict's inputs are, relative to the flow directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictEvidence {
    /// `phase/phase.<Pxx>.json`.
    pub outcome: String,
    /// `phase/phase.<Pxx>.deterministic.json`.
    pub deterministic: String,
    /// `phase/phase.<Pxx>.constitutional.json`.
    pub constitutional: String,
}

/// `phase/phase.<Pxx>.verdict.json` and the `court.verdict` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// The phase id.
    pub phase: String,
    /// pass exactly when deterministic and constitutional both pass.
    pub court: PassFail,
    /// The deterministic validator.
    pub deterministic: PassFail,
    /// The auditors.
    pub constitutional: AuditStatus,
    /// 0, or the code the flow halts with.
    pub code: u16,
    /// Why the flow halts, when it does.
    pub halt_reason: Option<String>,
    /// Laws broken: those of every failed check, then the auditors'.
    pub violated_laws: Vec<String>,
    /// What to run next, when the flow halts.
    pub next_command: Option<String>,
    /// Time the court took.
    pub court_ms: u64,
    /// The files it judged.
    pub evidence: VerdictEvidence,
}

/// `flow.started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowStarted {
    /// The flow's id.
    pub flow_id: String,
    /// The command (`flow`, `pod-up`, ...).
    pub command: String,
    /// The flags in force, by name.
    pub flags: BTreeMap<String, String>,
    /// The directory wfhost ran in.
    pub workdir: String,
    /// The command's phases, in order.
    pub phases: Vec<String>,
    /// The wfhost version that ran it.
    pub wfhost_version: String,
}

/// `flow.header`: one `key=value` line of the constitutional header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowHeader {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// `phase.started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseStarted {
    /// The phase id.
    pub phase: String,
}

/// Why a flow halted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HaltCause {
    /// A verdict failed.
    Court,
    /// wfhost could not record its work (an evidence file or the log could not be written).
    Internal,
    /// A signal (SIGINT, SIGTERM, SIGHUP) asked it to stop.
    Interrupted,
}

impl HaltCause {
    /// `court`, `internal` or `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            HaltCause::Court => "court",
            HaltCause::Internal => "internal",
            HaltCause::Interrupted => "interrupted",
        }
    }
}

/// `flow.halted`: the first failing verdict (nulls when there is none), and why the flow
/// stopped. Logs written before `cause` was recorded lack it: their cause is the court when a
/// verdict failed, else internal ([`FlowHalted::cause`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowHalted {
    /// The phase of the first failing verdict.
    pub phase: Option<String>,
    /// Its code.
    pub code: Option<u16>,
    /// Why the flow stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<HaltCause>,
    /// What happened, in words (the failed write, the signal and the phase it came in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The signal that interrupted the flow (`SIGINT`, `SIGTERM`, `SIGHUP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

impl FlowHalted {
    /// Why the flow stopped, inferred for logs that do not say.
    pub fn cause(&self) -> HaltCause {
        self.cause.unwrap_or(if self.code.is_some() { HaltCause::Court } else { HaltCause::Internal })
    }
}

/// `evidence.write_failed`: an evidence file could not be written; no record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceWriteFailed {
    /// The file, relative to the flow directory (`phase/phase.P40.json`, `events.jsonl`).
    pub file: String,
    /// The error.
    pub error: String,
}

/// How the flow ended: passed or halted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowVerdict {
    /// Every phase passed its court.
    Pass,
    /// The flow stopped.
    Halted,
}

/// `flow.summary`: the last record of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSummaryRecord {
    /// Passed or halted.
    pub verdict: FlowVerdict,
    /// The phase of the first failing verdict.
    pub first_failure_phase: Option<String>,
    /// Its code.
    pub first_failure_code: Option<u16>,
    /// The process exit status ([`crate::decision::exit_status`]).
    pub exit_status: i32,
    /// The bound target.
    pub target: Option<String>,
    /// `explicit` or `autobind`, once bound.
    pub target_source: Option<String>,
    /// What became of the pod, in words.
    pub pod_state: String,
    /// The command that deletes a pod this flow created and left running.
    pub delete_command: Option<String>,
    /// The FSM state at the end.
    pub fsm_state: String,
}

/// `fsm.loaded`: the state read from the target's state file at bind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsmLoaded {
    /// The state.
    pub state: String,
    /// The state file on the target.
    pub file: String,
}

/// `fsm.transition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsmTransition {
    /// The state before.
    pub from: String,
    /// The state after.
    pub to: String,
    /// The phase that moved it.
    pub phase: String,
    /// The phase's code.
    pub code: u16,
    /// `<phase> <status> code <code>`.
    pub reason: String,
    /// When.
    pub updated_at: String,
    /// This machine's host name.
    pub host: String,
}

/// `fsm.json` and the remote `_control/workflow_state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsmMirror {
    /// The state.
    pub state: String,
    /// The state before it.
    pub previous_state: String,
    /// Why it changed.
    pub reason: String,
    /// When.
    pub updated_at: String,
    /// The host that wrote it.
    pub host: String,
    /// The flow that wrote it.
    pub flow_id: String,
    /// The phase that wrote it.
    pub phase: String,
}

impl FsmMirror {
    /// The mirror of a transition made by `flow_id`.
    pub fn of(t: &FsmTransition, flow_id: &str) -> FsmMirror {
        FsmMirror {
            state: t.to.clone(),
            previous_state: t.from.clone(),
            reason: t.reason.clone(),
            updated_at: t.updated_at.clone(),
            host: t.host.clone(),
            flow_id: flow_id.to_string(),
            phase: t.phase.clone(),
        }
    }
}

/// A record's payload as its type, or why it is not one.
pub fn parse<T: serde::de::DeserializeOwned>(payload: &Value) -> Result<T, String> {
    serde_json::from_value(payload.clone()).map_err(|e| e.to_string())
}

/// A record as the JSON value the log and the files hold.
pub fn to_value<T: Serialize>(record: &T) -> Value {
    // Every type here is plain data with string keys: serialisation cannot fail.
    serde_json::to_value(record).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemas::named;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn outcome() -> PhaseOutcomeRecord {
        PhaseOutcomeRecord {
            phase: "P30".into(),
            name: "POD_READY".into(),
            status: PhaseStatus::Ok,
            code: 0,
            message: "ready".into(),
            started_at: "2026-12-06T13:00:00.000Z".into(),
            duration_ms: 12,
            target: Some("pod-1".into()),
            fsm_before: "INIT".into(),
            fsm_after: "POD_READY".into(),
            facts: BTreeMap::from([("k".to_string(), "v".to_string())]),
            artifacts: vec![ArtifactRecord { name: "a".into(), path: "/x".into(), sha256: None }],
            details: None,
            process_ms: 3,
            gateway_ms: 4,
            gateway_calls: vec![GatewayCallEntry {
                op: "exec".into(),
                target: Some("pod-1".into()),
                class: "READ".into(),
                ok: true,
                duration_ms: 4,
                detail: "true".into(),
            }],
        }
    }

    fn constitutional() -> ConstitutionalRecord {
        ConstitutionalRecord {
            phase: "P30".into(),
            status: AuditStatus::Pass,
            auditors: vec![AuditorEntry {
                name: "constitution".into(),
                status: AuditStatus::Pass,
                reason_kind: None,
                message: String::new(),
                fuel_used: Some(10),
                duration_ms: 1,
                verdict: Some(AuditorVerdict {
                    status: WitVerdictStatus::Pass,
                    violated_laws: vec![],
                    evidence_refs: vec!["phase".into()],
                    reasons: vec![],
                    remediation: String::new(),
                }),
            }],
            pack_sha256: Some("0".repeat(64)),
        }
    }

    fn verdict() -> VerdictRecord {
        VerdictRecord {
            phase: "P30".into(),
            court: PassFail::Fail,
            deterministic: PassFail::Pass,
            constitutional: AuditStatus::Unverified,
            code: wfhost_constitution::codes::PHASE_TIMEOUT_3XX.get(),
            halt_reason: Some("auditors did not pass P30".into()),
            violated_laws: vec!["L9".into()],
            next_command: Some("wfhost explain x".into()),
            court_ms: 1,
            evidence: VerdictEvidence {
                outcome: "phase/phase.P30.json".into(),
                deterministic: "phase/phase.P30.deterministic.json".into(),
                constitutional: "phase/phase.P30.constitutional.json".into(),
            },
        }
    }

    /// The member names a schema allows at its top level.
    fn schema_members(name: &str) -> BTreeSet<String> {
        let schema: Value = serde_json::from_str(named(name).expect("schema").text).expect("schema JSON");
        schema["properties"].as_object().expect("properties").keys().cloned().collect()
    }

    fn members(v: &Value) -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    }

    #[test]
    fn file_records_validate_against_their_published_schemas() {
        let samples = [
            ("phase-outcome", to_value(&outcome())),
            ("phase-deterministic", to_value(&DeterministicRecord {
                phase: "P30".into(),
                pass: true,
                checks: vec![CheckRecord { check: "rc_ok".into(), stage: Stage::Post, pass: true, finding: "rc 0".into() }],
            })),
            ("phase-constitutional", to_value(&constitutional())),
            ("phase-verdict", to_value(&verdict())),
            ("fsm-mirror", to_value(&FsmMirror {
                state: "POD_READY".into(),
                previous_state: "INIT".into(),
                reason: "P30 ok code 0".into(),
                updated_at: "2026-12-06T13:00:00.000Z".into(),
                host: "h".into(),
                flow_id: "f".into(),
                phase: "P30".into(),
            })),
        ];
        for (schema, value) in samples {
            let problem = named(schema).expect("schema").check(&value).expect("schema compiles");
            assert_eq!(problem, None, "{schema}: {value}");
            // The type writes every member its schema names (optional ones included when set),
            // and nothing else.
            assert_eq!(members(&value), schema_members(schema), "{schema}");
        }
    }

    #[test]
    fn records_round_trip_and_a_wrong_member_type_is_named() {
        let v = to_value(&verdict());
        assert_eq!(parse::<VerdictRecord>(&v), Ok(verdict()));
        let mut bad = v.clone();
        bad["court"] = json!("maybe");
        let err = parse::<VerdictRecord>(&bad).unwrap_err();
        assert!(err.contains("maybe"), "{err}");
        let c = to_value(&constitutional());
        assert_eq!(parse::<ConstitutionalRecord>(&c), Ok(constitutional()));
        let o = to_value(&outcome());
        assert_eq!(parse::<PhaseOutcomeRecord>(&o), Ok(outcome()));
    }
}
