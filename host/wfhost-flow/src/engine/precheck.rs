//! P00 PRECHECK, the host's own phase: the config (path, sha256, override policy), the
//! constitutional header, flags that need the config to judge, the config keys the phases of
//! this run require, the signing key, consent (Law 4) and every plugin the flow will use.
//!
//! ```text
//! config ─► header lines ─► flag problems (105) ─► missing keys (107) ─► the sweep planned (109)
//!        ─► signing key (101) ─► consent + provision grant (106) ─► WF_RUN_SECRETS read (107, 101)
//!        ─► SWEEP_FORCE's consent (112) ─► plugins loaded (108) ─► transport config (101) ─► ok
//! ```
//! Nothing here touches a target: a precheck failure stops before any remote mutation.

use super::{fail, kv, ok, Run};
use crate::grants::Grant;
use crate::plugins;
use crate::types::PhaseOutcome;
use serde_json::json;
use wfhost_audit::records::{self, FlowHeader};
use wfhost_config::flags::{Fetch, Provision, Sweep};
use wfhost_config::manifest;
use wfhost_constitution::{codes, keys, Phase, PhaseId};
use wfhost_evidence::Actor;

impl Run<'_> {
    pub(super) fn header(&self, key: &str, value: &str) {
        self.out.header(key, value);
        self.sink.event(records::FLOW_HEADER, &format!("header/{key}"), records::to_value(&FlowHeader { key: key.into(), value: value.into() }));
    }

    pub(super) fn precheck(&mut self, phase: &Phase) -> PhaseOutcome {
        let config_path = self
            .location
            .as_ref()
            .map(|l| l.path().display().to_string())
            .unwrap_or_else(|_| self.req.workdir.join(wfhost_config::CONFIG_REL_PATH).display().to_string());
        let config = match &self.loaded {
            Ok(c) => c.clone(),
            Err(e) => {
                self.header(keys::WF_CONSTITUTION_VERSION.name(), &self.c.version.to_string());
                self.header("active_config_path", &config_path);
                self.header("active_config_sha256", "");
                self.header("flow_id", &self.flow_id);
                return fail(phase, e.code(), e.to_string());
            }
        };
        self.config_sha_start = config.sha256().to_string();
        for warning in config.warnings() {
            self.out.note(&format!("warning: {warning}"));
        }
        // Flags that need config to judge.
        self.explicit_target = self
            .req
            .target
            .clone()
            .or_else(|| config.get(keys::LIUM_TARGET).filter(|t| !t.is_empty()).map(str::to_string));
        if self.req.plan.needs_existing_target() && self.explicit_target.is_none() {
            self.flag_problems.push(format!(
                "{} acts on an existing pod: pass --target <pod> or set LIUM_TARGET",
                self.req.plan.name()
            ));
        }
        if self.flags.provision == Provision::Skip && self.explicit_target.is_none() {
            self.flag_problems.push(
                "--provision skip needs LIUM_TARGET (or --target): there would be no target to bind".into(),
            );
        }
        let transport = config.value(keys::WF_TRANSPORT).to_string();
        let target_line = self.explicit_target.clone().unwrap_or_else(|| "pending".into());
        self.header(keys::WF_CONSTITUTION_VERSION.name(), &self.c.version.to_string());
        self.header("active_config_path", &config_path);
        self.header("active_config_sha256", config.sha256());
        self.header("override_enabled", if config.override_enabled() { "1" } else { "0" });
        self.header("resolved_target", &target_line);
        self.header(
            "target_source",
            if self.explicit_target.is_some() { "explicit" } else { "autobind" },
        );
        self.header("transport", &transport);
        self.header("remote_env_path", config.value(keys::REMOTE_ENV_PATH));
        self.header("fsm_state_file", &super::state_file(&config));
        self.header("flow_id", &self.flow_id);
        self.gateway.set_fetch_max_bytes(config.uint(keys::WF_FETCH_MAX_BYTES));
        self.config = Some(config.clone());

        // Required variables (config.toml `required_for`) of the phases this run will execute.
        let mut missing = Vec::new();
        if let Ok(vocab) = wfhost_config::config::Vocabulary::get() {
            for key in &vocab.keys {
                let needed_by: Vec<&str> = key
                    .required_for
                    .iter()
                    .filter(|p| self.will_work(**p))
                    .map(|p| p.as_str())
                    .collect();
                if !needed_by.is_empty() && config.get_by_name(&key.name).is_none_or(str::is_empty) {
                    missing.push(format!("{} (needed by {}: {})", key.name, needed_by.join(", "), key.meaning.trim_end_matches('.')));
                }
            }
        }
        // Flags that cannot work together on a pod this flow creates: a new pod has no sweep.
        if self.provision_needed() {
            if self.flags.sweep == Sweep::Resume {
                self.flag_problems.push(
                    "--sweep resume on a pod this flow creates: a new pod has no sweep to resume; use --sweep start, \
                     or set LIUM_TARGET to the pod that has the sweep and use --provision skip"
                        .into(),
                );
            }
            if self.flags.sweep == Sweep::Skip && self.flags.fetch != Fetch::None {
                self.flag_problems.push(format!(
                    "--fetch {} with --sweep skip on a pod this flow creates: a new pod has no runs to fetch; \
                     set LIUM_TARGET to the pod that ran them and use --provision skip",
                    self.flags.fetch
                ));
            }
        }
        if !self.flag_problems.is_empty() {
            return fail(phase, codes::FLAGS_ILLEGAL, self.flag_problems.join("; "));
        }
        if !missing.is_empty() {
            return fail(phase, codes::REQUIRED_VAR_MISSING, format!("unset in {config_path}: {}", missing.join("; ")));
        }
        // The sweep P60 would start is read and planned now: a manifest that does not parse,
        // a SWEEP_MATCH that selects nothing or a SWEEP_START_AT that names no run is found
        // before anything is created.
        if self.flags.sweep == Sweep::Start && self.will_work(PhaseId::P60) {
            if let Err(e) = manifest::Sweep::load(&config) {
                return fail(phase, codes::INPUT_INVALID, format!("the sweep P60 would start cannot run: {e}"));
            }
        }
        // Signing (WF_SIGNING_KEY): the key is read now, so a bad key stops the flow before
        // anything happens; its id is recorded before the first verdict.
        if let Some(key) = config.secret(keys::WF_SIGNING_KEY) {
            let path = self.req.workdir.join(key.expose());
            let signer = match wfhost_evidence::dsse::load_signing_key(&path) {
                Ok(s) => s,
                Err(e) => return fail(phase, codes::CONFIG_INVALID, format!(
                    "WF_SIGNING_KEY in {config_path}: {e}. Make one with `wfhost keygen <path>`, or remove the key to run unsigned"
                )),
            };
            if let Some(w) = signer.permission_warning() {
                self.out.note(&format!("warning: {w}"));
            }
            self.sink.event("flow.header", &format!("header/{}", wfhost_audit::signing::SIGNING_HEADER), json!({
                "key": wfhost_audit::signing::SIGNING_HEADER, "value": wfhost_audit::signing::header_value(&signer),
            }));
            if let Err(e) = wfhost_audit::signing::write_public_key(&signer, &self.flow_dir) {
                return fail(phase, codes::CONFIG_INVALID, format!("cannot write the flow's public key: {e}"));
            }
            self.signer = Some(signer);
        }
        // Consent (Law 4): decided here, before anything is created.
        let provisioning = self.provision_needed();
        self.consent = self.flags.yes
            || config.flag(keys::LIUM_YES)
            || self.req.env.get(keys::LIUM_YES.name()).map(String::as_str) == Some("1");
        if let (true, false, true, Some(confirm)) = (provisioning, self.consent, self.req.interactive, &self.req.confirm) {
            self.consent = confirm.ask(&format!("Create a new pod with the {transport} transport? [y/N] "));
            self.consent_from_tty = self.consent;
        }
        if provisioning {
            if let Some(actor) = self.consent_actor() {
                self.sink.event_as("consent.given", "consent/provision", json!({"action": "provision", "transport": transport}), actor.clone());
                let approved_by = if self.flags.yes { "flag:--yes" } else { "consent" };
                self.gateway.grant(Grant::provision(PhaseId::P10.as_str(), actor, approved_by));
            } else {
                return fail(phase, codes::CONSENT_MISSING, "this run would create a pod, but it has no terminal and no consent".into());
            }
        }
        // WF_RUN_SECRETS: every handle's value comes from wfhost's own environment, now.
        if let Err((code, message)) = self.read_run_secrets(&config) {
            return fail(phase, code, message);
        }
        // SWEEP_FORCE (Law 4): running finished runs again spends what they cost once more, so
        // it needs the same consent: --yes, LIUM_YES=1 or a yes at the terminal.
        if let Err(message) = self.force_consent(&config) {
            return fail(phase, codes::RERUN_CONSENT_MISSING, message);
        }
        // Plugins: every one the flow will use is loaded now, never half-way through.
        match plugins::load(&self.req.workdir, &config, &self.req.env, self.sink.clone(), self.out.clone_handle()) {
            Ok(p) => {
                self.sink.event("plugins.loaded", "plugins", p.describe());
                let checked = p.check_config(&config_path);
                self.plugins = Some(p);
                if let Err((code, message)) = checked {
                    return fail(phase, code, message);
                }
            }
            Err((code, e)) => return fail(phase, code, e),
        }
        ok(phase, format!("config {} sha256 {}", config_path, config.sha256()), vec![
            kv("config_sha256", config.sha256()),
            kv("transport", &transport),
            kv("consent", &self.consent.to_string()),
        ])
    }

    /// Read WF_RUN_SECRETS' values from the process environment when P60 will start runs: a
    /// handle that is unset there is 107, one wfhost or the runs' shell own is 101.
    fn read_run_secrets(&mut self, config: &wfhost_config::config::Config) -> Result<(), (wfhost_constitution::Code, String)> {
        const RESERVED: [&str; 6] = ["PATH", "HOME", "IFS", "ENV", "SHELL", "CUDA_VISIBLE_DEVICES"];
        let key = keys::WF_RUN_SECRETS.name();
        if !self.req.plan.phases().contains(&PhaseId::P60) || self.flags.sweep == Sweep::Skip {
            return Ok(());
        }
        let mut unset = Vec::new();
        for handle in config.list(keys::WF_RUN_SECRETS) {
            if RESERVED.contains(&handle.as_str()) || handle.starts_with("WF_") || handle.starts_with("LD_") {
                return Err((codes::CONFIG_INVALID, format!(
                    "{key} names {handle}, which wfhost or the runs' shell set themselves (WF_*, LD_*, {}); give the secret another name",
                    RESERVED.join(", ")
                )));
            }
            match self.req.env.get(&handle).filter(|v| !v.is_empty()) {
                Some(value) => self.run_secrets.push((handle, value.clone())),
                None => unset.push(handle),
            }
        }
        if unset.is_empty() {
            return Ok(());
        }
        Err((codes::REQUIRED_VAR_MISSING, format!(
            "{key} names {}, unset in wfhost's environment; export {} before running wfhost, or remove {} from {key}",
            unset.join(", "),
            if unset.len() == 1 { "it" } else { "them" },
            if unset.len() == 1 { "it" } else { "them" }
        )))
    }

    /// Decide SWEEP_FORCE's consent (recorded as `consent.given`, action
    /// `rerun-finished-runs`) when the flow will start a runner; a dry run starts none.
    fn force_consent(&mut self, config: &wfhost_config::config::Config) -> Result<(), String> {
        let starts_runner = self.req.plan.phases().contains(&PhaseId::P60) && self.flags.sweep != Sweep::Skip;
        if !config.flag(keys::SWEEP_FORCE) || config.flag(keys::SWEEP_DRY_RUN) || !starts_runner {
            return Ok(());
        }
        let actor = if self.consent {
            self.consent_actor()
        } else if let (true, Some(confirm)) = (self.req.interactive, &self.req.confirm) {
            confirm
                .ask("SWEEP_FORCE=1 runs the sweep's finished runs again (their earlier files are kept). Go on? [y/N] ")
                .then(|| Actor::new("user", "tty"))
        } else {
            None
        };
        let Some(actor) = actor else {
            return Err("SWEEP_FORCE=1 would run the sweep's finished runs again, but this run has no terminal and no consent (--yes or LIUM_YES=1)".into());
        };
        self.sink.event_as("consent.given", "consent/rerun-finished-runs", json!({"action": "rerun-finished-runs", "basis": keys::SWEEP_FORCE.name()}), actor);
        self.force_consent = true;
        Ok(())
    }

    /// Who gave consent in P00: `--yes`, the TTY or `LIUM_YES=1`; `None` without consent.
    pub(super) fn consent_actor(&self) -> Option<Actor> {
        if !self.consent {
            None
        } else if self.flags.yes {
            Some(Actor::new("policy", "--yes"))
        } else if self.consent_from_tty {
            Some(Actor::new("user", "tty"))
        } else {
            Some(Actor::new("policy", keys::LIUM_YES.name()))
        }
    }

    pub(super) fn provision_needed(&self) -> bool {
        self.flags.provision == Provision::Auto
            && self.explicit_target.is_none()
            && self.req.plan.phases().contains(&PhaseId::P10)
    }
}
