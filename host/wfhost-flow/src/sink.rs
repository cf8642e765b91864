//! The flow's evidence sink: `events.jsonl` plus the per-phase JSON files.
//!
//! Every decision the engine takes is appended to the hash-chained event log (through
//! `wfhost-evidence`, fsync'd) before it takes effect. The sink is cheap to clone and shared
//! with the gateway.
//!
//! Evidence files go through [`Sink::write_json`]: the file is written first, and only then may
//! a record name it. A write that fails is recorded as `evidence.write_failed` (the file and
//! the error) and remembered ([`Sink::error`]): the engine halts with the internal-error status
//! rather than run on, and no record ever names a file that does not exist. A failed append is
//! remembered the same way, and the log is reopened (verified, a partial line cut off) so the
//! failure, the halt and the summary can still be recorded.
//!
//! ```text
//! create ─► events.jsonl + .space-reserve (RESERVE_BYTES)
//! write_json(file) ─ok─► the caller appends the record naming it
//!                  └fail─► release the reserve ─► evidence.write_failed ─► error() ─► halt
//! finish ─► release the reserve ─► prepare(flow.summary) ─► flow.summary.json ─► commit
//! ```
//!
//! The reserve is space held on the evidence file system while the flow runs: on a full disk,
//! giving it back is what lets the failure, `flow.halted` and the summary be written at all.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wfhost_audit::layout::SPACE_RESERVE;
use wfhost_audit::records::{self, EvidenceWriteFailed};
use wfhost_evidence::{Actor, EventDraft, EventLog, LogError, LogOptions, Prepared, TailPolicy};

/// Bytes held in reserve while a flow runs (see the module doc): enough for the records and
/// the summary of a flow that halts on a full disk.
pub const RESERVE_BYTES: usize = 256 * 1024;

/// Why a flow's evidence directory or log could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The directory tree.
    #[error("{0}")]
    Dir(std::io::Error),
    /// The event log.
    #[error("{0}")]
    Log(wfhost_evidence::LogError),
}

impl CreateError {
    /// What to do about it, by what went wrong (a name too long is not a permission problem).
    pub fn advice(&self) -> &'static str {
        match self {
            CreateError::Dir(e) | CreateError::Log(wfhost_evidence::LogError::Io { source: e, .. }) => wfhost_evidence::input::io_advice(e),
            CreateError::Log(_) => "check the directory",
        }
    }
}

/// Shared handle on a flow's event log.
#[derive(Clone)]
pub struct Sink {
    inner: Option<Arc<Mutex<Inner>>>,
}

struct Inner {
    /// `None` only while a broken log is being reopened.
    log: Option<EventLog>,
    flow_dir: PathBuf,
    flow_id: String,
    error: Option<String>,
    reserve: Option<PathBuf>,
    /// Events told apart from an earlier one alike by a suffix of their native ID.
    repeats: u64,
}

impl Inner {
    fn release_reserve(&mut self) {
        if let Some(path) = self.reserve.take() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Remember the first failure; give the reserve back so the halt can be recorded.
    fn fail(&mut self, message: String) {
        self.release_reserve();
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    fn draft(&self, event_type: &str, native_id: &str, payload: Value, actor: Actor) -> EventDraft {
        EventDraft::new(event_type, actor, format!("wfhost/flow/{}", self.flow_id), native_id, payload)
    }

    /// Append; on a failed write, reopen the log (which verifies it and cuts a partial line
    /// off) once and try again, so the records after a full disk still get in.
    fn append(&mut self, draft: EventDraft) -> Result<String, String> {
        let first = match self.log.as_mut() {
            Some(log) => match log.append(draft.clone()) {
                // Two events alike in one millisecond (two issuances of a secret for two
                // requests, two equal reads) are two events: the second gets a native ID of its
                // own, `<native id>#<n>`, so its event ID differs.
                Err(LogError::Duplicate { .. }) => {
                    self.repeats += 1;
                    let again = EventDraft { native_id: format!("{}#{}", draft.native_id, self.repeats), ..draft.clone() };
                    log.append(again)
                }
                other => other,
            }
            .map(|e| e.event_id)
            .map_err(|e| e.to_string()),
            None => Err("the event log could not be reopened".to_string()),
        };
        let Err(e) = first else { return first };
        self.fail(format!("cannot append {} to events.jsonl: {e}", draft.event_type));
        let path = self.flow_dir.join(wfhost_audit::layout::EVENTS);
        drop(self.log.take());
        match EventLog::open_existing(&path, &self.flow_id, LogOptions::default().with_partial_tail(TailPolicy::Discard)) {
            Ok((log, _)) => self.log = Some(log),
            Err(reopen) => return Err(format!("{e}; reopening it failed: {reopen}")),
        }
        let failed = EvidenceWriteFailed { file: wfhost_audit::layout::EVENTS.into(), error: e.clone() };
        let note = self.draft(records::EVIDENCE_WRITE_FAILED, "evidence/events.jsonl", records::to_value(&failed), Actor::new("host", "wfhost"));
        let log = self.log.as_mut().ok_or_else(|| e.clone())?;
        // The record first (a log still starts with flow.started), then what happened to it.
        let id = log.append(draft).map(|env| env.event_id).map_err(|e| e.to_string());
        let _ = log.append(note);
        id
    }
}

impl Sink {
    /// Create `<flow_dir>/events.jsonl` (and the directory tree) and the space reserve.
    /// Refuses an existing log.
    pub fn create(flow_dir: &Path, flow_id: &str) -> Result<Sink, CreateError> {
        std::fs::create_dir_all(flow_dir.join(wfhost_audit::layout::PHASE_DIR)).map_err(CreateError::Dir)?;
        let log = EventLog::create(&flow_dir.join(wfhost_audit::layout::EVENTS), flow_id).map_err(CreateError::Log)?;
        let reserve = flow_dir.join(SPACE_RESERVE);
        if let Err(e) = std::fs::write(&reserve, vec![0u8; RESERVE_BYTES]) {
            // No room to run a flow: nothing of it is left behind.
            drop(log);
            let _ = std::fs::remove_file(&reserve);
            let _ = std::fs::remove_file(flow_dir.join(wfhost_audit::layout::EVENTS));
            let _ = std::fs::remove_dir(flow_dir.join(wfhost_audit::layout::PHASE_DIR));
            let _ = std::fs::remove_dir(flow_dir);
            return Err(CreateError::Dir(e));
        }
        Ok(Sink {
            inner: Some(Arc::new(Mutex::new(Inner {
                log: Some(log),
                flow_dir: flow_dir.to_path_buf(),
                flow_id: flow_id.to_string(),
                repeats: 0,
                error: None,
                reserve: Some(reserve),
            }))),
        })
    }

    /// A sink that records nothing (diagnostic commands that are not flows).
    pub fn null() -> Sink {
        Sink { inner: None }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Inner>> {
        self.inner.as_ref().map(|i| i.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Append one event from the host.
    pub fn event(&self, event_type: &str, native_id: &str, payload: Value) -> Option<String> {
        self.event_as(event_type, native_id, payload, Actor::new("host", "wfhost"))
    }

    /// Append one event with an explicit actor.
    pub fn event_as(&self, event_type: &str, native_id: &str, payload: Value, actor: Actor) -> Option<String> {
        self.event_full(event_type, native_id, payload, actor, None)
    }

    /// Append one event with an explicit actor and the capability it ran under.
    pub fn event_full(&self, event_type: &str, native_id: &str, payload: Value, actor: Actor, capability: Option<&str>) -> Option<String> {
        self.append(event_type, native_id, payload, actor, capability, None)
    }

    /// Append one event and return its `event_id` (`None` for the null sink or a failed
    /// append, which is remembered for [`Sink::error`]). `caused_by` names the event this one
    /// follows from (a receipt's gateway call).
    pub fn append(
        &self,
        event_type: &str,
        native_id: &str,
        payload: Value,
        actor: Actor,
        capability: Option<&str>,
        caused_by: Option<&str>,
    ) -> Option<String> {
        let mut inner = self.lock()?;
        let mut draft = inner.draft(event_type, native_id, payload, actor);
        if let Some(cap) = capability {
            draft = draft.with_capability(cap);
        }
        if let Some(cause) = caused_by {
            draft = draft.caused_by(cause);
        }
        inner.append(draft).ok()
    }

    /// Write the evidence file `rel` (relative to the flow directory; `path` is where it is)
    /// as canonical JSON, before any record names it. Returns its sha256; a failure is recorded
    /// (`evidence.write_failed`) and remembered, and the flow halts.
    pub fn write_json(&self, rel: &str, path: &Path, value: &Value) -> Option<String> {
        match wfhost_audit::layout::write_json(path, value) {
            Ok(sha) => Some(sha),
            Err(e) => {
                self.write_failed(rel, &e);
                None
            }
        }
    }

    /// Record that the evidence file `rel` could not be written, and remember it: the engine
    /// halts on it like a failed append (no phase proceeds past evidence that was not written).
    pub fn write_failed(&self, rel: &str, e: &dyn std::fmt::Display) {
        let Some(mut inner) = self.lock() else { return };
        inner.fail(format!("cannot write {rel}: {e}"));
        let record = EvidenceWriteFailed { file: rel.to_string(), error: e.to_string() };
        let draft = inner.draft(records::EVIDENCE_WRITE_FAILED, &format!("evidence/{rel}"), records::to_value(&record), Actor::new("host", "wfhost"));
        let _ = inner.append(draft);
    }

    /// Give the space reserve back (the flow is ending: its last records and the summary use it).
    pub fn release_reserve(&self) {
        if let Some(mut inner) = self.lock() {
            inner.release_reserve();
        }
    }

    /// Seal the next record without writing it ([`EventLog::prepare`]): the record a file
    /// shows before the log names it (the summary, a projection that includes its own record).
    pub fn prepare(&self, event_type: &str, native_id: &str, payload: Value) -> Option<Prepared> {
        let inner = self.lock()?;
        let draft = inner.draft(event_type, native_id, payload, Actor::new("host", "wfhost"));
        inner.log.as_ref()?.prepare(draft).ok()
    }

    /// Append a record [`Sink::prepare`] sealed; a failure is remembered.
    pub fn commit(&self, prepared: Prepared) -> Option<String> {
        let mut inner = self.lock()?;
        let event_type = prepared.envelope().event_type.clone();
        let result = match inner.log.as_mut() {
            Some(log) => log.append_prepared(prepared).map(|e| e.event_id).map_err(|e| e.to_string()),
            None => Err("the event log is not open".to_string()),
        };
        match result {
            Ok(id) => Some(id),
            Err(e) => {
                inner.fail(format!("cannot append {event_type} to events.jsonl: {e}"));
                None
            }
        }
    }

    /// How many records the log holds.
    pub fn records(&self) -> u64 {
        self.lock().and_then(|i| i.log.as_ref().map(EventLog::len)).unwrap_or(0)
    }

    /// The first failure to write evidence (a file or an append), if any.
    pub fn error(&self) -> Option<String> {
        self.lock().and_then(|i| i.error.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wfhost_evidence::Timestamp;

    #[test]
    fn events_alike_in_one_millisecond_are_each_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let flow_dir = dir.path().join("flow");
        let sink = Sink::create(&flow_dir, "20261206T000000Z-abcdef").unwrap();
        let at = Timestamp::from_unix_millis(1_796_000_000_000).unwrap();
        let ids: Vec<String> = (0..3)
            .map(|_| {
                let mut inner = sink.lock().unwrap();
                let mut draft = inner.draft("secret.issued", "secret/api_key", json!({"handle": "api_key"}), Actor::new("host", "wfhost"));
                draft.occurred_at = Some(at);
                inner.append(draft).unwrap()
            })
            .collect();
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");
        assert!(sink.error().is_none(), "{:?}", sink.error());
        let text = std::fs::read_to_string(flow_dir.join(wfhost_audit::layout::EVENTS)).unwrap();
        let natives: Vec<String> = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).map(|v| v["native_id"].as_str().unwrap_or("").to_string()).collect();
        assert_eq!(natives, ["secret/api_key", "secret/api_key#1", "secret/api_key#2"]);
    }
}
