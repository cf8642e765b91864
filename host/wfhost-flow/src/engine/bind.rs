//! P20 TARGET_BIND, the host's own phase: the explicit target (LIUM_TARGET or `--target`),
//! else the pod P10 created, else a failure; the transport validates it; the remote FSM is read
//! once; then the target is locked (Law 3) by the target grant and consent for commands and
//! files on it is recorded. Before any of that, the flow takes the target's lock
//! ([`crate::target_lock`]): a target another flow from this directory works on fails with 207.

use super::{fail, kv, ok, Run, TargetSource};
use crate::grants::Grant;
use crate::plugins;
use crate::target_lock::{self, Holder};
use crate::now_rfc3339;
use crate::types::PhaseOutcome;
use serde_json::{json, Value};
use wfhost_audit::records::{self, FsmLoaded};
use wfhost_constitution::{codes, Code, Phase};
use wfhost_evidence::Actor;
use wfhost_runtime::TransportError;

impl Run<'_> {
    pub(super) fn bind(&mut self, phase: &Phase) -> PhaseOutcome {
        let Some(plugins) = &self.plugins else {
            return fail(phase, codes::TARGET_UNBOUND, "no transport loaded".into());
        };
        let (candidate, source) = match (&self.explicit_target, &self.provisioned) {
            (Some(t), _) => (t.clone(), TargetSource::Explicit),
            (None, Some(pod)) => (pod.target.clone(), TargetSource::Autobind),
            (None, None) => {
                return fail(phase, codes::TARGET_UNBOUND, "no LIUM_TARGET and no pod from P10 to bind".into())
            }
        };
        let target = match plugins.transport.parse_target(&candidate) {
            Ok(t) => t,
            Err(e) => return fail(phase, codes::TARGET_INVALID, format!("target {candidate:?}: {}", plugins::transport_error_text(&e))),
        };
        // One flow per target: a second one stops here, before it touches the target.
        let holder = Holder {
            flow_id: self.flow_id.clone(),
            pid: std::process::id(),
            since: now_rfc3339(),
            evidence: self.flow_dir.display().to_string(),
        };
        match target_lock::acquire(&self.req.workdir, &target, &holder) {
            Ok(lock) => self.target_lock = Some(lock),
            Err(e) => return fail(phase, codes::TARGET_BUSY, e.to_string()),
        }
        self.target = Some(target.clone());
        self.target_source = Some(source);
        self.gateway.bind(&target);
        if let Err((code, message)) = self.load_remote_fsm() {
            return fail(phase, code, message);
        }
        if source == TargetSource::Autobind {
            self.header("resolved_target", &target);
            self.header("target_source", source.as_str());
        }
        // Commands and files on the target are external side effects (DESIGN: they need
        // consent). What the user gave counts: --yes, LIUM_YES=1 or the TTY; else the target
        // they named themselves, or the pod they consented to create in P00.
        let actor = self.consent_actor().unwrap_or_else(|| match source {
            TargetSource::Explicit => Actor::new("policy", "explicit-target"),
            TargetSource::Autobind => Actor::new("policy", "provisioned-by-this-flow"),
        });
        for action in ["exec", "put-file"] {
            self.sink.event_as("consent.given", &format!("consent/{action}"), json!({
                "action": action, "target": target, "basis": format!("the flow's bound target ({})", source.as_str()),
            }), actor.clone());
        }
        self.gateway.grant(Grant::target(&target, source.as_str()));
        let lock = self.target_lock.as_ref().map(|l| l.path().display().to_string()).unwrap_or_default();
        ok(phase, format!("bound to {target} ({})", source.as_str()), vec![
            kv("target", &target),
            kv("target_source", source.as_str()),
            kv("target_lock", &lock),
        ])
    }

    pub(super) fn state_file(&self) -> String {
        match &self.config {
            Some(c) => super::state_file(c),
            None => String::new(),
        }
    }

    /// Read the remote FSM once per flow, after binding (a pod may carry state from an
    /// earlier flow: a resumed sweep, a kept pod). A missing file is a fresh pod; a target
    /// that cannot be reached or is gone fails the bind (204/205) instead of being taken for
    /// a fresh pod, which would make a later phase start over what is already there.
    fn load_remote_fsm(&mut self) -> Result<(), (Code, String)> {
        let (Some(p), Some(t)) = (&self.plugins, &self.target) else { return Ok(()) };
        match p.transport.get_file(t, &self.state_file(), 64 * 1024) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => {
                    if let Some(s) = v.get("state").and_then(Value::as_str) {
                        if self.c.fsm.states.iter().any(|st| st.name == s) {
                            self.fsm = s.to_string();
                        }
                    }
                }
                Err(e) => self.out.note(&format!(
                    "warning: remote {} is not JSON ({e}); treating the pod as {}",
                    self.state_file(),
                    self.fsm
                )),
            },
            Err(e @ TransportError::Unreachable(_)) => {
                return Err((codes::POD_UNREACHABLE_2XX, format!(
                    "cannot read the remote FSM {} on {t}: {}. Check the target is up and reachable, then run the same command again",
                    self.state_file(),
                    plugins::transport_error_text(&e)
                )));
            }
            Err(e @ TransportError::Vanished(_)) => {
                return Err((codes::POD_VANISHED_2XX, format!(
                    "the target {t} is gone: {}",
                    plugins::transport_error_text(&e)
                )));
            }
            Err(e @ TransportError::Timeout(_)) => {
                return Err((codes::POD_UNREACHABLE_2XX, format!(
                    "reading the remote FSM {} on {t} timed out: {}",
                    self.state_file(),
                    plugins::transport_error_text(&e)
                )));
            }
            Err(_) => {} // No state file yet (or not a file): a fresh pod.
        }
        self.sink.event(records::FSM_LOADED, "fsm/loaded", records::to_value(&FsmLoaded { state: self.fsm.clone(), file: self.state_file() }));
        Ok(())
    }
}
