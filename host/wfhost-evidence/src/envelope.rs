//! The event envelope: what one line of `events.jsonl` holds, and how its IDs and hashes are
//! derived.
//!
//! A caller describes an event as an [`EventDraft`]; the log fills in the rest (seq, flow ID,
//! time if the draft has none, payload schema, payload hash, event ID, chain link) and seals
//! it into an [`Envelope`]: `record_hash` is the sha256 of the record's canonical JSON without
//! `record_hash`. The members and their types are declared in `constitution/ops.toml`; the
//! struct here must match that list exactly, which `crate::ops::get` checks at first use.

use crate::canonical;
use crate::clock::Timestamp;
use crate::ops::Ops;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who an event happened on behalf of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// An actor kind declared in `ops.toml` (`host`, `plugin`, `user`, `policy`).
    pub kind: String,
    /// Which one: a component id, a user name, a policy name (`LIUM_YES`), ...
    pub id: String,
}

impl Actor {
    /// An actor of `kind` named `id`. Both are checked when the event is appended.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Actor {
        Actor {
            kind: kind.into(),
            id: id.into(),
        }
    }
}

/// An event as its producer describes it, before the log seals it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    /// A type declared in `ops.toml`, e.g. `phase.outcome`.
    pub event_type: String,
    /// Who produced it (`host`, `plugin:<id>`, ...).
    pub source_ref: String,
    /// The producer's own ID for it; with `source_ref`, payload and time it fixes the event ID.
    pub native_id: String,
    /// On whose behalf.
    pub actor: Actor,
    /// event_id of the earlier record that caused it.
    pub causation_id: Option<String>,
    /// The capability it concerns or ran under.
    pub capability_id: Option<String>,
    /// The facts (a JSON object).
    pub payload: Value,
    /// When it happened; `None` takes the log's clock.
    pub occurred_at: Option<Timestamp>,
}

impl EventDraft {
    /// A draft with no causation, no capability and the log's clock for its time.
    pub fn new(
        event_type: impl Into<String>,
        actor: Actor,
        source_ref: impl Into<String>,
        native_id: impl Into<String>,
        payload: Value,
    ) -> EventDraft {
        EventDraft {
            event_type: event_type.into(),
            source_ref: source_ref.into(),
            native_id: native_id.into(),
            actor,
            causation_id: None,
            capability_id: None,
            payload,
            occurred_at: None,
        }
    }

    /// Name the event that caused this one.
    pub fn caused_by(mut self, event_id: impl Into<String>) -> EventDraft {
        self.causation_id = Some(event_id.into());
        self
    }

    /// Name the capability this event concerns or ran under.
    pub fn with_capability(mut self, capability_id: impl Into<String>) -> EventDraft {
        self.capability_id = Some(capability_id.into());
        self
    }

    /// Fix the time instead of asking the log's clock.
    pub fn at(mut self, occurred_at: Timestamp) -> EventDraft {
        self.occurred_at = Some(occurred_at);
        self
    }
}

/// One sealed record of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Envelope version (`[envelope].version` of ops.toml).
    pub envelope_version: u32,
    /// Position in the log.
    pub seq: u64,
    /// Deterministic event ID.
    pub event_id: String,
    /// Declared event type.
    pub event_type: String,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// Who produced it.
    pub source_ref: String,
    /// The producer's ID for it.
    pub native_id: String,
    /// The flow ID.
    pub correlation_id: String,
    /// The event that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// On whose behalf.
    pub actor: Actor,
    /// The capability it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_id: Option<String>,
    /// `schema/version` of the payload.
    pub payload_schema: String,
    /// sha256 of the canonical payload.
    pub payload_sha256: String,
    /// The facts.
    pub payload: Value,
    /// record_hash of the previous record.
    pub prev_hash: String,
    /// sha256 of this record's canonical JSON without `record_hash`.
    pub record_hash: String,
}

impl Envelope {
    /// The draft this record was sealed from. Appending the drafts of a log, in order, to a new
    /// log of the same flow reproduces the original file byte for byte.
    pub fn to_draft(&self) -> EventDraft {
        EventDraft {
            event_type: self.event_type.clone(),
            source_ref: self.source_ref.clone(),
            native_id: self.native_id.clone(),
            actor: self.actor.clone(),
            causation_id: self.causation_id.clone(),
            capability_id: self.capability_id.clone(),
            payload: self.payload.clone(),
            occurred_at: Some(self.occurred_at),
        }
    }
}

/// Whether `s` is 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The event ID of a record given as a JSON object: sha256 of the canonical JSON array of the
/// `[event_id].inputs` members. Errors name the missing or non-string input.
pub(crate) fn event_id_of(ops: &Ops, record: &Map<String, Value>) -> Result<String, String> {
    let mut parts = Vec::with_capacity(ops.event_id.inputs.len());
    for name in &ops.event_id.inputs {
        match record.get(name) {
            Some(Value::String(s)) => parts.push(Value::String(s.clone())),
            _ => return Err(name.clone()),
        }
    }
    canonical::sha256(&Value::Array(parts)).map_err(|_| "event_id".to_string())
}

/// Serialise a record to its JSON object form.
pub(crate) fn to_map(envelope: &Envelope) -> Map<String, Value> {
    match serde_json::to_value(envelope) {
        Ok(Value::Object(map)) => map,
        // A struct with named fields always serialises to an object; the payload may not be an
        // object, but that is a member value and checked separately.
        _ => Map::new(),
    }
}

/// Check that the `Envelope` struct has exactly the members `ops.toml` declares, with the same
/// optionality. Run once when the ops constitution loads.
pub(crate) fn check_struct_matches(ops: &Ops) -> Result<(), String> {
    let sample = Envelope {
        envelope_version: 1,
        seq: 0,
        event_id: String::new(),
        event_type: String::new(),
        occurred_at: Timestamp::from_unix_millis(0).map_err(|e| e.to_string())?,
        source_ref: String::new(),
        native_id: String::new(),
        correlation_id: String::new(),
        causation_id: None,
        actor: Actor::new("", ""),
        capability_id: None,
        payload_schema: String::new(),
        payload_sha256: String::new(),
        payload: Value::Object(Map::new()),
        prev_hash: String::new(),
        record_hash: String::new(),
    };
    let required: Vec<String> = to_map(&sample).keys().cloned().collect();
    let all: Vec<String> = to_map(&Envelope {
        causation_id: Some(String::new()),
        capability_id: Some(String::new()),
        ..sample
    })
    .keys()
    .cloned()
    .collect();
    for name in &all {
        match ops.field(name) {
            None => {
                return Err(format!(
                    "the envelope struct has member {name:?} that ops.toml does not declare"
                ))
            }
            Some(f) if f.required != required.contains(name) => {
                return Err(format!(
                    "member {name:?}: required = {} in ops.toml but not in the envelope struct",
                    f.required
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(f) = ops.envelope.field.iter().find(|f| !all.contains(&f.name)) {
        return Err(format!(
            "ops.toml declares member {:?} that the envelope struct does not have",
            f.name
        ));
    }
    Ok(())
}
