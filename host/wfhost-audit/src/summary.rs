//! `flow.summary.json`: a projection of `events.jsonl`, never written from engine state.
//!
//! [`Projection`] folds the records one at a time (what it keeps is what the summary lists:
//! the header, one entry per phase, the side effects, refused calls and FSM transitions, and
//! counters, never the records themselves); [`project`] folds a slice of records; [`write`]
//! streams the log through the fold and writes the result atomically. Because the summary
//! depends only on the log, `wfhost replay` can rebuild it and compare byte for byte.

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use wfhost_evidence::Envelope;

/// The summary of a flow, folded record by record.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    header: Map<String, Value>,
    phases: Vec<Value>,
    receipts: Vec<Value>,
    refused: Vec<Value>,
    started: Value,
    finished: Value,
    fsm: Vec<Value>,
    fetched: u64,
    phase_ms: u64,
    process_ms: u64,
    court_ms: u64,
    gateway_ms: u64,
    events: u64,
    last_record_hash: Option<Value>,
}

impl Projection {
    /// Fold in the next record, given as the JSON value of its envelope.
    pub fn push_value(&mut self, e: &Value) {
        let ty = e.get("event_type").and_then(Value::as_str).unwrap_or("");
        let p = e.get("payload").unwrap_or(&Value::Null);
        self.fold(ty, p, e.get("record_hash").cloned());
    }

    /// Fold in the next record.
    pub fn push(&mut self, e: &Envelope) {
        self.fold(&e.event_type, &e.payload, Some(Value::String(e.record_hash.clone())));
    }

    fn fold(&mut self, ty: &str, p: &Value, record_hash: Option<Value>) {
        self.events += 1;
        self.last_record_hash = record_hash;
        match ty {
            "flow.started" => self.started = p.clone(),
            "flow.header" => {
                if let (Some(k), Some(v)) = (p.get("key").and_then(Value::as_str), p.get("value")) {
                    self.header.insert(k.to_string(), v.clone());
                }
            }
            "phase.outcome" => {
                self.phase_ms += p.get("duration_ms").and_then(Value::as_u64).unwrap_or(0);
                self.process_ms += p.get("process_ms").and_then(Value::as_u64).unwrap_or(0);
                self.gateway_ms += p.get("gateway_ms").and_then(Value::as_u64).unwrap_or(0);
                self.phases.push(json!({
                    "phase": p.get("phase"),
                    "name": p.get("name"),
                    "status": p.get("status"),
                    "code": p.get("code"),
                    "message": p.get("message"),
                    "duration_ms": p.get("duration_ms"),
                    "process_ms": p.get("process_ms"),
                }))
            }
            "court.verdict" => {
                self.court_ms += p.get("court_ms").and_then(Value::as_u64).unwrap_or(0);
                let id = p.get("phase").cloned();
                if let Some(ph) = self.phases.iter_mut().rev().find(|ph| ph.get("phase") == id.as_ref()) {
                    if let Some(obj) = ph.as_object_mut() {
                        for k in ["court", "deterministic", "constitutional", "halt_reason", "violated_laws", "next_command"] {
                            obj.insert(k.into(), p.get(k).cloned().unwrap_or(Value::Null));
                        }
                        obj.insert("verdict_code".into(), p.get("code").cloned().unwrap_or(Value::Null));
                    }
                }
            }
            "receipt.side_effect" => self.receipts.push(p.clone()),
            "gateway.refused" => self.refused.push(p.clone()),
            "fsm.transition" => self.fsm.push(json!({"from": p.get("from"), "to": p.get("to"), "phase": p.get("phase")})),
            "artifact.written" => self.fetched += 1,
            "flow.summary" => self.finished = p.clone(),
            _ => {}
        }
    }

    /// The summary of the records folded in.
    pub fn finish(self) -> Value {
        let finished = &self.finished;
        let get = |k: &str| finished.get(k).cloned().unwrap_or(Value::Null);
        json!({
            "summary_schema": "wfhost.flow.summary/2",
            "flow_id": self.started.get("flow_id"),
            "command": self.started.get("command"),
            "flags": self.started.get("flags"),
            "header": self.header,
            "verdict": get("verdict"),
            "first_failure_phase": get("first_failure_phase"),
            "first_failure_code": get("first_failure_code"),
            "exit_status": get("exit_status"),
            "target": get("target"),
            "target_source": get("target_source"),
            "pod_state": get("pod_state"),
            "delete_command": get("delete_command"),
            "fsm_state": get("fsm_state"),
            "fsm_transitions": self.fsm,
            "phases": self.phases,
            "side_effects": self.receipts,
            "refused_calls": self.refused,
            "files_fetched": self.fetched,
            // Where the time went: phases (including waits such as monitor polling), commands on
            // the target, gateway calls (commands plus the transport plugin and process spawning
            // around them), and the court (checks, auditors, evidence files).
            "timing": {
                "phases_ms": self.phase_ms,
                "target_process_ms": self.process_ms,
                "gateway_ms": self.gateway_ms,
                "court_ms": self.court_ms,
                "host_overhead_ms": self.court_ms + self.gateway_ms.saturating_sub(self.process_ms),
            },
            "events": self.events,
            "last_record_hash": self.last_record_hash,
        })
    }
}

/// Rebuild the summary from the events of one flow.
pub fn project(events: &[Value]) -> Value {
    let mut p = Projection::default();
    for e in events {
        p.push_value(e);
    }
    p.finish()
}

/// Read `events.jsonl` of a flow as JSON values (complete records only).
pub fn read_events(flow_dir: &Path) -> Result<Vec<Value>, String> {
    let path = flow_dir.join(crate::layout::EVENTS);
    let read = wfhost_evidence::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    read.events
        .into_iter()
        .map(|e| serde_json::to_value(e).map_err(|e| e.to_string()))
        .collect()
}

/// Call `each` with every complete record of the log of the flow in `flow_dir`, one at a time.
pub(crate) fn each_record(flow_dir: &Path, mut each: impl FnMut(&Envelope)) -> Result<(), String> {
    let path = flow_dir.join(crate::layout::EVENTS);
    let failed = |e: wfhost_evidence::VerifyError| format!("{}: {e}", path.display());
    for record in wfhost_evidence::Reader::open(&path).map_err(failed)? {
        each(&record.map_err(failed)?.envelope);
    }
    Ok(())
}

/// Rebuild and write `flow.summary.json`, reading the log one record at a time; returns its
/// path.
pub fn write(flow_dir: &Path) -> Result<PathBuf, String> {
    let mut projection = Projection::default();
    each_record(flow_dir, |e| projection.push(e))?;
    let path = flow_dir.join(crate::layout::SUMMARY);
    crate::layout::write_json(&path, &projection.finish()).map_err(|e| e.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfhost_constitution::codes;

    #[test]
    fn projection_takes_the_first_failure_from_the_finish_event() {
        let events = vec![
            json!({"event_type": "flow.started", "payload": {"flow_id": "f1", "command": "flow"}}),
            json!({"event_type": "phase.outcome", "payload": {"phase": "P00", "status": "ok", "code": 0}}),
            json!({"event_type": "court.verdict", "payload": {"phase": "P00", "court": "pass", "code": 0}}),
            json!({"event_type": "phase.outcome", "payload": {"phase": "P50", "status": "fail", "code": codes::CHECKOUT_DIRTY}}),
            json!({"event_type": "court.verdict", "payload": {"phase": "P50", "court": "fail", "code": codes::CHECKOUT_DIRTY, "halt_reason": "dirty"}}),
            json!({"event_type": "flow.summary", "record_hash": "x", "payload": {"verdict": "halted", "first_failure_phase": "P50", "first_failure_code": codes::CHECKOUT_DIRTY, "exit_status": 30}}),
        ];
        let s = project(&events);
        assert_eq!(s["first_failure_code"], codes::CHECKOUT_DIRTY.get());
        assert_eq!(s["exit_status"], 30);
        assert_eq!(s["phases"][1]["court"], "fail");
        assert_eq!(s["phases"][1]["halt_reason"], "dirty");
        assert_eq!(s["events"], 6);
        assert_eq!(project(&events), s, "projection is deterministic");
    }

    #[test]
    fn folding_envelopes_gives_what_folding_their_values_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let mut log = wfhost_evidence::EventLog::create(&path, "f1").expect("log");
        let host = || wfhost_evidence::Actor::new("host", "wfhost");
        for (ty, native, payload) in [
            ("flow.started", "s", json!({"flow_id": "f1", "command": "flow", "flags": {"teardown": "keep"}})),
            ("flow.header", "h", json!({"key": "transport", "value": "local"})),
            ("phase.outcome", "o", json!({"phase": "P00", "status": "ok", "code": 0, "duration_ms": 5, "process_ms": 1, "gateway_ms": 2})),
            ("court.verdict", "v", json!({"phase": "P00", "court": "pass", "code": 0, "court_ms": 3})),
            ("artifact.written", "a", json!({"path": "x", "name": "x", "sha256": "0".repeat(64)})),
        ] {
            log.append(wfhost_evidence::EventDraft::new(ty, host(), "host", native, payload)).expect("append");
        }
        drop(log);
        let envelopes = wfhost_evidence::read(&path).expect("read").events;
        let values: Vec<Value> = envelopes.iter().map(|e| serde_json::to_value(e).expect("value")).collect();
        let mut folded = Projection::default();
        envelopes.iter().for_each(|e| folded.push(e));
        let folded = folded.finish();
        assert_eq!(folded, project(&values));
        assert_eq!((folded["events"].clone(), folded["files_fetched"].clone(), folded["timing"]["court_ms"].clone()), (json!(5), json!(1), json!(3)));
        assert_eq!(folded["last_record_hash"], json!(envelopes[4].record_hash));
    }
}
