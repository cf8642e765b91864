//! The audit trail of a finished (or interrupted) flow: `wfhost verify`, `wfhost replay` and
//! `wfhost explain`, working from the flow's evidence directory alone.
//!
//! ```text
//! <flow_dir>/events.jsonl ──► pass::accept: one read, one record in memory at a time
//!                             (wfhost_evidence::Verifier: hash chain, envelope, tail rule;
//!                              the log-level rules verify and replay share)
//!                                                        │
//!   verify:  walk the records (phase order, court rules, capabilities, consent)
//!            ─► every evidence file: JSON, canonical bytes, published schema (docs/schemas),
//!               byte-equal to the record that carries it; pack and fsm mirror cross-checked
//!            ─► flow.summary.json byte-equal to summary::project(records)
//!            ─► signed flows: signing.pub, every *.dsse.json envelope verified (signature,
//!               payload type, predicate type, subjects' sha256, predicate)
//!   replay:  the same projections rebuilt and compared byte for byte; `--write` restores them
//!   explain: the records told as plain text (command, config, target, phases, halt, effects)
//! ```
//!
//! None of them holds the log: memory is bounded by a constant plus what the phase table
//! bounds (docs/performance.md has the figures), whatever the log's length.
//!
//! The event log is the write truth (constitution/ops.md O1): every check here derives what a
//! file must hold from the log and compares, so a changed byte anywhere is named with its file,
//! line or member. What the log cannot vouch for (members the engine never records) is listed in
//! docs/evidence.md and in each file's check description.

pub mod decision;
mod diff;
mod explain;
pub mod explain_json;
pub mod pack;
pub mod records;
pub mod report;
pub mod layout;
pub mod signing;
pub mod start;
pub mod status;
pub mod story;
pub mod summary;
mod files;
mod pass;
mod replay;
mod schemas;
mod signatures;
mod verify;
mod walk;

pub use explain::{explain, ExplainError};
pub use replay::{replay, ReplayError, ReplayFile, ReplayOutcome, ReplayReport};
pub use schemas::{output as output_schema, Schema, OUTPUTS, SCHEMAS};
pub use signatures::SigningReport;
pub use verify::{verify, verify_with, CheckedFile, FailureKind, PhaseLine, VerifyFailure, VerifyOptions, VerifyReport, WriteFailure};

use serde_json::Value;
use std::path::{Path, PathBuf};
use wfhost_evidence::Envelope;

pub use layout::{FlowDir, PhaseFile};
pub(crate) use layout::{EVENTS, FLOW_START, FSM, PHASE_DIR, SUMMARY};

pub use decision::EXIT_INTERNAL;

/// Whether `dir` looks like a flow's evidence directory (it holds `events.jsonl`).
pub(crate) fn check_flow_dir(dir: &Path) -> Result<PathBuf, String> {
    if !dir.is_dir() {
        return Err(format!(
            "{} is not a directory; pass a flow's evidence directory, e.g. artifacts/pod_logs/_flows/<flow_id>",
            dir.display()
        ));
    }
    if !dir.join(EVENTS).is_file() {
        return Err(format!(
            "{} holds no {EVENTS}, so it is not a flow's evidence directory; pass \
             artifacts/pod_logs/_flows/<flow_id> (the path the PHASE lines print)",
            dir.display()
        ));
    }
    Ok(dir.to_path_buf())
}

/// The bytes of an evidence file holding `value`: RFC 8785 canonical JSON and one `\n`
/// (constitution/ops.md O11), exactly what the engine writes.
pub(crate) fn file_bytes(value: &Value) -> Result<Vec<u8>, wfhost_evidence::canonical::CanonicalError> {
    let mut bytes = wfhost_evidence::canonical::to_vec(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A string payload member, or "".
pub(crate) fn pstr<'a>(e: &'a Envelope, key: &str) -> &'a str {
    e.payload.get(key).and_then(Value::as_str).unwrap_or("")
}
