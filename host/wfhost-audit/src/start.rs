//! `flow.start.json`: P00's artifact (the constitution's phase contract: "`flow.start.json` +
//! `phase.P00.*`"), a projection of the log's first records.
//!
//! ```text
//! flow.started ──────────────────────────────┐
//! flow.header records before P00's outcome ──┴─► project ─► flow.start.json
//! ```
//!
//! [`Projection`] folds the records one at a time (it keeps `flow.started` and P00's header);
//! [`project`] folds a slice. The engine writes it at the end of P00, before P00's `phase.outcome` record; `wfhost replay`
//! rebuilds it byte for byte and `wfhost verify` compares. Courts written for the original
//! workflow read it (the evidence pack names it as `flow_start_artifact`).

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use wfhost_evidence::Envelope;

/// The schema version of `flow.start.json`.
pub const SCHEMA: u64 = 1;

/// `flow.start.json`, folded record by record: the first `flow.started` record and the
/// `flow.header` records before the first `phase.outcome`.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// The flow.started payload and its time.
    started: Option<(Value, Value)>,
    header: Map<String, Value>,
    /// Whether a phase.outcome (P00's) was folded in.
    due: bool,
}

impl Projection {
    /// Fold in the next record, given as the JSON value of its envelope.
    pub fn push_value(&mut self, e: &Value) {
        let ty = e.get("event_type").and_then(Value::as_str).unwrap_or("");
        let payload = || e.get("payload").cloned().unwrap_or(Value::Null);
        self.fold(ty, payload, || e.get("occurred_at").cloned().unwrap_or(Value::Null));
    }

    /// Fold in the next record.
    pub fn push(&mut self, e: &Envelope) {
        self.fold(&e.event_type, || e.payload.clone(), || serde_json::to_value(e.occurred_at).unwrap_or(Value::Null));
    }

    fn fold(&mut self, ty: &str, payload: impl Fn() -> Value, occurred_at: impl Fn() -> Value) {
        if ty == "flow.started" && self.started.is_none() {
            self.started = Some((payload(), occurred_at()));
        }
        if self.due {
            return;
        }
        match ty {
            "phase.outcome" => self.due = true,
            "flow.header" => {
                let h = payload();
                if let (Some(k), Some(v)) = (h.get("key").and_then(Value::as_str), h.get("value")) {
                    self.header.insert(k.to_string(), v.clone());
                }
            }
            _ => {}
        }
    }

    /// Whether the records hold P00's outcome, after which `flow.start.json` must exist.
    pub fn due(&self) -> bool {
        self.due
    }

    /// `flow.start.json`; `None` without a `flow.started` record.
    pub fn finish(&self) -> Option<Value> {
        let (p, started_at) = self.started.as_ref()?;
        let h = |k: &str| self.header.get(k).cloned().unwrap_or(Value::Null);
        Some(json!({
            "flow_start_schema": SCHEMA,
            "flow_id": p.get("flow_id"),
            "started_at": started_at,
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
            "header": Value::Object(self.header.clone()),
        }))
    }
}

/// Rebuild `flow.start.json` from the records of a flow: the `flow.started` record and every
/// `flow.header` record before the first `phase.outcome` (P00's). `None` without a
/// `flow.started` record.
pub fn project(events: &[Value]) -> Option<Value> {
    let mut p = Projection::default();
    events.iter().for_each(|e| p.push_value(e));
    p.finish()
}

/// Whether the log holds P00's outcome, after which `flow.start.json` must exist.
pub fn due(events: &[Value]) -> bool {
    events.iter().any(|e| e.get("event_type").and_then(Value::as_str) == Some("phase.outcome"))
}

/// Rebuild and write `flow.start.json` from the flow's log, read one record at a time; returns
/// its path.
pub fn write(flow_dir: &Path) -> Result<PathBuf, String> {
    let mut projection = Projection::default();
    crate::summary::each_record(flow_dir, |e| projection.push(e))?;
    let value = projection.finish().ok_or_else(|| format!("{} has no flow.started record", flow_dir.join(crate::layout::EVENTS).display()))?;
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
