//! `flow.start.json`: P00's artifact (the constitution's phase contract: "`flow.start.json` +
//! `phase.P00.*`"), a projection of the log's first records.
//!
//! ```text
//! flow.started ──────────────────────────────┐
//! flow.header records before P00's outcome ──┴─► project ─► flow.start.json
//! ```
//!
//! The engine writes it at the end of P00, before P00's `phase.outcome` record; `wfhost replay`
//! rebuilds it byte for byte and `wfhost verify` compares. Courts written for the original
//! workflow read it (the evidence pack names it as `flow_start_artifact`).

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The schema version of `flow.start.json`.
pub const SCHEMA: u64 = 1;

/// Rebuild `flow.start.json` from the records of a flow: the `flow.started` record and every
/// `flow.header` record before the first `phase.outcome` (P00's). `None` without a
/// `flow.started` record.
pub fn project(events: &[Value]) -> Option<Value> {
    let started = events.iter().find(|e| e.get("event_type").and_then(Value::as_str) == Some("flow.started"))?;
    let p = started.get("payload").cloned().unwrap_or(Value::Null);
    let mut header = Map::new();
    for e in events {
        match e.get("event_type").and_then(Value::as_str) {
            Some("phase.outcome") => break,
            Some("flow.header") => {
                let h = e.get("payload").cloned().unwrap_or(Value::Null);
                if let (Some(k), Some(v)) = (h.get("key").and_then(Value::as_str), h.get("value")) {
                    header.insert(k.to_string(), v.clone());
                }
            }
            _ => {}
        }
    }
    let h = |k: &str| header.get(k).cloned().unwrap_or(Value::Null);
    Some(json!({
        "flow_start_schema": SCHEMA,
        "flow_id": p.get("flow_id"),
        "started_at": started.get("occurred_at"),
        "command": p.get("command"),
        "flags": p.get("flags"),
        "phases": p.get("phases"),
        "workdir": p.get("workdir"),
        "wfhost_version": p.get("wfhost_version"),
        "active_config_path": h("active_config_path"),
        "active_config_sha256": h("active_config_sha256"),
        "override_enabled": h("override_enabled"),
        "resolved_target": h("resolved_target"),
        "target_source": h("target_source"),
        "transport": h("transport"),
        "remote_env_path": h("remote_env_path"),
        "fsm_state_file": h("fsm_state_file"),
        "header": Value::Object(header),
    }))
}

/// Whether the log holds P00's outcome, after which `flow.start.json` must exist.
pub fn due(events: &[Value]) -> bool {
    events.iter().any(|e| e.get("event_type").and_then(Value::as_str) == Some("phase.outcome"))
}

/// Rebuild and write `flow.start.json` from the flow's log; returns its path.
pub fn write(flow_dir: &Path) -> Result<PathBuf, String> {
    let events = crate::summary::read_events(flow_dir)?;
    let value = project(&events).ok_or_else(|| format!("{} has no flow.started record", flow_dir.join(crate::layout::EVENTS).display()))?;
    let path = flow_dir.join(crate::layout::FLOW_START);
    crate::layout::write_json(&path, &value).map_err(|e| e.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ty: &str, payload: Value) -> Value {
        json!({"event_type": ty, "occurred_at": "2026-12-06T13:00:00.000Z", "payload": payload})
    }

    #[test]
    fn the_projection_takes_the_headers_p00_printed() {
        let events = vec![
            rec("flow.started", json!({"flow_id": "f", "command": "flow", "flags": {"teardown": "keep"}, "phases": ["P00"], "workdir": "/w", "wfhost_version": "0.1.0"})),
            rec("flow.header", json!({"key": "active_config_sha256", "value": "abc"})),
            rec("flow.header", json!({"key": "resolved_target", "value": "pending"})),
            rec("phase.outcome", json!({"phase": "P00"})),
            rec("flow.header", json!({"key": "resolved_target", "value": "pod-1"})),
        ];
        let v = project(&events).expect("projection");
        assert_eq!(v["flow_id"], "f");
        assert_eq!(v["started_at"], "2026-12-06T13:00:00.000Z");
        assert_eq!(v["active_config_sha256"], "abc");
        assert_eq!(v["resolved_target"], "pending", "P20's autobind header comes after P00");
        assert_eq!(v["transport"], Value::Null);
        assert!(due(&events));
        assert!(!due(&events[..3]));
        assert_eq!(project(&events[1..]), None);
    }
}
