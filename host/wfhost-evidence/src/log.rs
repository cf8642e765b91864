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
//! [`read`] parses a log into envelopes for replay without re-checking hashes (use
//! [`crate::verify`] for that), and reports a crash's partial last line instead of failing.

use crate::atomic::sync_dir;
use crate::canonical;
use crate::clock::{Clock, SystemClock};
use crate::envelope::{event_id_of, to_map, Actor, Envelope, EventDraft};
use crate::hash::sha256_hex;
use crate::ops::{Ops, OpsError};
use crate::verify::{
    canonical_defect, check_shape, scan, verify_reader, ChainState, Defect, Tail, VerifyError,
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

/// Parse the log at `path` for replay: every complete line must be an envelope, a partial last
/// line is reported in [`LogContents::tail`] (by the rule `verify` applies). Hashes, links and
/// rules are not checked here; call [`crate::verify`] for that.
pub fn read(path: &Path) -> Result<LogContents, VerifyError> {
    let ops = crate::ops::get().map_err(|e| VerifyError::Ops(e.clone()))?;
    let file = File::open(path).map_err(|source| VerifyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut events = Vec::new();
    let (_, tail) = scan(
        ops,
        path,
        BufReader::with_capacity(256 * 1024, file),
        |line, bytes| {
            let env: Envelope = serde_json::from_slice(bytes).map_err(|e| VerifyError::Record {
                path: path.to_path_buf(),
                line,
                field: "line".into(),
                defect: Defect::Unparsable(e.to_string()),
            })?;
            events.push(env);
            Ok(())
        },
    )?;
    Ok(LogContents { events, tail })
}
