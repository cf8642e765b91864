//! The evidence pack file, `phase/phase.<Pxx>.pack.json`: the constitution's minimum schema,
//! flat, plus what wfhost adds.
//!
//! ```text
//! the WIT evidence-pack record the auditor components judged ─┐
//! the minimum members (Minimum: flow_id, phase_id, started_at, ended_at,    ├─► flat() ─► .pack.json
//!   active_config_path/sha256, lium_target, ops_default_host, transport_hint,│    (and the external
//!   remote_env_path, fsm_before/after, command_name/rc, phase_status,       │     court's input)
//!   repo_url, teardown_mode, applicable_laws by alias, flow_start_artifact) ─┘
//! ```
//!
//! "Per phase, the evidence pack MUST include: flow_id, phase_id, started_at, ended_at,
//! active_config_path, active_config_sha256, lium_target or ops_default_host, transport_hint,
//! remote_env_path, fsm_before, fsm_after, command_name, command_rc, phase_status, repo_url,
//! teardown_mode." Courts written for the original workflow read these names, the laws by their
//! descriptive ids (`applicable_laws`: `LAW_1_CANONICAL_CONFIG`, ...) and `flow_start_artifact`
//! (the path of `flow.start.json`, relative to the flow directory, which is such a court's
//! working directory). The WIT record's own members are kept beside them; its law ids (`L1`)
//! move to `applicable_law_ids`. [`wit_record`] turns a pack file back into the WIT record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wfhost_constitution::Constitution;

/// The minimum members of a pack, as the constitution names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minimum {
    /// The flow.
    pub flow_id: String,
    /// The phase.
    pub phase_id: String,
    /// When the phase started.
    pub started_at: String,
    /// When it ended (before the court): [`ended_at`] of the start and the duration.
    pub ended_at: String,
    /// The canonical config's path.
    pub active_config_path: Option<String>,
    /// Its sha256 when the flow started.
    pub active_config_sha256: String,
    /// The bound target (null before P20).
    pub lium_target: Option<String>,
    /// `OPS_DEFAULT_HOST`, when set.
    pub ops_default_host: Option<String>,
    /// `<transport>:<target>`, or `unresolved` before a target is bound.
    pub transport_hint: String,
    /// `REMOTE_ENV_PATH`.
    pub remote_env_path: Option<String>,
    /// FSM state before the phase.
    pub fsm_before: String,
    /// FSM state after it.
    pub fsm_after: String,
    /// The phase in the workflow's command vocabulary (constitution/phases.toml `command`).
    pub command_name: String,
    /// The phase's code: 0 unless it failed.
    pub command_rc: u16,
    /// `ok`, `skip` or `fail`.
    pub phase_status: String,
    /// `REPO_URL`, when set.
    pub repo_url: Option<String>,
    /// `keep` or `delete`.
    pub teardown_mode: String,
    /// The laws that apply, by their descriptive ids.
    pub applicable_laws: Vec<String>,
    /// `flow.start.json`, relative to the flow directory.
    pub flow_start_artifact: String,
}

/// `transport_hint`: `<transport>:<target>`, or `unresolved`.
pub fn transport_hint(transport: &str, target: Option<&str>) -> String {
    match target {
        Some(t) => format!("{transport}:{t}"),
        None => "unresolved".to_string(),
    }
}

/// When a phase that started at `started_at` and took `duration_ms` ended, in the same form;
/// `started_at` itself when it does not parse.
pub fn ended_at(started_at: &str, duration_ms: u64) -> String {
    wfhost_evidence::Timestamp::parse(started_at)
        .ok()
        .and_then(|t| wfhost_evidence::Timestamp::from_unix_millis(t.unix_millis().saturating_add(i64::try_from(duration_ms).unwrap_or(i64::MAX))).ok())
        .map(|t| t.to_string())
        .unwrap_or_else(|| started_at.to_string())
}

/// The descriptive ids of law ids (an id without an alias stays as it is).
pub fn law_aliases(c: &Constitution, ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| c.law(id).and_then(|l| l.alias.clone()).unwrap_or_else(|| id.clone()))
        .collect()
}

/// The pack file: the WIT record's members (its law ids as `applicable_law_ids`) and the
/// minimum members.
pub fn flat(minimum: &Minimum, wit: Value) -> Value {
    let mut out = match wit {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(ids) = out.remove("applicable_laws") {
        out.insert("applicable_law_ids".into(), ids);
    }
    if let Value::Object(min) = crate::records::to_value(minimum) {
        out.extend(min);
    }
    Value::Object(out)
}

/// The WIT record inside a pack file (what the auditor components judged): the file without
/// the minimum members, its law ids back under `applicable_laws`. A WIT-only pack (an older
/// flow's) is returned as it is.
pub fn wit_record(file: &Value) -> Value {
    let Value::Object(m) = file else { return file.clone() };
    if !m.contains_key("applicable_law_ids") {
        return file.clone();
    }
    let minimum: Vec<String> = match crate::records::to_value(&Minimum::example()) {
        Value::Object(min) => min.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut out: Map<String, Value> = m
        .iter()
        .filter(|(k, _)| !minimum.contains(k) || *k == "flow_id" || *k == "fsm_before" || *k == "fsm_after")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(ids) = out.remove("applicable_law_ids") {
        out.insert("applicable_laws".into(), ids);
    }
    Value::Object(out)
}

impl Minimum {
    /// A sample, for the member list and tests.
    pub fn example() -> Minimum {
        Minimum {
            flow_id: "f".into(),
            phase_id: "P30".into(),
            started_at: "2026-12-06T13:00:00.000Z".into(),
            ended_at: "2026-12-06T13:00:01.500Z".into(),
            active_config_path: Some("/w/infra_scripts/workflow.env".into()),
            active_config_sha256: "0".repeat(64),
            lium_target: Some("pod-1".into()),
            ops_default_host: None,
            transport_hint: "local:pod-1".into(),
            remote_env_path: Some("/pod/project.env".into()),
            fsm_before: "INIT".into(),
            fsm_after: "POD_READY".into(),
            command_name: "pod-status".into(),
            command_rc: 0,
            phase_status: "ok".into(),
            repo_url: None,
            teardown_mode: "keep".into(),
            applicable_laws: vec!["LAW_1_CANONICAL_CONFIG".into()],
            flow_start_artifact: crate::layout::FLOW_START.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_file_carries_every_minimum_member_and_gives_back_the_wit_record() {
        let wit = json!({"flow_id": "f", "phase": "P30", "applicable_laws": ["L1"], "fsm_before": "INIT", "fsm_after": "POD_READY", "outcome": {"code": 0}});
        let file = flat(&Minimum::example(), wit.clone());
        for member in [
            "flow_id", "phase_id", "started_at", "ended_at", "active_config_path", "active_config_sha256", "lium_target",
            "ops_default_host", "transport_hint", "remote_env_path", "fsm_before", "fsm_after", "command_name", "command_rc",
            "phase_status", "repo_url", "teardown_mode", "applicable_laws", "flow_start_artifact",
        ] {
            assert!(file.get(member).is_some(), "{member} missing: {file}");
        }
        assert_eq!(file["applicable_laws"], json!(["LAW_1_CANONICAL_CONFIG"]));
        assert_eq!(file["applicable_law_ids"], json!(["L1"]));
        assert_eq!(wit_record(&file), wit);
        assert_eq!(wit_record(&wit), wit, "an older, WIT-only pack is the record itself");
    }

    #[test]
    fn the_end_of_a_phase_and_its_transport_hint() {
        assert_eq!(ended_at("2026-12-06T13:00:59.500Z", 1_500), "2026-12-06T13:01:01.000Z");
        assert_eq!(ended_at("not a time", 5), "not a time");
        assert_eq!(transport_hint("ssh", Some("u@h")), "ssh:u@h");
        assert_eq!(transport_hint("ssh", None), "unresolved");
        let c = Constitution::get().expect("constitution");
        assert_eq!(law_aliases(c, &["L7".into(), "L77".into()]), vec!["LAW_7_EXPLICIT_DESTRUCTION".to_string(), "L77".to_string()]);
    }
}
