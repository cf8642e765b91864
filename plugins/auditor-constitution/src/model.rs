//! Plain Rust mirror of the WIT types the auditor reads (`audit-request`, `evidence-pack`,
//! `phase-outcome`, `law`).
//!
//! Keeping the judging logic on these types, not on the generated bindings, lets it compile and
//! be tested on the host target. The WIT glue fills them field by field.

/// A key/value entry (config, facts).
pub type Kv = wfhost_pack_sdk::kv::Kv;

pub use wfhost_pack_sdk::records::{FlowFlags, ProvisionMode, TeardownMode};

/// `phase-status`, `artifact` and `phase-outcome`: the SDK's records.
pub use wfhost_pack_sdk::records::{Artifact, PhaseOutcome as Outcome, PhaseStatus};

/// `evidence-pack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidencePack {
    /// Flow ID.
    pub flow_id: String,
    /// Phase judged.
    pub phase: String,
    /// Constitution version the host enforces.
    pub constitution_version: u32,
    /// Law IDs applicable to the phase.
    pub applicable_laws: Vec<String>,
    /// Config sha256 at P00.
    pub config_sha256_at_start: String,
    /// Config sha256 now.
    pub config_sha256: String,
    /// Transport id.
    pub transport: String,
    /// Target bound at P20.
    pub bound_target: Option<String>,
    /// Target the phase acted on.
    pub phase_target: Option<String>,
    /// `explicit`, `autobind` or `pending`.
    pub target_source: String,
    /// The executor's outcome.
    pub outcome: Outcome,
    /// Flow flags, typed (the host parsed and checked them in P00).
    pub flow_flags: FlowFlags,
    /// Whether P00 recorded consent to create a pod.
    pub consent: bool,
    /// Non-secret config.
    pub config: Vec<Kv>,
    /// Remote FSM before.
    pub fsm_before: String,
    /// Remote FSM after.
    pub fsm_after: String,
    /// The deterministic validator's result.
    pub deterministic_pass: bool,
    /// The deterministic validator's findings.
    pub deterministic_findings: Vec<String>,
}

/// `law`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Law {
    /// `L1` ...
    pub id: String,
    /// Short title.
    pub title: String,
    /// Normative text.
    pub text: String,
}

/// `audit-request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRequest {
    /// The evidence pack.
    pub pack: EvidencePack,
    /// Texts of the laws the pack is judged against.
    pub laws: Vec<Law>,
}
