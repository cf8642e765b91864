//! Verification of an event log from the file alone, and the record rules appending shares.
//!
//! A log is read line by line, in memory bounded by a constant however long it is: a line may
//! hold at most [`MAX_LINE_BYTES`] bytes (a longer one is refused, not read), and the event-ID
//! rules (unique IDs, causes naming earlier records) are noted in a `ledger` and settled once
//! the lines are read, instead of keeping every ID in memory. [`Verifier`] hands each record on
//! as it passes, so a caller checks its own rules in the same pass; [`Verifier::finish`] gives
//! the first line that breaks a rule, whichever rule finds it. Each complete line must be: valid JSON, an object with exactly the members `ops.toml`
//! declares and of their declared types, byte-identical to its RFC 8785 canonical form, of the
//! expected `seq`, of a declared event type with its payload schema, emitted by an actor kind
//! and with a capability that type allows, of the log's flow, with a `causation_id` naming an
//! earlier event and a unique `event_id`, linked to the previous record by `prev_hash`, and its
//! `payload_sha256`, `event_id` and `record_hash` must recompute.
//!
//! The partial-tail rule: the bytes after the last newline, if any, are a crash's unfinished
//! append, reported as [`Tail::Partial`] and not counted, provided they could be one: they
//! start like a record (`{"actor":`) or are a prefix of that, possibly followed by NUL bytes,
//! and are not a complete JSON value followed by anything. A complete record with a damaged
//! newline is thus an error, not a tail, so flipping any byte of a clean log is detected.
//! Cutting whole records off the end cannot be detected from the file alone; compare
//! [`VerifyReport::last_record_hash`] with an anchor kept elsewhere (e.g. the flow summary).

use crate::canonical::{self, CanonicalError};
use crate::envelope::{event_id_of, is_sha256_hex, Envelope};
use crate::hash::sha256_hex;
use crate::ledger::{self, Ledger};
use crate::ops::{CapabilityRule, FieldType, Ops, OpsError, MAX_SAFE_INTEGER};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The most bytes one line of `events.jsonl` may hold (a record, without its newline): 64 MiB.
/// The log refuses to append a longer record, and reading refuses a longer line (or partial
/// line) with [`Defect::TooLong`] instead of holding it in memory. The largest records a flow
/// writes are phase outcomes listing the phase's gateway calls, a few hundred bytes a call.
pub const MAX_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// What is wrong with one member or line of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// Not UTF-8, not JSON, or an empty line.
    Unparsable(String),
    /// JSON, but not an object.
    NotObject,
    /// Valid, but not byte-identical to its RFC 8785 canonical form.
    NotCanonical,
    /// A member ops.toml does not declare.
    Undeclared,
    /// A required member is absent.
    Missing,
    /// The value is not of the declared type or form.
    Invalid(String),
    /// The value differs from what the rules or a recomputation give.
    Mismatch {
        /// What it should be.
        expected: String,
        /// What the record holds.
        found: String,
    },
    /// The event ID was already used by the record with this seq.
    Duplicate {
        /// seq of the earlier record with the same event ID.
        first_seq: u64,
    },
    /// The value is well-formed but the rules of its event type forbid it.
    NotAllowed(String),
    /// A complete record is followed by bytes other than one newline.
    UnterminatedRecord {
        /// How many bytes follow the record.
        trailing: u64,
    },
    /// The unterminated last line does not start like a record, so no crash left it.
    NotARecordPrefix,
    /// The line is longer than [`MAX_LINE_BYTES`] allows, so it is not read.
    TooLong {
        /// The most bytes a line may hold.
        limit: u64,
    },
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Unparsable(m) => write!(f, "not a JSON record ({m})"),
            Defect::NotObject => write!(f, "not a JSON object"),
            Defect::NotCanonical => write!(f, "not in RFC 8785 canonical form (bytes were changed after sealing)"),
            Defect::Undeclared => write!(f, "member not declared in constitution/ops.toml"),
            Defect::Missing => write!(f, "required member is missing"),
            Defect::Invalid(m) => write!(f, "invalid value: {m}"),
            Defect::Mismatch { expected, found } => write!(f, "expected {expected}, found {found}"),
            Defect::Duplicate { first_seq } => write!(f, "event ID already used by the record with seq {first_seq}"),
            Defect::NotAllowed(m) => write!(f, "{m}"),
            Defect::UnterminatedRecord { trailing } => write!(
                f,
                "a complete record is followed by {trailing} byte(s) instead of its newline; a crash \
                 leaves only a prefix of a line, so the file was altered"
            ),
            Defect::NotARecordPrefix => write!(
                f,
                "the unterminated last line does not start like a record, so it is not a crash's partial write"
            ),
            Defect::TooLong { limit } => write!(
                f,
                "the line is longer than {limit} bytes, the most one record of an event log may hold \
                 (wfhost_evidence::MAX_LINE_BYTES; wfhost never appends a longer one), so it is not read"
            ),
        }
    }
}

/// Why a log failed to read or verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file could not be read.
    #[error("cannot read event log {}: {source}; check the path and permissions", path.display())]
    Io {
        /// The log.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line breaks a rule. `line` is 1-based; `field` names the member (or `line`).
    #[error(
        "{}:{line}: {field}: {defect}; the log fails verification from this line on: it was altered \
         or damaged after it was written, so keep the file as it is for inspection and do not append to it",
        path.display()
    )]
    Record {
        /// The log.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The envelope member at fault, or `line` for the line as a whole.
        field: String,
        /// What is wrong.
        defect: Defect,
    },
    /// The scratch file verification of a long log keeps its event IDs in could not be
    /// written or read back.
    #[error(
        "cannot verify event log {}: the scratch file for its event IDs (in {}, 40 bytes per record, \
         used past {} records) failed: {source}; set TMPDIR to a writable directory with free space",
        path.display(),
        std::env::temp_dir().display(),
        ledger::RUN_ENTRIES
    )]
    Scratch {
        /// The log.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The embedded ops constitution is broken (a build problem).
    #[error(transparent)]
    Ops(#[from] OpsError),
}

/// The end of a log after its last complete record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// The file ends with the newline of its last record (or is empty).
    Clean,
    /// An unterminated last line, left by a crash during an append that never returned.
    Partial {
        /// 1-based line number of the partial line.
        line: u64,
        /// Byte offset where it starts (= length of the complete records).
        offset: u64,
        /// Its length in bytes.
        len: u64,
        /// sha256 of its bytes.
        sha256: String,
    },
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of complete, valid records.
    pub records: u64,
    /// The flow ID all records carry (`None` for a log without records).
    pub correlation_id: Option<String>,
    /// record_hash of the last record (the genesis hash for a log without records): the value
    /// to compare with an anchor kept outside the log.
    pub last_record_hash: String,
    /// event_id of the last record.
    pub last_event_id: Option<String>,
    /// Bytes occupied by the complete records.
    pub complete_len: u64,
    /// What follows them.
    pub tail: Tail,
}

/// The running state of a chain: what the next record must link to. The writer keeps every
/// event ID in `event_ids` (it must answer at once); verification leaves it empty and notes the
/// IDs in a [`Ledger`].
#[derive(Debug, Clone)]
pub(crate) struct ChainState {
    pub(crate) records: u64,
    pub(crate) prev_hash: String,
    pub(crate) correlation_id: Option<String>,
    pub(crate) last_event_id: Option<String>,
    pub(crate) event_ids: HashMap<String, u64>,
    keep_ids: bool,
}

/// A defect located at a member.
pub(crate) type Located = (String, Defect);

fn at(field: &str, defect: Defect) -> Located {
    (field.to_string(), defect)
}

impl ChainState {
    pub(crate) fn new(ops: &Ops, correlation_id: Option<String>) -> ChainState {
        ChainState {
            records: 0,
            prev_hash: ops.chain.genesis_prev_hash.clone(),
            correlation_id,
            last_event_id: None,
            event_ids: HashMap::new(),
            keep_ids: true,
        }
    }

    /// A chain state that keeps no event IDs (their rules go to a ledger).
    fn without_ids(ops: &Ops) -> ChainState {
        ChainState { keep_ids: false, ..ChainState::new(ops, None) }
    }

    /// seq the next record must carry.
    pub(crate) fn next_seq(&self, ops: &Ops) -> Option<u64> {
        ops.seq_at(self.records)
    }

    /// The rules that relate a record to its event type and to the records before it.
    pub(crate) fn check_rules(&self, ops: &Ops, env: &Envelope) -> Result<(), Located> {
        self.check_before_ids(ops, env)?;
        self.check_ids(env)?;
        self.check_link(env)
    }

    /// The rules checked before the event-ID rules: version, seq, type, schema, actor,
    /// capability, flow.
    fn check_before_ids(&self, ops: &Ops, env: &Envelope) -> Result<(), Located> {
        if env.envelope_version != ops.envelope.version {
            return Err(at(
                "envelope_version",
                Defect::Mismatch {
                    expected: ops.envelope.version.to_string(),
                    found: env.envelope_version.to_string(),
                },
            ));
        }
        let expected_seq = self.next_seq(ops).ok_or_else(|| {
            at(
                "seq",
                Defect::Invalid("the log is full: seq would exceed 2^53-1".into()),
            )
        })?;
        if env.seq != expected_seq {
            return Err(at(
                "seq",
                Defect::Mismatch {
                    expected: expected_seq.to_string(),
                    found: env.seq.to_string(),
                },
            ));
        }
        let def = ops.event_type(&env.event_type).ok_or_else(|| {
            at(
                "event_type",
                Defect::Invalid(format!("{:?} is not declared in ops.toml", env.event_type)),
            )
        })?;
        if env.payload_schema != def.payload_schema() {
            return Err(at(
                "payload_schema",
                Defect::Mismatch {
                    expected: def.payload_schema().to_string(),
                    found: env.payload_schema.clone(),
                },
            ));
        }
        if !def.actors.contains(&env.actor.kind) {
            return Err(at(
                "actor.kind",
                Defect::NotAllowed(format!(
                    "{} events may be emitted by actor kinds {:?} only, not {:?}",
                    def.name, def.actors, env.actor.kind
                )),
            ));
        }
        match (def.capability, &env.capability_id) {
            (CapabilityRule::Required, None) => {
                return Err(at(
                    "capability_id",
                    Defect::NotAllowed(format!("{} events must name a capability_id", def.name)),
                ))
            }
            (CapabilityRule::None, Some(_)) => {
                return Err(at(
                    "capability_id",
                    Defect::NotAllowed(format!("{} events carry no capability_id", def.name)),
                ))
            }
            _ => {}
        }
        if let Some(flow) = &self.correlation_id {
            if *flow != env.correlation_id {
                return Err(at(
                    "correlation_id",
                    Defect::Mismatch {
                        expected: flow.clone(),
                        found: env.correlation_id.clone(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// The event-ID rules, from the IDs kept in memory: the cause names an earlier record, the
    /// ID is new.
    fn check_ids(&self, env: &Envelope) -> Result<(), Located> {
        if let Some(cause) = &env.causation_id {
            if !self.event_ids.contains_key(cause) {
                return Err(ledger::not_earlier(cause));
            }
        }
        if let Some(&first_seq) = self.event_ids.get(&env.event_id) {
            return Err(at("event_id", Defect::Duplicate { first_seq }));
        }
        Ok(())
    }

    /// The link to the previous record.
    fn check_link(&self, env: &Envelope) -> Result<(), Located> {
        if env.prev_hash != self.prev_hash {
            return Err(at(
                "prev_hash",
                Defect::Mismatch {
                    expected: self.prev_hash.clone(),
                    found: env.prev_hash.clone(),
                },
            ));
        }
        Ok(())
    }

    /// Take `env` as the newest record.
    pub(crate) fn advance(&mut self, env: &Envelope) {
        self.records += 1;
        self.prev_hash.clone_from(&env.record_hash);
        if self.correlation_id.is_none() {
            self.correlation_id = Some(env.correlation_id.clone());
        }
        self.last_event_id = Some(env.event_id.clone());
        if self.keep_ids {
            self.event_ids.insert(env.event_id.clone(), env.seq);
        }
    }
}

/// Check that `record` has exactly the declared members, each of its declared type.
pub(crate) fn check_shape(ops: &Ops, record: &Map<String, Value>) -> Result<(), Located> {
    if let Some(k) = record.keys().find(|k| ops.field(k).is_none()) {
        return Err(at(k, Defect::Undeclared));
    }
    for f in &ops.envelope.field {
        let Some(v) = record.get(&f.name) else {
            if f.required {
                return Err(at(&f.name, Defect::Missing));
            }
            continue;
        };
        if v.is_null() {
            return Err(at(
                &f.name,
                Defect::Invalid("null is not a legal value; omit an absent optional member".into()),
            ));
        }
        check_type(ops, f.ty, v).map_err(|(sub, reason)| {
            let field = if sub.is_empty() {
                f.name.clone()
            } else {
                format!("{}.{sub}", f.name)
            };
            (field, Defect::Invalid(reason))
        })?;
    }
    Ok(())
}

fn check_type(ops: &Ops, ty: FieldType, v: &Value) -> Result<(), (String, String)> {
    let plain = |reason: String| Err((String::new(), reason));
    fn string(v: &Value) -> Result<&str, (String, String)> {
        match v {
            Value::String(s) if !s.is_empty() => Ok(s.as_str()),
            Value::String(_) => Err((String::new(), "empty string".to_string())),
            _ => Err((
                String::new(),
                format!("expected a string, found {}", kind_of(v)),
            )),
        }
    }
    match ty {
        FieldType::Uint => match v.as_u64() {
            Some(n) if n <= MAX_SAFE_INTEGER => Ok(()),
            _ => plain(format!("expected an integer in 0..=2^53-1, found {v}")),
        },
        FieldType::String => string(v).map(|_| ()),
        FieldType::Sha256Hex => {
            let s = string(v)?;
            if is_sha256_hex(s) {
                Ok(())
            } else {
                plain(format!("expected 64 lowercase hex digits, found {s:?}"))
            }
        }
        FieldType::TimestampUtcMs => crate::clock::Timestamp::parse(string(v)?)
            .map(|_| ())
            .map_err(|e| (String::new(), e.to_string())),
        FieldType::EventType => {
            let s = string(v)?;
            if ops.event_type(s).is_some() {
                Ok(())
            } else {
                plain(format!("{s:?} is not an event type declared in ops.toml"))
            }
        }
        FieldType::PayloadSchema => {
            let s = string(v)?;
            if ops.event_type_by_schema(s).is_some() {
                Ok(())
            } else {
                plain(format!(
                    "{s:?} is not a payload schema declared in ops.toml"
                ))
            }
        }
        FieldType::Object => match v {
            Value::Object(_) => Ok(()),
            _ => plain(format!("expected an object, found {}", kind_of(v))),
        },
        FieldType::Actor => {
            let Value::Object(m) = v else {
                return plain(format!(
                    "expected an object {{kind, id}}, found {}",
                    kind_of(v)
                ));
            };
            if let Some(k) = m.keys().find(|k| *k != "kind" && *k != "id") {
                return Err((k.clone(), "member not declared for an actor".into()));
            }
            let kind = m
                .get("kind")
                .ok_or_else(|| ("kind".to_string(), "missing".to_string()))?;
            let kind = string(kind).map_err(|(_, r)| ("kind".to_string(), r))?;
            if !ops.is_actor_kind(kind) {
                return Err((
                    "kind".into(),
                    format!("{kind:?} is not an actor kind declared in ops.toml"),
                ));
            }
            let id = m
                .get("id")
                .ok_or_else(|| ("id".to_string(), "missing".to_string()))?;
            string(id)
                .map(|_| ())
                .map_err(|(_, r)| ("id".to_string(), r))
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Map a canonicalisation failure inside a record to the top-level member it is in.
pub(crate) fn canonical_defect(err: CanonicalError) -> Located {
    let field = match &err {
        CanonicalError::IntegerOutOfRange { pointer, .. } => pointer
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("line")
            .to_string(),
        CanonicalError::Serialize(_) => "line".to_string(),
    };
    (
        if field.is_empty() {
            "line".into()
        } else {
            field
        },
        Defect::Invalid(err.to_string()),
    )
}

/// Check one complete line (without its newline, at 1-based `line_no`) against the chain and
/// take it in. The event-ID rules are checked against the IDs `state` keeps, or, with a
/// `ledger`, noted there to be settled once every line is read.
fn verify_line(
    ops: &Ops,
    state: &mut ChainState,
    ledger: Option<&mut Ledger>,
    line_no: u64,
    line: &[u8],
) -> Result<Envelope, Located> {
    if line.is_empty() {
        return Err(at("line", Defect::Unparsable("empty line".into())));
    }
    let value: Value =
        serde_json::from_slice(line).map_err(|e| at("line", Defect::Unparsable(e.to_string())))?;
    let Value::Object(map) = value else {
        return Err(at("line", Defect::NotObject));
    };
    check_shape(ops, &map)?;
    let parts = canonical::members(&map).map_err(canonical_defect)?;
    if canonical::join(&parts, None) != line {
        return Err(at("line", Defect::NotCanonical));
    }
    let event_id = event_id_of(ops, &map).map_err(|f| at(&f, Defect::Missing))?;
    let env: Envelope = serde_json::from_value(Value::Object(map))
        .map_err(|e| at("line", Defect::Invalid(e.to_string())))?;
    state.check_before_ids(ops, &env)?;
    match ledger {
        Some(ledger) => ledger.note(line_no, &env.event_id, env.causation_id.as_deref())?,
        None => state.check_ids(&env)?,
    }
    state.check_link(&env)?;
    let part = |name: &str| {
        parts
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default()
    };
    let payload_sha = sha256_hex(part("payload"));
    if payload_sha != env.payload_sha256 {
        return Err(at(
            "payload_sha256",
            Defect::Mismatch {
                expected: payload_sha,
                found: env.payload_sha256.clone(),
            },
        ));
    }
    if event_id != env.event_id {
        return Err(at(
            "event_id",
            Defect::Mismatch {
                expected: event_id,
                found: env.event_id.clone(),
            },
        ));
    }
    let record_hash = sha256_hex(&canonical::join(&parts, Some("record_hash")));
    if record_hash != env.record_hash {
        return Err(at(
            "record_hash",
            Defect::Mismatch {
                expected: record_hash,
                found: env.record_hash.clone(),
            },
        ));
    }
    state.advance(&env);
    Ok(env)
}

/// Whether `tail` (bytes after the last newline, non-empty) may be a crash's partial append.
pub(crate) fn check_tail(ops: &Ops, tail: &[u8]) -> Result<(), Defect> {
    let body_len = tail.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let body = &tail[..body_len];
    if body.is_empty() {
        return Ok(());
    }
    let prefix = ops.record_prefix().as_bytes();
    if !(body.starts_with(prefix) || prefix.starts_with(body)) {
        return Err(Defect::NotARecordPrefix);
    }
    let mut values =
        serde_json::Deserializer::from_slice(body).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => {
            let end = values.byte_offset() as u64;
            let len = tail.len() as u64;
            if end != len {
                return Err(Defect::UnterminatedRecord {
                    trailing: len - end,
                });
            }
            Ok(())
        }
        // A crash cuts a valid line short, so parsing can only fail at the end of the bytes
        // (`EOF while parsing`, or `invalid number` for a number cut after `-`, `.` or `e`).
        Some(Err(e)) if !e.is_eof() && e.column() < body.len() => Err(Defect::NotARecordPrefix),
        _ => Ok(()),
    }
}

/// What [`Lines::next`] found.
pub(crate) enum Next<'a> {
    /// A complete line without its newline, with its 1-based number.
    Line(u64, &'a [u8]),
    /// The end of the complete lines, and what follows them (checked by the partial-tail rule).
    End(Tail),
}

/// A log split into complete lines and a tail, one line in memory at a time, none longer
/// than the limit ([`MAX_LINE_BYTES`]).
pub(crate) struct Lines<R> {
    reader: R,
    path: PathBuf,
    buf: Vec<u8>,
    /// Bytes of the complete lines so far.
    offset: u64,
    line_no: u64,
    limit: u64,
    end: Option<Tail>,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(path: &Path, reader: R) -> Lines<R> {
        Lines::with_limit(path, reader, MAX_LINE_BYTES)
    }

    pub(crate) fn with_limit(path: &Path, reader: R, limit: u64) -> Lines<R> {
        Lines {
            reader,
            path: path.to_path_buf(),
            buf: Vec::with_capacity(4096),
            offset: 0,
            line_no: 0,
            limit,
            end: None,
        }
    }

    /// Bytes occupied by the complete lines read so far.
    pub(crate) fn complete_len(&self) -> u64 {
        self.offset
    }

    /// The bytes of the line [`Lines::next`] returned last (without its newline).
    pub(crate) fn last(&self) -> &[u8] {
        self.buf.strip_suffix(b"\n").unwrap_or(&self.buf)
    }

    fn io(&self, source: std::io::Error) -> VerifyError {
        VerifyError::Io { path: self.path.clone(), source }
    }

    /// Read up to and including the next newline into `buf`; whether one was found.
    fn read_line(&mut self) -> Result<bool, VerifyError> {
        self.buf.clear();
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            };
            if available.is_empty() {
                return Ok(false);
            }
            let (take, found) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let content = (self.buf.len() + take - usize::from(found)) as u64;
            if content > self.limit {
                return Err(VerifyError::Record {
                    path: self.path.clone(),
                    line: self.line_no + 1,
                    field: "line".into(),
                    defect: Defect::TooLong { limit: self.limit },
                });
            }
            self.buf.extend_from_slice(&available[..take]);
            self.reader.consume(take);
            if found {
                return Ok(true);
            }
        }
    }

    /// The next complete line, or the end with the tail.
    pub(crate) fn next(&mut self, ops: &Ops) -> Result<Next<'_>, VerifyError> {
        if let Some(tail) = &self.end {
            return Ok(Next::End(tail.clone()));
        }
        let terminated = self.read_line()?;
        if self.buf.is_empty() {
            self.end = Some(Tail::Clean);
            return Ok(Next::End(Tail::Clean));
        }
        self.line_no += 1;
        if terminated {
            self.offset += self.buf.len() as u64;
            let n = self.buf.len() - 1;
            return Ok(Next::Line(self.line_no, &self.buf[..n]));
        }
        check_tail(ops, &self.buf).map_err(|defect| VerifyError::Record {
            path: self.path.clone(),
            line: self.line_no,
            field: "line".into(),
            defect,
        })?;
        let tail = Tail::Partial {
            line: self.line_no,
            offset: self.offset,
            len: self.buf.len() as u64,
            sha256: sha256_hex(&self.buf),
        };
        self.end = Some(tail.clone());
        Ok(Next::End(tail))
    }
}

/// Split a log into complete lines and a tail. `on_line` gets each complete line without its
/// newline, with its 1-based number; the tail is checked by the partial-tail rule.
pub(crate) fn scan<R: BufRead>(
    ops: &Ops,
    path: &Path,
    reader: R,
    mut on_line: impl FnMut(u64, &[u8]) -> Result<(), VerifyError>,
) -> Result<(u64, Tail), VerifyError> {
    let mut lines = Lines::new(path, reader);
    loop {
        match lines.next(ops)? {
            Next::Line(n, bytes) => on_line(n, bytes)?,
            Next::End(tail) => return Ok((lines.complete_len(), tail)),
        }
    }
}

/// Verify a log read from `reader` (for messages it is called `path`) keeping every event ID in
/// memory, as the writer needs to go on appending; returns the chain state.
pub(crate) fn verify_reader<R: BufRead>(
    ops: &Ops,
    path: &Path,
    reader: R,
) -> Result<(VerifyReport, ChainState), VerifyError> {
    let mut state = ChainState::new(ops, None);
    let (complete_len, tail) = scan(ops, path, reader, |line, bytes| {
        verify_line(ops, &mut state, None, line, bytes)
            .map(|_| ())
            .map_err(|(field, defect)| VerifyError::Record {
                path: path.to_path_buf(),
                line,
                field,
                defect,
            })
    })?;
    let report = VerifyReport {
        records: state.records,
        correlation_id: state.correlation_id.clone(),
        last_record_hash: state.prev_hash.clone(),
        last_event_id: state.last_event_id.clone(),
        complete_len,
        tail,
    };
    Ok((report, state))
}

/// A complete record of a log, as [`Verifier`] (or [`crate::Reader`]) hands it on.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its 1-based line in the log.
    pub line: u64,
    /// The record.
    pub envelope: Envelope,
}

/// A log verified as it is read, one record at a time, in memory bounded by a constant (module
/// doc): iterate to get each record that passes the rules checked at its line, then call
/// [`Verifier::finish`] for the verdict on the whole log. A record handed on is not yet vouched
/// for: the event-ID rules are settled by `finish`, which may name an earlier line.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("events.jsonl");
/// # let mut log = wfhost_evidence::EventLog::create(&path, "flow-1")?;
/// # log.append(wfhost_evidence::EventDraft::new("flow.started", wfhost_evidence::Actor::new("host", "wfhost"), "host", "flow.started", serde_json::json!({})))?;
/// # drop(log);
/// let mut verifier = wfhost_evidence::Verifier::open(&path)?;
/// let mut types = Vec::new();
/// for record in &mut verifier {
///     types.push(record.envelope.event_type);
/// }
/// let report = verifier.finish()?; // only now does the log verify
/// assert_eq!((report.records, types.len()), (1, 1));
/// # Ok(())
/// # }
/// ```
pub struct Verifier<R = BufReader<File>> {
    ops: &'static Ops,
    path: PathBuf,
    lines: Lines<R>,
    state: ChainState,
    ledger: Ledger,
    /// The first line that broke a rule checked at its line, and the error.
    failure: Option<(u64, VerifyError)>,
    tail: Option<Tail>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("path", &self.path).field("records", &self.state.records).finish_non_exhaustive()
    }
}

impl Verifier<BufReader<File>> {
    /// Open the log at `path` for verification.
    pub fn open(path: &Path) -> Result<Verifier<BufReader<File>>, VerifyError> {
        let file = File::open(path).map_err(|source| VerifyError::Io { path: path.to_path_buf(), source })?;
        Verifier::new(path, BufReader::with_capacity(256 * 1024, file))
    }
}

impl<R: BufRead> Verifier<R> {
    /// Verify the log `reader` yields; errors call it `name`.
    pub fn new(name: &Path, reader: R) -> Result<Verifier<R>, VerifyError> {
        Verifier::with_ledger(name, reader, Ledger::new(), MAX_LINE_BYTES)
    }

    pub(crate) fn with_ledger(name: &Path, reader: R, ledger: Ledger, limit: u64) -> Result<Verifier<R>, VerifyError> {
        let ops = Ops::get().map_err(|e| VerifyError::Ops(e.clone()))?;
        Ok(Verifier {
            ops,
            path: name.to_path_buf(),
            lines: Lines::with_limit(name, reader, limit),
            state: ChainState::without_ids(ops),
            ledger,
            failure: None,
            tail: None,
        })
    }

    /// The bytes of the line of the record handed on last (without its newline).
    pub fn line_bytes(&self) -> &[u8] {
        self.lines.last()
    }

    /// Read the rest of the log, settle the event-ID rules and report: the first line that
    /// breaks any rule (as [`verify`] reports it), or what the log holds.
    pub fn finish(mut self) -> Result<VerifyReport, VerifyError> {
        while self.next().is_some() {}
        let ids = self.ledger.first_failure(self.ops).map_err(|source| VerifyError::Scratch { path: self.path.clone(), source })?;
        match (ids, self.failure) {
            (Some((line, (field, defect))), failure) if failure.as_ref().is_none_or(|(at, _)| line <= *at) => {
                Err(VerifyError::Record { path: self.path, line, field, defect })
            }
            (_, Some((_, error))) => Err(error),
            (_, None) => Ok(VerifyReport {
                records: self.state.records,
                correlation_id: self.state.correlation_id,
                last_record_hash: self.state.prev_hash,
                last_event_id: self.state.last_event_id,
                complete_len: self.lines.complete_len(),
                tail: self.tail.unwrap_or(Tail::Clean),
            }),
        }
    }
}

impl<R: BufRead> Iterator for Verifier<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.failure.is_some() || self.tail.is_some() {
            return None;
        }
        let (ops, path) = (self.ops, &self.path);
        match self.lines.next(ops) {
            Ok(Next::Line(line, bytes)) => match verify_line(ops, &mut self.state, Some(&mut self.ledger), line, bytes) {
                Ok(envelope) => Some(Record { line, envelope }),
                Err((field, defect)) => {
                    self.failure = Some((line, VerifyError::Record { path: path.clone(), line, field, defect }));
                    None
                }
            },
            Ok(Next::End(tail)) => {
                self.tail = Some(tail);
                None
            }
            Err(e) => {
                let line = match &e {
                    VerifyError::Record { line, .. } => *line,
                    _ => u64::MAX,
                };
                self.failure = Some((line, e));
                None
            }
        }
    }
}

/// [`verify`] for a log already in memory (e.g. a copy fetched from elsewhere); `name` is what
/// errors call it.
pub fn verify_bytes(name: &Path, bytes: &[u8]) -> Result<VerifyReport, VerifyError> {
    Verifier::new(name, bytes)?.finish()
}

/// Verify the event log at `path` from the file alone: every rule of the module doc, on every
/// complete line, and the partial-tail rule on what follows the last newline; in memory
/// bounded by a constant.
pub fn verify(path: &Path) -> Result<VerifyReport, VerifyError> {
    Verifier::open(path)?.finish()
}
