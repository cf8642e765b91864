//! The flow's evidence sink: `events.jsonl` plus the per-phase JSON files.
//!
//! Every decision the engine takes is appended to the hash-chained event log (through
//! `wfhost-evidence`, fsync'd) before it takes effect. The sink is cheap to clone and shared
//! with the gateway. A failed append is remembered: the engine halts the flow rather than run
//! on without a record.

use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wfhost_evidence::{Actor, EventDraft, EventLog};

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
    log: EventLog,
    flow_id: String,
    error: Option<String>,
}

impl Sink {
    /// Create `<flow_dir>/events.jsonl` (and the directory tree). Refuses an existing log.
    pub fn create(flow_dir: &Path, flow_id: &str) -> Result<Sink, CreateError> {
        std::fs::create_dir_all(flow_dir.join(wfhost_audit::layout::PHASE_DIR)).map_err(CreateError::Dir)?;
        let log = EventLog::create(&flow_dir.join(wfhost_audit::layout::EVENTS), flow_id).map_err(CreateError::Log)?;
        Ok(Sink { inner: Some(Arc::new(Mutex::new(Inner { log, flow_id: flow_id.to_string(), error: None }))) })
    }

    /// A sink that records nothing (diagnostic commands that are not flows).
    pub fn null() -> Sink {
        Sink { inner: None }
    }

    /// Append one event from the host.
    pub fn event(&self, event_type: &str, native_id: &str, payload: Value) {
        self.event_as(event_type, native_id, payload, Actor::new("host", "wfhost"));
    }

    /// Append one event with an explicit actor.
    pub fn event_as(&self, event_type: &str, native_id: &str, payload: Value, actor: Actor) {
        self.event_full(event_type, native_id, payload, actor, None);
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
        let inner = self.inner.as_ref()?;
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut draft = EventDraft::new(event_type, actor, format!("wfhost/flow/{}", inner.flow_id), native_id, payload);
        if let Some(cap) = capability {
            draft = draft.with_capability(cap);
        }
        if let Some(cause) = caused_by {
            draft = draft.caused_by(cause);
        }
        match inner.log.append(draft) {
            Ok(env) => Some(env.event_id),
            Err(e) => {
                if inner.error.is_none() {
                    inner.error = Some(format!("cannot append {event_type} to events.jsonl: {e}"));
                }
                None
            }
        }
    }

    /// Remember a failure to write an evidence file: the engine halts on it like a failed
    /// append (fail-closed: no phase proceeds past evidence that was not written).
    pub fn file_failed(&self, what: &str, e: &dyn std::fmt::Display) {
        let Some(inner) = &self.inner else { return };
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.error.is_none() {
            inner.error = Some(format!("cannot write {what}: {e}"));
        }
    }

    /// How many records the log holds.
    pub fn records(&self) -> u64 {
        self.inner.as_ref().map(|i| i.lock().unwrap_or_else(|p| p.into_inner()).log.len()).unwrap_or(0)
    }

    /// The first append failure, if any.
    pub fn error(&self) -> Option<String> {
        self.inner.as_ref().and_then(|i| i.lock().unwrap_or_else(|p| p.into_inner()).error.clone())
    }
}
