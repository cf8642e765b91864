//! The ops constitution as data: `constitution/ops.toml`, embedded at build time.
//!
//! The file declares the envelope members and their types, the event types (with payload schema,
//! allowed actors, capability rule, decision flag), the actor kinds, the action classes, the
//! event-ID rule, the chain and the canonical order. [`Ops::get`] parses and cross-checks it
//! once; the evidence crate (`wfhost-evidence`) reads every list from here, and checks at its
//! own first use that its envelope struct has exactly the members declared, so the code and
//! the normative text in `constitution/ops.md` cannot drift.

use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

/// The raw text of `constitution/ops.toml` this build enforces.
pub const OPS_TOML: &str = include_str!("../../../constitution/ops.toml");

/// The ops constitution version this build implements.
pub const OPS_VERSION: u32 = 1;

/// Largest integer every JSON implementation represents exactly (I-JSON, RFC 7493): 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why `ops.toml` could not be used. Only a broken build (or a bad edit of the file) produces it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    /// The file is not valid TOML for its schema.
    #[error("constitution/ops.toml does not parse: {0}")]
    Parse(String),
    /// The file contradicts itself or what this build implements.
    #[error("constitution/ops.toml is inconsistent: {0}; fix the file and rebuild")]
    Inconsistent(String),
}

/// The type of an envelope member, as named in `ops.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// JSON integer in `0..=2^53-1`.
    Uint,
    /// Non-empty JSON string.
    String,
    /// 64 lowercase hexadecimal characters.
    Sha256Hex,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    TimestampUtcMs,
    /// A declared event type.
    EventType,
    /// A declared payload schema id (`schema/version`).
    PayloadSchema,
    /// `{"kind": <actor kind>, "id": <non-empty string>}`.
    Actor,
    /// Any JSON object.
    Object,
}

impl FieldType {
    /// Whether values of this type are JSON strings (and may feed the event-ID rule).
    pub fn is_string(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::Sha256Hex
                | FieldType::TimestampUtcMs
                | FieldType::EventType
                | FieldType::PayloadSchema
        )
    }
}

/// One envelope member.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Member name.
    pub name: String,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Whether every record carries it (optional members are omitted when absent).
    pub required: bool,
    /// What it means.
    pub meaning: String,
}

/// The `[envelope]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeDef {
    /// The envelope version every record carries.
    pub version: u32,
    /// The members, in the order the file lists them.
    pub field: Vec<FieldDef>,
}

/// The `[event_id]` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventIdRule {
    /// Envelope members whose string values are hashed, in order.
    pub inputs: Vec<String>,
    /// How they are joined (only `rfc8785_array` is defined).
    pub join: String,
}

/// The `[chain]` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainRule {
    /// Hash function (only `sha256` is defined).
    pub hash: String,
    /// `prev_hash` of the first record.
    pub genesis_prev_hash: String,
    /// The rule in words.
    pub rule: String,
}

/// The `[ordering]` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderingRule {
    /// `seq` of the first record.
    pub seq_start: u64,
    /// Increment of `seq` from one record to the next.
    pub seq_step: u64,
    /// The rule in words.
    pub rule: String,
}

/// One actor kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorKindDef {
    /// Name, e.g. `host`.
    pub name: String,
    /// What it means.
    pub meaning: String,
}

/// One action class of gateway calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionClass {
    /// Name, e.g. `WRITE_EXTERNAL_SIDE_EFFECT`.
    pub name: String,
    /// A recorded consent must precede the call.
    pub consent: bool,
    /// The call must carry an idempotency key.
    pub idempotency_key: bool,
    /// A `receipt.side_effect` event must follow the call.
    pub receipt: bool,
    /// What it means.
    pub meaning: String,
}

/// Whether an event type carries `capability_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityRule {
    /// `capability_id` must be present.
    Required,
    /// `capability_id` may be present.
    Optional,
    /// `capability_id` must be absent.
    None,
}

/// One event type a flow emits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypeDef {
    /// Event type, e.g. `phase.outcome`.
    #[serde(rename = "type")]
    pub name: String,
    /// Payload schema id without version, e.g. `wfhost.phase.outcome`.
    pub schema: String,
    /// Payload schema version.
    pub version: u32,
    /// Actor kinds that may emit it.
    pub actors: Vec<String>,
    /// Whether it carries `capability_id`.
    pub capability: CapabilityRule,
    /// Whether `Durability::OnDecision` makes it durable before `append` returns.
    pub decision: bool,
    /// What it records.
    pub meaning: String,
    /// `schema/version`, filled in at load.
    #[serde(skip)]
    payload_schema: String,
}

impl EventTypeDef {
    /// The `payload_schema` value records of this type carry, e.g. `wfhost.phase.outcome/1`.
    pub fn payload_schema(&self) -> &str {
        &self.payload_schema
    }
}

/// The parsed, cross-checked ops constitution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    /// Ops constitution version.
    pub version: u32,
    /// Envelope members.
    pub envelope: EnvelopeDef,
    /// Event-ID rule.
    pub event_id: EventIdRule,
    /// Chain rule.
    pub chain: ChainRule,
    /// Canonical order.
    pub ordering: OrderingRule,
    /// Actor kinds.
    pub actor_kind: Vec<ActorKindDef>,
    /// Action classes.
    pub action_class: Vec<ActionClass>,
    /// Event types.
    pub event: Vec<EventTypeDef>,
    #[serde(skip)]
    index: Index,
}

#[derive(Debug, Clone, Default)]
struct Index {
    events: HashMap<String, usize>,
    schemas: HashMap<String, usize>,
    fields: HashMap<String, usize>,
    record_prefix: String,
}

impl Ops {
    /// The embedded ops constitution, parsed and checked once per process.
    pub fn get() -> Result<&'static Ops, &'static OpsError> {
        static CELL: OnceLock<Result<Ops, OpsError>> = OnceLock::new();
        CELL.get_or_init(|| Ops::parse(OPS_TOML)).as_ref()
    }

    /// Parse and cross-check an ops constitution text (the embedded one is [`OPS_TOML`]).
    pub fn parse(text: &str) -> Result<Ops, OpsError> {
        let mut ops: Ops = toml::from_str(text).map_err(|e| OpsError::Parse(e.to_string()))?;
        ops.check_and_index()?;
        Ok(ops)
    }

    /// The event type named `name`, if declared.
    pub fn event_type(&self, name: &str) -> Option<&EventTypeDef> {
        self.index.events.get(name).map(|&i| &self.event[i])
    }

    /// The event type whose payload schema is `schema` (e.g. `wfhost.phase.outcome/1`).
    pub fn event_type_by_schema(&self, schema: &str) -> Option<&EventTypeDef> {
        self.index.schemas.get(schema).map(|&i| &self.event[i])
    }

    /// The envelope member named `name`, if declared.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.index
            .fields
            .get(name)
            .map(|&i| &self.envelope.field[i])
    }

    /// The action class named `name`, if declared.
    pub fn action_class(&self, name: &str) -> Option<&ActionClass> {
        self.action_class.iter().find(|c| c.name == name)
    }

    /// Whether `name` is a declared actor kind.
    pub fn is_actor_kind(&self, name: &str) -> bool {
        self.actor_kind.iter().any(|k| k.name == name)
    }

    /// The bytes every complete record line starts with in canonical form (`{"actor":`): the
    /// first member in RFC 8785 order. Used to tell a crash's partial last line from garbage.
    pub fn record_prefix(&self) -> &str {
        &self.index.record_prefix
    }

    /// `seq` of the record at zero-based line index `index`, or `None` past the integer range.
    pub fn seq_at(&self, index: u64) -> Option<u64> {
        index
            .checked_mul(self.ordering.seq_step)
            .and_then(|d| d.checked_add(self.ordering.seq_start))
            .filter(|&s| s <= MAX_SAFE_INTEGER)
    }

    fn check_and_index(&mut self) -> Result<(), OpsError> {
        let bad = |m: String| Err(OpsError::Inconsistent(m));
        if self.version != OPS_VERSION {
            return bad(format!(
                "version {} but this build implements {OPS_VERSION}",
                self.version
            ));
        }
        let mut index = Index::default();
        for (i, f) in self.envelope.field.iter().enumerate() {
            if index.fields.insert(f.name.clone(), i).is_some() {
                return bad(format!("envelope member {:?} is declared twice", f.name));
            }
        }
        for name in &self.event_id.inputs {
            match index.fields.get(name).map(|&i| &self.envelope.field[i]) {
                Some(f) if f.required && f.ty.is_string() && name != "event_id" && name != "record_hash" => {}
                _ => {
                    return bad(format!(
                        "[event_id] input {name:?} must be a required string member other than event_id and record_hash"
                    ))
                }
            }
        }
        if self.event_id.inputs.is_empty() || self.event_id.join != "rfc8785_array" {
            return bad("[event_id] needs inputs and join = \"rfc8785_array\"".into());
        }
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if self.chain.hash != "sha256" || !hex64(&self.chain.genesis_prev_hash) {
            return bad(
                "[chain] needs hash = \"sha256\" and a 64-hex-digit genesis_prev_hash".into(),
            );
        }
        if self.ordering.seq_step == 0 || self.ordering.seq_start > MAX_SAFE_INTEGER {
            return bad("[ordering] seq_step must be >= 1 and seq_start <= 2^53-1".into());
        }
        let mut kinds = BTreeSet::new();
        for k in &self.actor_kind {
            if !kinds.insert(k.name.as_str()) {
                return bad(format!("actor kind {:?} is declared twice", k.name));
            }
        }
        let mut classes = BTreeSet::new();
        for c in &self.action_class {
            if !classes.insert(c.name.as_str()) {
                return bad(format!("action class {:?} is declared twice", c.name));
            }
        }
        for (i, e) in self.event.iter_mut().enumerate() {
            if e.version == 0 || e.schema.is_empty() || e.schema.contains('/') {
                return bad(format!(
                    "event {:?}: schema must be non-empty without '/', version >= 1",
                    e.name
                ));
            }
            if e.actors.is_empty() {
                return bad(format!("event {:?} allows no actor kind", e.name));
            }
            if let Some(a) = e.actors.iter().find(|a| !kinds.contains(a.as_str())) {
                return bad(format!(
                    "event {:?} names undeclared actor kind {a:?}",
                    e.name
                ));
            }
            e.payload_schema = format!("{}/{}", e.schema, e.version);
            if index.events.insert(e.name.clone(), i).is_some() {
                return bad(format!("event type {:?} is declared twice", e.name));
            }
            if index.schemas.insert(e.payload_schema.clone(), i).is_some() {
                return bad(format!(
                    "payload schema {:?} is declared twice",
                    e.payload_schema
                ));
            }
        }
        // The first member of every record in canonical (UTF-16) order must be a required one,
        // so that every complete line starts with the same bytes.
        let utf16 = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
        let first = self.envelope.field.iter().min_by_key(|f| utf16(&f.name));
        match first {
            Some(f) if f.required => index.record_prefix = format!("{{\"{}\":", f.name),
            _ => return bad("the first envelope member in RFC 8785 order must be required".into()),
        }
        self.index = index;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_ops_loads_and_declares_the_required_types() {
        let ops = Ops::get().expect("embedded ops.toml is valid");
        for t in [
            "flow.started",
            "flow.header",
            "phase.started",
            "phase.outcome",
            "court.deterministic",
            "court.auditor",
            "court.verdict",
            "fsm.transition",
            "capability.granted",
            "capability.scope_changed",
            "capability.revoked",
            "capability.expired",
            "gateway.call",
            "gateway.refused",
            "consent.given",
            "receipt.side_effect",
            "secret.issued",
            "artifact.written",
            "flow.halted",
            "flow.summary",
        ] {
            let def = ops
                .event_type(t)
                .unwrap_or_else(|| panic!("{t} not declared"));
            assert_eq!(
                ops.event_type_by_schema(def.payload_schema())
                    .map(|d| &d.name),
                Some(&def.name)
            );
        }
        assert_eq!(ops.record_prefix(), "{\"actor\":");
        let side = ops
            .action_class("WRITE_EXTERNAL_SIDE_EFFECT")
            .expect("declared");
        assert!(side.consent && side.receipt && side.idempotency_key);
        assert!(!ops.action_class("READ").expect("declared").consent);
    }

    fn edited(from: &str, to: &str) -> Result<Ops, OpsError> {
        assert!(
            OPS_TOML.contains(from),
            "fixture text {from:?} not in ops.toml"
        );
        Ops::parse(&OPS_TOML.replacen(from, to, 1))
    }

    #[test]
    fn inconsistent_files_are_refused() {
        // An event naming an undeclared actor kind.
        assert!(matches!(
            edited("actors = [\"user\", \"policy\"]", "actors = [\"robot\"]"),
            Err(OpsError::Inconsistent(m)) if m.contains("robot")
        ));
        // A duplicated event type.
        assert!(matches!(
            edited("type = \"flow.header\"", "type = \"flow.started\""),
            Err(OpsError::Inconsistent(m)) if m.contains("declared twice")
        ));
        // An event-ID input that is not a string member.
        assert!(matches!(
            edited("inputs = [\"source_ref\",", "inputs = [\"seq\","),
            Err(OpsError::Inconsistent(m)) if m.contains("seq")
        ));
        // An event-ID input that is not a declared member.
        assert!(matches!(
            edited("name = \"native_id\"", "name = \"native_ref\""),
            Err(OpsError::Inconsistent(m)) if m.contains("native")
        ));
        // An unknown member type.
        assert!(matches!(
            edited("type = \"uint\"", "type = \"float\""),
            Err(OpsError::Parse(_))
        ));
        // A wrong version.
        assert!(matches!(
            edited("version = 1\n", "version = 2\n"),
            Err(OpsError::Inconsistent(_))
        ));
    }
}
