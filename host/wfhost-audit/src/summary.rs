//! `flow.summary.json`: a projection of `events.jsonl`, never written from engine state.
//!
//! [`project`] folds the events into the summary; [`write`] reads the log and writes the result
//! atomically. Because the summary depends only on the log, `wfhost replay` can rebuild it and
//! compare byte for byte.

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Rebuild the summary from the events of one flow.
pub fn project(events: &[Value]) -> Value {
    let mut header = Map::new();
    let mut phases: Vec<Value> = Vec::new();
    let mut receipts: Vec<Value> = Vec::new();
    let mut refused: Vec<Value> = Vec::new();
    let mut started = Value::Null;
    let mut finished = Value::Null;
    let mut fsm: Vec<Value> = Vec::new();
    let mut fetched = 0u64;
    let (mut phase_ms, mut process_ms, mut court_ms, mut gateway_ms) = (0u64, 0u64, 0u64, 0u64);
    for e in events {
        let ty = e.get("event_type").and_then(Value::as_str).unwrap_or("");
        let p = e.get("payload").cloned().unwrap_or(Value::Null);
        match ty {
            "flow.started" => started = p,
            "flow.header" => {
                if let (Some(k), Some(v)) = (p.get("key").and_then(Value::as_str), p.get("value")) {
                    header.insert(k.to_string(), v.clone());
                }
            }
            "phase.outcome" => {
                phase_ms += p.get("duration_ms").and_then(Value::as_u64).unwrap_or(0);
                process_ms += p.get("process_ms").and_then(Value::as_u64).unwrap_or(0);
                gateway_ms += p.get("gateway_ms").and_then(Value::as_u64).unwrap_or(0);
                phases.push(json!({
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
                court_ms += p.get("court_ms").and_then(Value::as_u64).unwrap_or(0);
                let id = p.get("phase").cloned();
                if let Some(ph) = phases.iter_mut().rev().find(|ph| ph.get("phase") == id.as_ref()) {
                    if let Some(obj) = ph.as_object_mut() {
                        for k in ["court", "deterministic", "constitutional", "halt_reason", "violated_laws", "next_command"] {
                            obj.insert(k.into(), p.get(k).cloned().unwrap_or(Value::Null));
                        }
                        obj.insert("verdict_code".into(), p.get("code").cloned().unwrap_or(Value::Null));
                    }
                }
            }
            "receipt.side_effect" => receipts.push(p),
            "gateway.refused" => refused.push(p),
            "fsm.transition" => fsm.push(json!({"from": p.get("from"), "to": p.get("to"), "phase": p.get("phase")})),
            "artifact.written" => fetched += 1,
            "flow.summary" => finished = p,
            _ => {}
        }
    }
    let get = |k: &str| finished.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "summary_schema": "wfhost.flow.summary/2",
        "flow_id": started.get("flow_id"),
        "command": started.get("command"),
        "flags": started.get("flags"),
        "header": header,
        "verdict": get("verdict"),
        "first_failure_phase": get("first_failure_phase"),
        "first_failure_code": get("first_failure_code"),
        "exit_status": get("exit_status"),
        "target": get("target"),
        "target_source": get("target_source"),
        "pod_state": get("pod_state"),
        "delete_command": get("delete_command"),
        "fsm_state": get("fsm_state"),
        "fsm_transitions": fsm,
        "phases": phases,
        "side_effects": receipts,
        "refused_calls": refused,
        "files_fetched": fetched,
        // Where the time went: phases (including waits such as monitor polling), commands on
        // the target, gateway calls (commands plus the transport plugin and process spawning
        // around them), and the court (checks, auditors, evidence files).
        "timing": {
            "phases_ms": phase_ms,
            "target_process_ms": process_ms,
            "gateway_ms": gateway_ms,
            "court_ms": court_ms,
            "host_overhead_ms": court_ms + gateway_ms.saturating_sub(process_ms),
        },
        "events": events.len(),
        "last_record_hash": events.last().and_then(|e| e.get("record_hash")).cloned(),
    })
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

/// Rebuild and write `flow.summary.json`; returns its path.
pub fn write(flow_dir: &Path) -> Result<PathBuf, String> {
    let events = read_events(flow_dir)?;
    let path = flow_dir.join(crate::layout::SUMMARY);
    crate::layout::write_json(&path, &project(&events)).map_err(|e| e.to_string())?;
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
}
