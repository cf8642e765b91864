//! The append-only event log of a flow (`events.jsonl`): create, reopen, append, read.
//!
//! [`EventLog::append`] seals an [`EventDraft`] into an [`Envelope`] (see `envelope`), checks
//! it with the same rules verification applies (see `verify`), writes it as one line (canonical
//! JSON and `\n`) with a single `write`, and, with [`Durability::PerEvent`], `fsync`s
//! (`File::sync_data`) before returning: whatever the event records may take effect only once
//! `append` has returned. A log holds an exclusive advisory lock (`flock`) on its file for its
//! lifetime so two writers cannot interleave. After a failed write or sync the log refuses
//! further appends; reopening it verifies it first.
//!
//! [`Reader`] parses a log record by record without re-checking hashes (use
//! [`crate::Verifier`] for that), one line in memory at a time, and reports a crash's partial
//! last line instead of failing; [`read`] collects what it reads (for short logs and tests).

use crate::atomic::sync_dir;
use crate::canonical;
use crate::clock::{Clock, SystemClock};
use crate::envelope::{event_id_of, to_map, Actor, Envelope, EventDraft};
use crate::hash::sha256_hex;
use crate::ops::{Ops, OpsError};
use crate::verify::{
    canonical_defect, check_shape, verify_reader, ChainState, Defect, Lines, Next, Record, Tail,
    VerifyError, MAX_LINE_BYTES,
};
use serde_json::{json, Value};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// When appended records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every append `fsync`s before it returns.
    #[default]
    PerEvent,
    /// An append of a `decision = true` event type (ops.toml) `fsync`s before it returns, which
    /// makes every earlier record durable too; other records are written at once (they survive
    /// the process being killed) and reach the disk with the next decision, [`EventLog::sync`],
    /// or when the log is dropped.
    OnDecision,
}

/// What [`EventLog::open_existing`] does with a crash's partial last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TailPolicy {
    /// Refuse to open ([`LogError::PartialTail`]).
    #[default]
    Refuse,
    /// Cut it off, then append a `log.tail_discarded` event naming its offset, length and sha256.
    Discard,
}

/// How a log writes.
#[derive(Clone)]
pub struct LogOptions {
    /// When records reach the disk.
    pub durability: Durability,
    /// Where `occurred_at` comes from when a draft has none.
    pub clock: Arc<dyn Clock>,
    /// What reopening does with a partial last line.
    pub partial_tail: TailPolicy,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            durability: Durability::PerEvent,
            clock: Arc::new(SystemClock),
            partial_tail: TailPolicy::Refuse,
        }
    }
}

impl std::fmt::Debug for LogOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogOptions")
            .field("durability", &self.durability)
            .field("partial_tail", &self.partial_tail)
            .finish_non_exhaustive()
    }
}

impl LogOptions {
    /// Take times from `clock`.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> LogOptions {
        self.clock = Arc::new(clock);
        self
    }

    /// Use `durability`.
    pub fn with_durability(mut self, durability: Durability) -> LogOptions {
        self.durability = durability;
        self
    }

    /// Use `policy` for a partial last line when reopening.
    pub fn with_partial_tail(mut self, policy: TailPolicy) -> LogOptions {
        self.partial_tail = policy;
        self
    }
}

/// Why a log could not be created, opened or appended to.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `create` found a file at the path.
    #[error(
        "event log {} already exists; evidence is never overwritten: append with \
         EventLog::open_existing, or start a new flow",
        path.display()
    )]
    Exists {
        /// The log.
        path: PathBuf,
    },
    /// Another writer holds the log's lock.
    #[error("event log {} is locked by another writer (another wfhost process on this flow?); wait for it to end", path.display())]
    Locked {
        /// The log.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("cannot {op} event log {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `write to`, `fsync`, ...).
        op: &'static str,
        /// The log.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The draft breaks a rule of ops.toml; nothing was written.
    #[error("event rejected, nothing written: {field}: {defect}; fix the event's producer")]
    Invalid {
        /// The envelope member at fault.
        field: String,
        /// What is wrong.
        defect: Defect,
    },
    /// The same event (same source, native ID, payload and time) is already in the log.
    #[error("event {event_id} is already recorded as seq {first_seq}; nothing written (the same event is recorded once)")]
    Duplicate {
        /// Its event ID.
        event_id: String,
        /// seq of the record that holds it.
        first_seq: u64,
    },
    /// `open_existing` was given another flow's log.
    #[error("event log {} belongs to flow {found:?}, not {expected:?}; open the log of the flow you mean", path.display())]
    FlowMismatch {
        /// The log.
        path: PathBuf,
        /// The flow the caller named.
        expected: String,
        /// The flow its records carry.
        found: String,
    },
    /// `open_existing` found a crash's partial last line and the policy is `Refuse`.
    #[error(
        "event log {} ends with an unterminated line of {len} bytes at offset {offset}, left by a crash \
         during an append; reopen with TailPolicy::Discard to cut it off and record that in the log",
        path.display()
    )]
    PartialTail {
        /// The log.
        path: PathBuf,
        /// Where the partial line starts.
        offset: u64,
        /// Its length.
        len: u64,
    },
    /// An earlier write or fsync of this handle failed, so its end is unknown.
    #[error(
        "event log {} refuses appends after an earlier write or fsync failed; reopen it with \
         EventLog::open_existing, which verifies it first",
        path.display()
    )]
    Broken {
        /// The log.
        path: PathBuf,
    },
    /// `open_existing` found a log that does not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The embedded ops constitution is broken (a build problem).
    #[error(transparent)]
    Ops(#[from] OpsError),
}

/// What reopening a log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Complete records in the log when it was opened.
    pub records: u64,
    /// The partial last line that was cut off, if any (and the event recording that).
    pub discarded_tail: Option<DiscardedTail>,
}

/// A partial last line cut off by [`TailPolicy::Discard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardedTail {
    /// Where it started.
    pub offset: u64,
    /// Its length.
    pub len: u64,
    /// sha256 of its bytes.
    pub sha256: String,
    /// event_id of the `log.tail_discarded` record appended in its place.
    pub event_id: String,
}

/// A record sealed by [`EventLog::prepare`], not yet written.
#[derive(Debug, Clone)]
pub struct Prepared {
    envelope: Envelope,
    line: Vec<u8>,
}

impl Prepared {
    /// The record as it will be written.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
}

/// An open, locked, append-only event log.
pub struct EventLog {
    path: PathBuf,
    file: File,
    ops: &'static Ops,
    state: ChainState,
    options: LogOptions,
    unsynced: bool,
    broken: bool,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("path", &self.path)
            .field("records", &self.state.records)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn ops() -> Result<&'static Ops, LogError> {
    crate::ops::get().map_err(|e| LogError::Ops(e.clone()))
}

fn lock(file: &File, path: &Path) -> Result<(), LogError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(LogError::Locked {
            path: path.to_path_buf(),
        }),
        Err(TryLockError::Error(source)) => Err(LogError::Io {
            op: "lock",
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl EventLog {
    /// Create a new, empty log for flow `flow_id` at `path` with default options (fsync per
    /// event, system clock). Refuses to overwrite an existing file.
    pub fn create(path: &Path, flow_id: &str) -> Result<EventLog, LogError> {
        EventLog::create_with(path, flow_id, LogOptions::default())
    }

    /// [`EventLog::create`] with explicit options.
    pub fn create_with(
        path: &Path,
        flow_id: &str,
        options: LogOptions,
    ) -> Result<EventLog, LogError> {
        let ops = ops()?;
        if flow_id.is_empty() {
            return Err(LogError::Invalid {
                field: "correlation_id".into(),
                defect: Defect::Invalid("the flow ID is empty".into()),
            });
        }
        let io = |op| {
            move |source| LogError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    LogError::Exists {
                        path: path.to_path_buf(),
                    }
                } else {
                    LogError::Io {
                        op: "create",
                        path: path.to_path_buf(),
                        source,
                    }
                }
            })?;
        lock(&file, path)?;
        file.sync_all().map_err(io("fsync"))?;
        sync_dir(path).map_err(io("fsync the directory of"))?;
        Ok(EventLog {
            path: path.to_path_buf(),
            file,
            ops,
            state: ChainState::new(ops, Some(flow_id.to_string())),
            options,
            unsynced: false,
            broken: false,
        })
    }

    /// Open the existing log of flow `flow_id` at `path` to append to it. The log is locked,
    /// then verified in full (a log that fails verification is never extended); a partial last
    /// line is handled by `options.partial_tail`.
    pub fn open_existing(
        path: &Path,
        flow_id: &str,
        options: LogOptions,
    ) -> Result<(EventLog, OpenReport), LogError> {
        let ops = ops()?;
        let io = |op| {
            move |source| LogError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io("open"))?;
        lock(&file, path)?;
        let (report, mut state) =
            verify_reader(ops, path, BufReader::with_capacity(256 * 1024, &file))?;
        match &state.correlation_id {
            Some(found) if found != flow_id => {
                return Err(LogError::FlowMismatch {
                    path: path.to_path_buf(),
                    expected: flow_id.to_string(),
                    found: found.clone(),
                })
            }
            _ => state.correlation_id = Some(flow_id.to_string()),
        }
        let mut log = EventLog {
            path: path.to_path_buf(),
            file,
            ops,
            state,
            options,
            unsynced: false,
            broken: false,
        };
        let mut open = OpenReport {
            records: report.records,
            discarded_tail: None,
        };
        if let Tail::Partial {
            line,
            offset,
            len,
            sha256,
        } = report.tail
        {
            if log.options.partial_tail == TailPolicy::Refuse {
                return Err(LogError::PartialTail {
                    path: path.to_path_buf(),
                    offset,
                    len,
                });
            }
            log.file
                .set_len(offset)
                .map_err(io("truncate the partial last line of"))?;
            log.file.sync_all().map_err(io("fsync"))?;
            let draft = EventDraft::new(
                "log.tail_discarded",
                Actor::new("host", "wfhost-evidence"),
                "host",
                format!("tail_discarded@{offset}"),
                json!({ "line": line, "offset": offset, "length": len, "sha256": sha256 }),
            );
            let event = log.append(draft)?;
            log.sync()?;
            open.discarded_tail = Some(DiscardedTail {
                offset,
                len,
                sha256,
                event_id: event.event_id,
            });
        }
        Ok((log, open))
    }

    /// Seal `draft`, write it as one line and, as the durability says, fsync it before
    /// returning the record as written. Nothing is written when the draft breaks a rule.
    pub fn append(&mut self, draft: EventDraft) -> Result<Envelope, LogError> {
        let sealed = self.prepare(draft)?;
        self.append_prepared(sealed)
    }

    /// Seal `draft` as the next record without writing it: the record a caller can show in a
    /// file before the log names that file (a projection that includes its own record). Write
    /// it with [`EventLog::append_prepared`] before anything else is appended.
    pub fn prepare(&self, draft: EventDraft) -> Result<Prepared, LogError> {
        if self.broken {
            return Err(LogError::Broken {
                path: self.path.clone(),
            });
        }
        let (envelope, line) = self.seal(draft)?;
        Ok(Prepared { envelope, line })
    }

    /// Write a record [`EventLog::prepare`] sealed. Refused (nothing written) when another
    /// record was appended since: the sealed one no longer links to the end of the chain.
    pub fn append_prepared(&mut self, prepared: Prepared) -> Result<Envelope, LogError> {
        if self.broken {
            return Err(LogError::Broken {
                path: self.path.clone(),
            });
        }
        let Prepared { envelope, line } = prepared;
        if envelope.prev_hash != self.state.prev_hash || Some(envelope.seq) != self.state.next_seq(self.ops) {
            return Err(LogError::Invalid {
                field: "prev_hash".into(),
                defect: Defect::Invalid("the prepared record no longer follows the last record: another was appended since".into()),
            });
        }
        let decision = self
            .ops
            .event_type(&envelope.event_type)
            .is_some_and(|d| d.decision);
        if let Err(source) = self.file.write_all(&line) {
            self.broken = true;
            return Err(LogError::Io {
                op: "write to",
                path: self.path.clone(),
                source,
            });
        }
        self.unsynced = true;
        if self.options.durability == Durability::PerEvent || decision {
            self.sync()?;
        }
        self.state.advance(&envelope);
        Ok(envelope)
    }

    /// fsync every record written so far.
    pub fn sync(&mut self) -> Result<(), LogError> {
        if self.unsynced {
            if let Err(source) = self.file.sync_data() {
                self.broken = true;
                return Err(LogError::Io {
                    op: "fsync",
                    path: self.path.clone(),
                    source,
                });
            }
            self.unsynced = false;
        }
        Ok(())
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The flow ID every record carries.
    pub fn flow_id(&self) -> &str {
        self.state.correlation_id.as_deref().unwrap_or_default()
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.state.records
    }

    /// Whether the log has no records.
    pub fn is_empty(&self) -> bool {
        self.state.records == 0
    }

    /// record_hash of the last record (the genesis hash when empty).
    pub fn last_record_hash(&self) -> &str {
        &self.state.prev_hash
    }

    /// Whether `event_id` is recorded in this log.
    pub fn contains(&self, event_id: &str) -> bool {
        self.state.event_ids.contains_key(event_id)
    }

    fn seal(&self, draft: EventDraft) -> Result<(Envelope, Vec<u8>), LogError> {
        let ops = self.ops;
        let invalid = |(field, defect): (String, Defect)| LogError::Invalid { field, defect };
        let def = ops
            .event_type(&draft.event_type)
            .ok_or_else(|| LogError::Invalid {
                field: "event_type".into(),
                defect: Defect::Invalid(format!(
                    "{:?} is not an event type declared in ops.toml",
                    draft.event_type
                )),
            })?;
        let seq = self.state.next_seq(ops).ok_or_else(|| LogError::Invalid {
            field: "seq".into(),
            defect: Defect::Invalid("the log is full: seq would exceed 2^53-1".into()),
        })?;
        let payload_sha256 = canonical::sha256(&draft.payload).map_err(|e| LogError::Invalid {
            field: "payload".into(),
            defect: Defect::Invalid(e.to_string()),
        })?;
        let mut envelope = Envelope {
            envelope_version: ops.envelope.version,
            seq,
            event_id: String::new(),
            event_type: draft.event_type,
            occurred_at: draft
                .occurred_at
                .unwrap_or_else(|| self.options.clock.now()),
            source_ref: draft.source_ref,
            native_id: draft.native_id,
            correlation_id: self.flow_id().to_string(),
            causation_id: draft.causation_id,
            actor: draft.actor,
            capability_id: draft.capability_id,
            payload_schema: def.payload_schema().to_string(),
            payload_sha256,
            payload: draft.payload,
            prev_hash: self.state.prev_hash.clone(),
            record_hash: String::new(),
        };
        let mut map = to_map(&envelope);
        envelope.event_id = event_id_of(ops, &map).map_err(|f| LogError::Invalid {
            field: f,
            defect: Defect::Invalid("an event-ID input is not a string".into()),
        })?;
        map.insert("event_id".into(), Value::String(envelope.event_id.clone()));
        map.remove("record_hash");
        let mut parts = canonical::members(&map).map_err(|e| invalid(canonical_defect(e)))?;
        envelope.record_hash = sha256_hex(&canonical::join(&parts, None));
        let hash_value = Value::String(envelope.record_hash.clone());
        parts.push((
            "record_hash".into(),
            canonical::to_vec(&hash_value).map_err(|e| invalid(canonical_defect(e)))?,
        ));
        parts.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        map.insert("record_hash".into(), hash_value);
        check_shape(ops, &map).map_err(invalid)?;
        self.state
            .check_rules(ops, &envelope)
            .map_err(|(field, defect)| match defect {
                Defect::Duplicate { first_seq } => LogError::Duplicate {
                    event_id: envelope.event_id.clone(),
                    first_seq,
                },
                defect => LogError::Invalid { field, defect },
            })?;
        let mut line = canonical::join(&parts, None);
        if line.len() as u64 > MAX_LINE_BYTES {
            return Err(LogError::Invalid {
                field: "line".into(),
                defect: Defect::TooLong {
                    limit: MAX_LINE_BYTES,
                },
            });
        }
        line.push(b'\n');
        Ok((envelope, line))
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        // Best effort for `OnDecision` logs; a caller that must know calls `sync` itself.
        let _ = self.sync();
    }
}

/// The records of a log and what follows them.
#[derive(Debug, Clone, PartialEq)]
pub struct LogContents {
    /// The complete records, in canonical order.
    pub events: Vec<Envelope>,
    /// A crash's partial last line, if any.
    pub tail: Tail,
}

/// Parse the log at `path`: every complete line must be an envelope, a partial last line is
/// reported in [`LogContents::tail`] (by the rule `verify` applies). Hashes, links and rules
/// are not checked here; call [`crate::verify`] for that. It holds every record in memory:
/// [`Reader`] reads one at a time.
pub fn read(path: &Path) -> Result<LogContents, VerifyError> {
    let mut reader = Reader::open(path)?;
    let mut events = Vec::new();
    for record in &mut reader {
        events.push(record?.envelope);
    }
    let tail = reader.tail().cloned().unwrap_or(Tail::Clean);
    Ok(LogContents { events, tail })
}

/// The records of a log, parsed one at a time without checking hashes, links or rules (use
/// [`crate::Verifier`] for those): each item is the next complete line as a [`Record`], or the
/// error that ends the reading (a line that is not an envelope, a line longer than
/// [`MAX_LINE_BYTES`], a tail no crash could leave). After the last record, [`Reader::tail`]
/// says what follows it.
pub struct Reader<R = BufReader<File>> {
    ops: &'static Ops,
    path: PathBuf,
    lines: Lines<R>,
    tail: Option<Tail>,
    failed: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Reader<BufReader<File>> {
    /// Open the log at `path` for reading.
    pub fn open(path: &Path) -> Result<Reader<BufReader<File>>, VerifyError> {
        let file = File::open(path).map_err(|source| VerifyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Reader::new(path, BufReader::with_capacity(256 * 1024, file))
    }
}

impl<R: std::io::BufRead> Reader<R> {
    /// Read the log `reader` yields; errors call it `name`.
    pub fn new(name: &Path, reader: R) -> Result<Reader<R>, VerifyError> {
        Ok(Reader {
            ops: Ops::get().map_err(|e| VerifyError::Ops(e.clone()))?,
            path: name.to_path_buf(),
            lines: Lines::new(name, reader),
            tail: None,
            failed: false,
        })
    }

    /// What follows the last complete record, once every record was read.
    pub fn tail(&self) -> Option<&Tail> {
        self.tail.as_ref()
    }

    /// The bytes of the line of the record read last (without its newline).
    pub fn line_bytes(&self) -> &[u8] {
        self.lines.last()
    }
}

impl<R: std::io::BufRead> Iterator for Reader<R> {
    type Item = Result<Record, VerifyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.tail.is_some() {
            return None;
        }
        let path = &self.path;
        let item = match self.lines.next(self.ops) {
            Ok(Next::Line(line, bytes)) => serde_json::from_slice::<Envelope>(bytes)
                .map(|envelope| Record { line, envelope })
                .map_err(|e| VerifyError::Record {
                    path: path.clone(),
                    line,
                    field: "line".into(),
                    defect: Defect::Unparsable(e.to_string()),
                }),
            Ok(Next::End(tail)) => {
                self.tail = Some(tail);
                return None;
            }
            Err(e) => Err(e),
        };
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    //! The event-ID rules settled by the ledger (bounded memory, runs on disk) give the same
    //! first failure as the rules checked against every ID kept in memory.
    use super::*;
    use crate::clock::Timestamp;
    use crate::ledger::Ledger;
    use crate::verify::Verifier;

    fn draft(i: usize, cause: Option<&str>) -> EventDraft {
        let mut d = EventDraft::new(
            "plugin.log",
            Actor::new("host", "wfhost"),
            "host",
            format!("log/{i}"),
            json!({"level": "info", "message": format!("record {i}")}),
        );
        d.occurred_at = Some(Timestamp::from_unix_millis(1_735_689_600_000 + i as i64).expect("time"));
        if let Some(c) = cause {
            d = d.caused_by(c);
        }
        d
    }

    /// How to forge the record at an index (the writer's own ID rules are bypassed).
    #[derive(Clone, Copy, Debug)]
    enum Forge {
        /// The same event as record `usize` again.
        Duplicate(usize),
        /// Caused by record `usize`, which comes later.
        CauseLater(usize),
        /// Caused by an ID no record has.
        CauseNone,
    }

    /// The event ID `draft` gets, whatever its place in a log.
    fn id_of(draft: EventDraft) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = EventLog::create(&dir.path().join("probe"), "flow-ledger").expect("log");
        log.append(draft).expect("append").event_id
    }

    /// A log of `n` records, each caused by the one before, with `forged` records; returns its
    /// bytes.
    fn forged_log(n: usize, forged: &[(usize, Forge)]) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let mut log = EventLog::create(&path, "flow-ledger").expect("log");
        let mut ids: Vec<String> = Vec::new();
        for i in 0..n {
            let prev = ids.last().cloned();
            // An ID the writer is made to believe in for this one append.
            let mut fake = None;
            let d = match forged.iter().find(|(at, _)| *at == i).map(|(_, f)| *f) {
                Some(Forge::Duplicate(j)) => {
                    log.state.event_ids.remove(&ids[j]);
                    draft(j, if j == 0 { None } else { Some(ids[j - 1].as_str()) })
                }
                Some(Forge::CauseLater(j)) => {
                    // The ID does not cover the cause: the later record's ID is known now.
                    let later = id_of(draft(j, None));
                    fake = Some(later.clone());
                    draft(i, Some(&later))
                }
                Some(Forge::CauseNone) => {
                    fake = Some("ab".repeat(32));
                    draft(i, fake.as_deref())
                }
                None => draft(i, prev.as_deref()),
            };
            if let Some(f) = &fake {
                log.state.event_ids.insert(f.clone(), 0);
            }
            if let Some(f) = &fake {
                let e = log.append(d).expect("append");
                log.state.event_ids.remove(f);
                log.state.event_ids.insert(e.event_id.clone(), e.seq);
                ids.push(e.event_id);
            } else {
                let e = log.append(d).expect("append");
                log.state.event_ids.insert(e.event_id.clone(), e.seq);
                ids.push(e.event_id);
            }
        }
        drop(log);
        std::fs::read(&path).expect("read")
    }

    fn in_memory(bytes: &[u8]) -> Result<(u64, String), (u64, String, String)> {
        let ops = Ops::get().expect("ops");
        outcome(verify_reader(ops, Path::new("events.jsonl"), bytes).map(|(r, _)| r))
    }

    fn ledgered(bytes: &[u8], run: usize) -> Result<(u64, String), (u64, String, String)> {
        let v = Verifier::with_ledger(Path::new("events.jsonl"), bytes, Ledger::with_run_entries(run), MAX_LINE_BYTES).expect("verifier");
        outcome(v.finish())
    }

    fn outcome(r: Result<crate::VerifyReport, VerifyError>) -> Result<(u64, String), (u64, String, String)> {
        match r {
            Ok(report) => Ok((report.records, report.last_record_hash)),
            Err(VerifyError::Record { line, field, defect, .. }) => Err((line, field, defect.to_string())),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn the_ledger_finds_the_first_id_failure_the_in_memory_rules_find() {
        let cases: Vec<Vec<(usize, Forge)>> = vec![
            vec![],
            vec![(5, Forge::Duplicate(2))],
            vec![(9, Forge::Duplicate(0))],
            vec![(3, Forge::CauseLater(7))],
            vec![(4, Forge::CauseNone)],
            vec![(8, Forge::Duplicate(1)), (3, Forge::CauseNone)],
            vec![(2, Forge::CauseLater(11)), (7, Forge::Duplicate(2))],
            vec![(10, Forge::Duplicate(4)), (11, Forge::Duplicate(4))],
        ];
        let mut forged_failures = 0;
        for forged in &cases {
            let bytes = forged_log(12, forged);
            let want = in_memory(&bytes);
            if !forged.is_empty() {
                assert!(want.is_err(), "{forged:?} must break a rule");
                forged_failures += 1;
            }
            for run in [1, 2, 3, 5, 64, crate::ledger::RUN_ENTRIES] {
                assert_eq!(ledgered(&bytes, run), want, "{forged:?}, runs of {run}");
            }
        }
        assert_eq!(forged_failures, cases.len() - 1);
    }

    #[test]
    fn an_id_failure_before_another_defect_is_the_one_reported() {
        // Record 3 names no earlier record; record 8's bytes are damaged: line 4 is reported,
        // though the damage is met first when the ledger is settled at the end.
        let bytes = forged_log(12, &[(3, Forge::CauseNone)]);
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let last = lines[8].len() - 3;
        lines[8][last] ^= 1;
        let damaged = lines.join(&b'\n');
        let want = in_memory(&damaged);
        assert_eq!(want.as_ref().map_err(|e| (e.0, e.1.as_str())), Err((4, "causation_id")));
        for run in [1, 4, 1000] {
            assert_eq!(ledgered(&damaged, run), want);
        }
        // Damage on the record with the unknown cause: the cause is checked first.
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let at = lines[3].windows(5).position(|w| w == b"recor").expect("message") + 1;
        lines[3][at] ^= 1;
        let damaged = lines.join(&b'\n');
        let want = in_memory(&damaged);
        assert!(matches!(&want, Err((4, _, _))), "{want:?}");
        assert_eq!(ledgered(&damaged, 1), want);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused_without_reading_it() {
        let bytes = forged_log(3, &[]);
        let longest = bytes.split(|&b| b == b'\n').map(<[u8]>::len).max().unwrap_or(0) as u64;
        let limit = longest + 10;
        let long = {
            let mut b = bytes.clone();
            b.extend_from_slice(b"{\"actor\":");
            b.extend(std::iter::repeat_n(b'a', limit as usize));
            b.push(b'\n');
            b
        };
        let v = Verifier::with_ledger(Path::new("events.jsonl"), long.as_slice(), Ledger::new(), limit).expect("verifier");
        match v.finish() {
            Err(VerifyError::Record { line: 4, field, defect: Defect::TooLong { limit: l }, .. }) => assert_eq!((field.as_str(), l), ("line", limit)),
            other => panic!("{other:?}"),
        }
        // An unterminated line (no newline) is held to the same limit.
        let partial = &long[..long.len() - 1];
        let v = Verifier::with_ledger(Path::new("events.jsonl"), partial, Ledger::new(), limit).expect("verifier");
        assert!(matches!(v.finish(), Err(VerifyError::Record { line: 4, defect: Defect::TooLong { .. }, .. })));
        // Within the limit, the records verify.
        let v = Verifier::with_ledger(Path::new("events.jsonl"), bytes.as_slice(), Ledger::new(), longest).expect("verifier");
        assert_eq!(v.finish().expect("verifies").records, 3);
        let v = Verifier::with_ledger(Path::new("events.jsonl"), bytes.as_slice(), Ledger::new(), longest - 1).expect("verifier");
        assert!(matches!(v.finish(), Err(VerifyError::Record { defect: Defect::TooLong { .. }, .. })));
    }
}
