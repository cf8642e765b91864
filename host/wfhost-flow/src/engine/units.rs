//! The host side of each phase, one unit per phase: when the flags skip it, whether it will do
//! its work (so P00 requires its config keys), what the host does for a host-run phase, the
//! inputs only the host may prepare for an executor, the grants it issues before the executor
//! runs, and what it takes or revokes afterwards.
//!
//! ```text
//! engine loop ─► unit(id).skip ─► pre checks ─► unit.host (host phases)
//!                                             └► unit.inputs + unit.grants ─► executor ─► unit.after
//! ```
//!
//! [`unit`] is the one place that maps a phase id to its unit: adding a phase's host-side
//! behaviour means one `Unit` impl here; nothing else in the engine names a phase.

use super::{fail, ok, Run};
use crate::gateway::FlowGateway;
use crate::grants::{Grant, GrantKind};
use crate::types::PhaseOutcome;
use serde_json::{json, Value};
use wfhost_config::config::Config;
use wfhost_config::flags::{Fetch, Provision, Sweep, Teardown};
use wfhost_config::manifest;
use wfhost_config::plan::Plan;
use wfhost_constitution::{codes, keys, Code, Phase, PhaseId};
use wfhost_evidence::input::{self, InputKind};

/// Inputs for an executor, by name.
pub(super) type Inputs = Vec<(String, String)>;

/// A failure to prepare inputs: its code and message.
pub(super) type InputError = (Code, String);

/// The host side of one phase. Every method has the do-nothing default.
pub(super) trait Unit: Sync {
    /// Why the flags skip this phase (a skipped phase does nothing and is not asked its
    /// preconditions), if they do.
    fn skip(&self, _run: &Run<'_>) -> Option<String> {
        None
    }

    /// Whether this phase will do its work in this run: its required config keys
    /// (config.toml `required_for`) must then be set, which P00 checks.
    fn will_work(&self, _run: &Run<'_>) -> bool {
        true
    }

    /// The work of a phase the host runs itself.
    fn host(&self, _run: &mut Run<'_>, phase: &Phase) -> PhaseOutcome {
        fail(phase, phase.family.generic(), format!("no host implementation for {}", phase.id))
    }

    /// Inputs only the host may prepare for the executor (files it reads locally), added to
    /// the common ones.
    fn inputs(&self, _run: &Run<'_>, _config: &Config, _inputs: &mut Inputs) -> Result<(), InputError> {
        Ok(())
    }

    /// Grants issued just before the executor runs.
    fn grants(&self, _run: &Run<'_>, _phase: &Phase) {}

    /// What the host itself puts on the target, through the gateway, just before the executor
    /// runs (after the grants).
    fn deliver(&self, _run: &Run<'_>, _gateway: &FlowGateway) -> Result<(), InputError> {
        Ok(())
    }

    /// After the phase (and its deadline check), before its FSM transition: take its results
    /// and revoke the grants whose purpose is spent.
    fn after(&self, _run: &mut Run<'_>, _outcome: &PhaseOutcome) {}
}

/// The unit of phase `id`.
pub(super) fn unit(id: PhaseId) -> &'static dyn Unit {
    match id {
        PhaseId::P00 => &Precheck,
        PhaseId::P10 => &Provision_,
        PhaseId::P20 => &Bind,
        PhaseId::P40 => &Bootstrap,
        PhaseId::P50 => &Checkout,
        PhaseId::P60 => &SweepStart,
        PhaseId::P70 => &Monitor,
        PhaseId::P75 => &Task,
        PhaseId::P80 => &FetchUnit,
        PhaseId::P90 => &Teardown_,
        PhaseId::P99 => &Summary,
        _ => &Plain,
    }
}

/// A phase with no host-side behaviour of its own (P30).
struct Plain;
impl Unit for Plain {}

/// P00: the precheck, and its artifact `flow.start.json` (written before P00's outcome record).
struct Precheck;
impl Unit for Precheck {
    fn host(&self, run: &mut Run<'_>, phase: &Phase) -> PhaseOutcome {
        let mut outcome = run.precheck(phase);
        // The config's unknown keys are kept in evidence by name and line, never by value
        // (a misspelt key may hold a credential).
        if let Ok(config) = &run.loaded {
            if !config.unknown_keys().is_empty() {
                let keys: Vec<Value> = config.unknown_keys().iter().map(|u| json!({"key": u.key, "line": u.line})).collect();
                outcome.details_json = Some(json!({"unknown_keys": keys}).to_string());
            }
        }
        outcome
    }

    fn after(&self, run: &mut Run<'_>, _outcome: &PhaseOutcome) {
        if let Err(e) = wfhost_audit::start::write(&run.flow_dir) {
            run.sink.write_failed(wfhost_audit::layout::FLOW_START, &e);
        }
    }
}

/// P10: create a pod with the provision grant P00 issued on consent.
struct Provision_;
impl Unit for Provision_ {
    fn skip(&self, run: &Run<'_>) -> Option<String> {
        if run.flags.provision == Provision::Skip {
            Some("--provision skip".into())
        } else if run.explicit_target.is_some() {
            Some("an explicit target is set; nothing to provision".into())
        } else {
            None
        }
    }

    fn will_work(&self, run: &Run<'_>) -> bool {
        run.provision_needed()
    }

    fn after(&self, run: &mut Run<'_>, _outcome: &PhaseOutcome) {
        // A pod the gateway created is this flow's, whatever became of the phase after.
        if let Some(pod) = run.gateway.provisioned() {
            run.provisioned = Some(pod);
        }
        run.gateway.revoke(GrantKind::Provision, "P10 ended: no later phase may create a pod");
    }
}

/// P20: bind and lock the target.
struct Bind;
impl Unit for Bind {
    fn host(&self, run: &mut Run<'_>, phase: &Phase) -> PhaseOutcome {
        run.bind(phase)
    }
}

/// P40: the config copy and `BOOTSTRAP_SCRIPT`, read on the host.
struct Bootstrap;
impl Unit for Bootstrap {
    fn inputs(&self, run: &Run<'_>, config: &Config, v: &mut Inputs) -> Result<(), InputError> {
        v.push(("config_text".into(), config.redacted_text()));
        if let Some(script) = config.get(keys::BOOTSTRAP_SCRIPT).filter(|s| !s.is_empty()) {
            let path = run.req.workdir.join(script);
            let text = input::read_to_string(&path, InputKind::BootstrapScript).map_err(|e| (codes::BOOTSTRAP_FAILED, e.to_string()))?;
            v.push(("bootstrap_script".into(), text));
        }
        Ok(())
    }
}

/// P50: `REPO_URL`, a relative local path made absolute.
struct Checkout;
impl Unit for Checkout {
    fn skip(&self, run: &Run<'_>) -> Option<String> {
        let no_repo = run.config.as_ref().and_then(|c| c.get(keys::REPO_URL)).is_none_or(str::is_empty);
        (run.flags.sweep == Sweep::Skip && no_repo).then(|| "--sweep skip and no REPO_URL".into())
    }

    fn will_work(&self, run: &Run<'_>) -> bool {
        run.flags.sweep != Sweep::Skip
    }

    fn inputs(&self, run: &Run<'_>, config: &Config, v: &mut Inputs) -> Result<(), InputError> {
        let url = config.value(keys::REPO_URL);
        v.push(("repo_url".into(), crate::absolutize_repo_url(&run.req.workdir, url)));
        Ok(())
    }
}

/// P60: the manifest, parsed and planned on the host, the config copy, and `force` when
/// SWEEP_FORCE=1 has its consent.
struct SweepStart;
impl Unit for SweepStart {
    fn skip(&self, run: &Run<'_>) -> Option<String> {
        (run.flags.sweep == Sweep::Skip).then(|| "--sweep skip".into())
    }

    fn will_work(&self, run: &Run<'_>) -> bool {
        run.flags.sweep == Sweep::Start
    }

    fn inputs(&self, run: &Run<'_>, config: &Config, v: &mut Inputs) -> Result<(), InputError> {
        if run.flags.sweep == Sweep::Start {
            // P00 planned the same sweep; it is read again here so the runs are what the file
            // holds now.
            let sweep = manifest::Sweep::load(config).map_err(|e| (e.code(), e.to_string()))?;
            let runs_json: Vec<Value> = sweep.runs.iter().map(|r| json!({"run_id": r.run_id, "command": r.command})).collect();
            v.push(("manifest_csv".into(), String::from_utf8_lossy(&sweep.bytes).into_owned()));
            v.push(("manifest_sha256".into(), sweep.manifest.sha256.clone()));
            v.push(("runs_json".into(), Value::Array(runs_json).to_string()));
        }
        if run.force_consent {
            v.push(("force".into(), "1".into()));
        }
        v.push(("config_text".into(), config.redacted_text()));
        Ok(())
    }

    /// WF_RUN_SECRETS: the values P00 read, written for the runs (mode 0600) unless this is a
    /// dry run, which starts no run.
    fn deliver(&self, run: &Run<'_>, gateway: &FlowGateway) -> Result<(), InputError> {
        let Some(config) = &run.config else { return Ok(()) };
        if run.run_secrets.is_empty() || config.flag(keys::SWEEP_DRY_RUN) {
            return Ok(());
        }
        let Some(target) = &run.target else { return Ok(()) };
        let path = format!("{}/{RUN_SECRETS_FILE}", config.value(keys::OPS_REMOTE_OUTPUTS_DIR).trim_end_matches('/'));
        let handles: Vec<String> = run.run_secrets.iter().map(|(h, _)| h.clone()).collect();
        gateway
            .host_put_secrets(target, &path, SweepStart::secrets_text(&run.run_secrets).into_bytes(), &handles)
            .map_err(|e| (codes::SWEEP_LAUNCH_FAILED, format!("cannot write the runs' secrets ({}) to {path}: {}", handles.join(", "), crate::gateway::gateway_error_text(&e))))
    }
}

/// Where P60 writes the runs' secrets (WF_RUN_SECRETS), under OPS_REMOTE_OUTPUTS_DIR; the
/// runner reads it (`scripts/runner.sh`), P90 removes it.
pub(crate) const RUN_SECRETS_FILE: &str = "_control/run-secrets.env";

impl SweepStart {
    /// The secrets file: one `export NAME='value'` line per handle, each value shell-quoted.
    fn secrets_text(secrets: &[(String, String)]) -> String {
        secrets
            .iter()
            .map(|(name, value)| format!("export {name}={}\n", manifest::sh_quote(value)))
            .collect()
    }
}

/// P70: nothing to watch after a dry run (SWEEP_DRY_RUN=1 started nothing).
struct Monitor;
impl Unit for Monitor {
    fn skip(&self, run: &Run<'_>) -> Option<String> {
        let dry = run.config.as_ref().is_some_and(|c| c.flag(keys::SWEEP_DRY_RUN));
        (dry && run.flags.sweep != Sweep::Skip).then(|| "SWEEP_DRY_RUN=1: P60 started nothing to watch".into())
    }
}

/// P75: the task command's request (`Plan::Task`) as the executor's inputs; a plan without one
/// skips the phase.
struct Task;
impl Unit for Task {
    fn skip(&self, run: &Run<'_>) -> Option<String> {
        (!matches!(run.req.plan, Plan::Task(_))).then(|| "not a task command".into())
    }

    fn inputs(&self, run: &Run<'_>, _config: &Config, v: &mut Inputs) -> Result<(), InputError> {
        if let Plan::Task(t) = &run.req.plan {
            v.extend(t.inputs());
        }
        Ok(())
    }
}

/// P80: fetch only when asked.
struct FetchUnit;
impl Unit for FetchUnit {
    fn skip(&self, run: &Run<'_>) -> Option<String> {
        (run.flags.fetch == Fetch::None).then(|| "--fetch none".into())
    }

    fn will_work(&self, run: &Run<'_>) -> bool {
        run.flags.fetch != Fetch::None
    }
}

/// P90: `--teardown delete` is the consent for, and grant of, deleting the bound pod (Law 7).
struct Teardown_;
impl Unit for Teardown_ {
    fn grants(&self, run: &Run<'_>, phase: &Phase) {
        if run.flags.teardown != Teardown::Delete {
            return;
        }
        if let Some(t) = &run.target {
            let grant = Grant::delete(t, &phase.id);
            run.sink.event_as(
                "consent.given",
                "consent/delete-pod",
                json!({"action": "delete-pod", "target": t, "basis": "--teardown delete"}),
                grant.actor.clone(),
            );
            run.gateway.grant(grant);
        }
    }

    fn after(&self, run: &mut Run<'_>, _outcome: &PhaseOutcome) {
        if run.gateway.deleted() {
            run.pod_deleted = true;
            run.gateway.revoke(GrantKind::Delete, "the pod was deleted");
            run.gateway.revoke(GrantKind::Target, "the pod was deleted");
        }
    }
}

/// P99: the summary is written when the flow finishes.
struct Summary;
impl Unit for Summary {
    fn host(&self, _run: &mut Run<'_>, phase: &Phase) -> PhaseOutcome {
        ok(phase, "summary written".into(), vec![])
    }
}
