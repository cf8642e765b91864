//! Flow evidence: the append-only, hash-chained event log (`events.jsonl`), canonical JSON,
//! atomic evidence files, and verification from the files alone.
//!
//! Everything this crate enforces about records is data in `constitution/ops.toml` (embedded;
//! see [`Ops`]): the envelope members and types, the event types with their payload schemas,
//! actor kinds, action classes, the event-ID rule, the chain and the canonical order.
//! `constitution/ops.md` is the normative text.
//!
//! Data flow: a producer builds an [`EventDraft`]; [`EventLog::append`] seals it into an
//! [`Envelope`] (seq, flow ID, time, payload hash, deterministic event ID, `prev_hash`,
//! `record_hash`), checks it against ops.toml, writes one canonical JSON line and fsyncs it
//! before returning. [`verify`] re-derives every hash and rule from the file, one line at a
//! time in constant memory ([`Verifier`] hands each record on as it passes); [`Reader`] parses
//! it without the checks. Side files go through [`atomic::write_json`]. [`dsse`] signs evidence files
//! (in-toto Statements in DSSE envelopes, ed25519) and verifies the signatures.
//!
//! ```
//! use serde_json::json;
//! use wfhost_evidence::{verify, Actor, EventDraft, EventLog, Tail};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("events.jsonl");
//! let mut log = EventLog::create(&path, "flow-20250101-0001")?;
//! let started = log.append(EventDraft::new(
//!     "flow.started",
//!     Actor::new("host", "wfhost"),
//!     "host",
//!     "flow.started",
//!     json!({"flags": {"provision": "skip"}}),
//! ))?;
//! log.append(
//!     EventDraft::new("phase.started", Actor::new("host", "wfhost"), "host", "P00/started", json!({"phase": "P00"}))
//!         .caused_by(&started.event_id),
//! )?;
//! drop(log);
//!
//! let report = verify(&path)?;
//! assert_eq!(report.records, 2);
//! assert_eq!(report.tail, Tail::Clean);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod atomic;
pub mod canonical;
mod clock;
pub mod dsse;
mod envelope;
pub mod hash;
mod ledger;
pub mod input;
mod log;
mod ops;
mod verify;

pub use clock::{Clock, SystemClock, Timestamp, TimestampError};
pub use envelope::{is_sha256_hex, Actor, Envelope, EventDraft};
pub use log::{
    read, DiscardedTail, Durability, EventLog, LogContents, LogError, LogOptions, OpenReport,
    Prepared, Reader, TailPolicy,
};
pub use ops::{
    ActionClass, ActorKindDef, CapabilityRule, ChainRule, EnvelopeDef, EventIdRule, EventTypeDef,
    FieldDef, FieldType, Ops, OpsError, OrderingRule, MAX_SAFE_INTEGER, OPS_TOML, OPS_VERSION,
};
pub use verify::{
    verify, verify_bytes, Defect, Record, Tail, Verifier, VerifyError, VerifyReport,
    MAX_LINE_BYTES,
};
