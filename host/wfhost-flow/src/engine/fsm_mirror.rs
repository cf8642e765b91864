//! The FSM mirror: after a phase, its transition (constitution/phases.toml `fsm_ok`/`fsm_fail`,
//! or the state the executor reports) is recorded as `fsm.transition`, mirrored to `fsm.json`
//! and written to the target's `_control/workflow_state.json`, then read back so the court can
//! check the target holds it.

use super::{is_failure, record_status, Run};
use crate::now_rfc3339;
use crate::plugins;
use crate::types::{PhaseOutcome, PhaseStatus};
use serde_json::Value;
use wfhost_audit::layout::{FlowDir, FSM};
use wfhost_audit::records::{self, FsmMirror, FsmTransition};
use wfhost_constitution::Phase;

impl Run<'_> {
    /// Apply the phase's FSM transition: returns (before, after, what the remote file holds).
    pub(super) fn transition(&mut self, phase: &Phase, outcome: &PhaseOutcome) -> (String, String, Option<Result<String, String>>) {
        let before = self.fsm.clone();
        let next = match outcome.status {
            PhaseStatus::Skip => None,
            PhaseStatus::Fail => phase.fsm_fail.clone(),
            PhaseStatus::Ok => {
                let reported = outcome.facts.iter().find(|f| f.key == "fsm_state").map(|f| f.value.clone());
                let wanted = reported.or_else(|| phase.fsm_ok.first().cloned());
                match wanted {
                    Some(w) if phase.fsm_advance_only && self.c.fsm_at_least(&before, &w) && !is_failure(self.c, &before) => None,
                    other => other,
                }
            }
        };
        let Some(next) = next else { return (before.clone(), before, None) };
        // Pods deleted in this phase have no state file to write.
        if self.pod_deleted || self.target.is_none() {
            return (before.clone(), before, None);
        }
        self.fsm = next.clone();
        let reason = format!("{} {} code {}", phase.id, record_status(outcome.status).as_str(), outcome.code);
        let transition = FsmTransition {
            from: before.clone(),
            to: next.clone(),
            phase: phase.id.to_string(),
            code: outcome.code,
            reason,
            updated_at: now_rfc3339(),
            host: crate::hostname(),
        };
        self.sink.event(records::FSM_TRANSITION, &format!("{}/fsm", phase.id), records::to_value(&transition));
        let state = records::to_value(&FsmMirror::of(&transition, &self.flow_id));
        self.sink.write_json(FSM, &FlowDir::new(&self.flow_dir).fsm(), &state);
        let remote = match (&self.plugins, &self.target) {
            (Some(p), Some(t)) => {
                let path = self.state_file();
                let body = format!("{}\n", serde_json::to_string_pretty(&state).unwrap_or_default());
                let written = p.transport.put_file(t, &path, body.into_bytes(), 0o644);
                Some(match written {
                    Err(e) => Err(plugins::transport_error_text(&e)),
                    Ok(()) => match p.transport.get_file(t, &path, 64 * 1024) {
                        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                            .ok()
                            .and_then(|v| v.get("state").and_then(Value::as_str).map(str::to_string))
                            .ok_or_else(|| "state file does not parse".to_string()),
                        Err(e) => Err(plugins::transport_error_text(&e)),
                    },
                })
            }
            _ => None,
        };
        (before, next, remote)
    }
}
