//! The flow engine: runs a [`Plan`]'s phases in order, each judged by the court.
//!
//! Data flow per phase:
//!
//! ```text
//! pre checks ─► run (host code, or the executor component through the gateway)
//!            ─► FSM transition (mirrored to the target) ─► phase.<Pxx>.json
//!            ─► court: deterministic checks + auditors ─► .deterministic/.constitutional/.verdict
//!            ─► PHASE lines on stdout ─► next phase, or halt
//! ```
//!
//! Every decision is appended to `events.jsonl` (fsync'd) before it takes effect; the summary is
//! a projection of those events. The engine never panics on input: config, manifest, plugin and
//! remote problems become phase failures with codes from `constitution/codes.toml`.

use wfhost_config::config::{Config, ConfigLocation};
use crate::court::{self, deterministic, CourtResult};
use wfhost_config::flags::{Flags, Provision, Sweep};
use crate::gateway::{FlowGateway, GatewayShared};
use crate::output::Output;
use wfhost_config::plan::Plan;
use crate::plugins::{self, Plugins};
use crate::sink::Sink;
use crate::types::{Artifact, Kv, PhaseContext, PhaseOutcome, PhaseStatus, PodIdentity};
use crate::{now_rfc3339, now_compact};
use wfhost_config::manifest;
use wfhost_audit::layout::{rel_phase_file, FlowDir, PhaseFile, FSM};
use wfhost_audit::summary;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wfhost_constitution::{codes, keys, Code, Constitution, Phase, PhaseId, Runner};
use wfhost_evidence::Actor;
use wfhost_runtime::TransportError;

/// What to run, and where.
#[derive(Debug, Clone)]
pub struct FlowRequest {
    /// The directory wfhost runs in (config and evidence paths are relative to it).
    pub workdir: PathBuf,
    /// The process environment (only the keys DESIGN.md allows are read from it).
    pub env: BTreeMap<String, String>,
    /// The user's flags.
    pub flags: Flags,
    /// The command.
    pub plan: Plan,
    /// `--target` given to a primitive (an explicit target, like LIUM_TARGET).
    pub target: Option<String>,
    /// Whether a person is at a terminal (stdin and stderr are TTYs): only then may we prompt.
    pub interactive: bool,
    /// How to ask that person a yes/no question (the CLI's terminal prompt); asked only when
    /// `interactive`, and `None` means nobody can be asked.
    pub confirm: Option<Confirm>,
    /// Flag values that did not parse; P00 fails with code 105 naming them.
    pub flag_errors: Vec<String>,
}

/// A yes/no question put to the person at the terminal; the library never reads stdin itself.
#[derive(Clone)]
pub struct Confirm(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for Confirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Confirm(..)")
    }
}

impl Confirm {
    /// Ask `question`; true only for an explicit yes.
    pub fn ask(&self, question: &str) -> bool {
        (self.0)(question)
    }
}

/// How a flow ended.
#[derive(Debug, Clone)]
pub struct FlowReport {
    /// The flow's id.
    pub flow_id: String,
    /// Its evidence directory.
    pub flow_dir: PathBuf,
    /// First failing phase and its code.
    pub first_failure: Option<(String, u16)>,
    /// Process exit status per DESIGN.md (0, 10..50, 70).
    pub exit_status: i32,
}

/// Where the target came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSource {
    /// LIUM_TARGET or `--target`.
    Explicit,
    /// The pod P10 created.
    Autobind,
}

impl TargetSource {
    fn as_str(self) -> &'static str {
        match self {
            TargetSource::Explicit => "explicit",
            TargetSource::Autobind => "autobind",
        }
    }
}

/// The mutable state of one flow.
struct Run<'o> {
    c: &'static Constitution,
    out: &'o Output,
    req: FlowRequest,
    flags: Flags,
    flow_id: String,
    flow_dir: PathBuf,
    sink: Sink,
    config: Option<Config>,
    config_sha_start: String,
    plugins: Option<Plugins>,
    explicit_target: Option<String>,
    target: Option<String>,
    target_source: Option<TargetSource>,
    provisioned: Option<PodIdentity>,
    pod_deleted: bool,
    consent: bool,
    consent_from_tty: bool,
    flag_problems: Vec<String>,
    fsm: String,
    first_failure: Option<(String, u16)>,
    internal_error: Option<String>,
    gateway: Arc<GatewayShared>,
    /// The key that signs verdicts and the flow (`WF_SIGNING_KEY`), once P00 loaded it.
    signer: Option<wfhost_evidence::dsse::Signer>,
}

/// One phase's result before the court.
struct PhaseRun {
    outcome: PhaseOutcome,
    started_at: String,
    duration_ms: u64,
    fsm_before: String,
    fsm_after: String,
    remote_state: Option<Result<String, String>>,
    pre: Vec<deterministic::CheckResult>,
}

/// Run a plan to the end or to its first halt.
pub fn run_flow(req: FlowRequest, out: &Output) -> FlowReport {
    let c = match Constitution::get() {
        Ok(c) => c,
        Err(e) => {
            out.note(&format!("internal error: {e}"));
            return FlowReport {
                flow_id: String::new(),
                flow_dir: PathBuf::new(),
                first_failure: None,
                exit_status: crate::EXIT_INTERNAL,
            };
        }
    };
    let flow_id = crate::new_flow_id();
    let flags = req.plan.flags(req.flags.clone());
    // The config decides where evidence goes; when it cannot be read, evidence still goes to
    // the default place so the failure is recorded.
    let location = ConfigLocation::resolve(&req.workdir, &req.env);
    let loaded = location.as_ref().map_err(Clone::clone).and_then(Config::load);
    let evidence_root = loaded
        .as_ref()
        .ok()
        .and_then(|cfg| cfg.get(keys::WF_FLOW_EVIDENCE_DIR).map(str::to_string))
        .unwrap_or_else(|| crate::DEFAULT_EVIDENCE_DIR.to_string());
    let flow_dir = req.workdir.join(evidence_root).join(&flow_id);
    let sink = match Sink::create(&flow_dir, &flow_id) {
        Ok(s) => s,
        Err(e) => {
            out.note(&format!(
                "cannot write evidence under {}: {e}. Fix the directory's permissions or set \
                 WF_FLOW_EVIDENCE_DIR in the config.",
                flow_dir.display()
            ));
            return FlowReport {
                flow_id,
                flow_dir,
                first_failure: Some((PhaseId::P00.to_string(), codes::CONFIG_MISSING.get())),
                exit_status: crate::EXIT_INTERNAL,
            };
        }
    };
    let gateway = Arc::new(GatewayShared::new(
        flow_id.clone(),
        flow_dir.clone(),
        req.workdir.join(crate::DEFAULT_POD_LOGS_DIR),
        sink.clone(),
        out.clone_handle(),
    ));
    let mut run = Run {
        c,
        out,
        flags,
        flow_id: flow_id.clone(),
        flow_dir: flow_dir.clone(),
        sink,
        config: None,
        config_sha_start: String::new(),
        plugins: None,
        explicit_target: None,
        target: None,
        target_source: None,
        provisioned: None,
        pod_deleted: false,
        consent: false,
        consent_from_tty: false,
        flag_problems: Vec::new(),
        fsm: c.fsm.initial.clone(),
        first_failure: None,
        internal_error: None,
        gateway,
        signer: None,
        req,
    };
    run.flag_problems = run.req.flag_errors.clone();
    run.sink.event(
        "flow.started",
        "flow",
        json!({
            "flow_id": flow_id,
            "command": run.req.plan.name(),
            "flags": pairs_json(&run.flags.to_pairs()),
            "workdir": run.req.workdir.display().to_string(),
            "phases": run.req.plan.phases(),
            "wfhost_version": env!("CARGO_PKG_VERSION"),
        }),
    );
    let phases: Vec<&'static Phase> =
        run.req.plan.phases().iter().filter_map(|id| c.phase(id)).collect();
    let mut halted = false;
    for phase in phases {
        let passed = run.phase(phase, &location, &loaded);
        if let Some(e) = run.sink.error() {
            // Fail closed: a flow that cannot record its decisions must not go on making them.
            out.note(&format!("internal error: {e}; halting (evidence: {})", run.flow_dir.display()));
            run.internal_error = Some(e);
            halted = true;
            break;
        }
        if !passed {
            halted = true;
            break;
        }
    }
    run.finish(halted)
}

impl Run<'_> {
    /// Run one phase and its court. Returns whether the flow may continue.
    fn phase(
        &mut self,
        phase: &'static Phase,
        location: &Result<ConfigLocation, wfhost_config::config::ConfigError>,
        loaded: &Result<Config, wfhost_config::config::ConfigError>,
    ) -> bool {
        let started = Instant::now();
        let started_at = now_rfc3339();
        self.out.begin(&format!("{} {}: {}", phase.id, phase.name, phase.summary));
        self.sink.event("phase.started", &format!("{}/started", phase.id), json!({"phase": phase.id}));
        // A phase the flags skip does nothing, so its preconditions are not asked of it
        // (`--sweep skip` on a pod with nothing checked out is fine).
        let skip = match phase.runner {
            Runner::Plugin => self.skip_reason(phase),
            Runner::Host => None,
        };
        let pre = match skip {
            Some(_) => Vec::new(),
            None => {
                let pre_facts = self.facts(phase, None);
                deterministic::run(self.c, phase, deterministic::Stage::Pre, &phase.pre, &pre_facts)
            }
        };
        self.gateway.begin_phase(phase, self.target.clone(), Duration::from_secs(self.phase_timeout(phase)));
        let outcome = if let Some(skip) = skip {
            PhaseOutcome {
                phase: phase.id.to_string(),
                status: PhaseStatus::Skip,
                code: 0,
                message: skip,
                artifacts: vec![],
                facts: vec![],
                details_json: None,
            }
        } else if let Some(failed) = pre.iter().find(|r| !r.pass) {
            fail(phase, phase.family.court_deterministic_fail(), format!(
                "precondition {} does not hold: {}",
                failed.check, failed.finding
            ))
        } else {
            match phase.runner {
                Runner::Host => self.host_phase(phase, location, loaded),
                Runner::Plugin => self.plugin_phase(phase),
            }
        };
        let outcome = self.enforce_deadline(phase, outcome, started.elapsed());
        // Capabilities whose purpose is spent end with their phase: only P10 creates a pod,
        // and nothing acts on a pod P90 deleted.
        match phase.id {
            PhaseId::P10 => self.gateway.revoke("provision", "P10 ended: no later phase may create a pod"),
            PhaseId::P90 if self.gateway.deleted() => {
                self.gateway.revoke("delete", "the pod was deleted");
                self.gateway.revoke("target", "the pod was deleted");
            }
            _ => {}
        }
        let (fsm_before, fsm_after, remote_state) = self.transition(phase, &outcome);
        self.out.end();
        let run = PhaseRun {
            duration_ms: started.elapsed().as_millis() as u64,
            outcome,
            started_at,
            fsm_before,
            fsm_after,
            remote_state,
            pre,
        };
        self.judge(phase, run)
    }

    /// The phase's budget in seconds: `WF_PHASE_TIMEOUT_<Pxx>`, else its `timeout_secs`. Both
    /// are bounded by the vocabulary's documented max, and every use of the budget saturates,
    /// so no value can overflow a deadline.
    fn phase_timeout(&self, phase: &Phase) -> u64 {
        self.config
            .as_ref()
            .and_then(|c| c.pattern_uint(keys::patterns::WF_PHASE_TIMEOUT, &phase.id))
            .unwrap_or(phase.timeout_secs)
    }

    fn enforce_deadline(&self, phase: &Phase, outcome: PhaseOutcome, took: Duration) -> PhaseOutcome {
        let budget = self.phase_timeout(phase);
        if took.as_secs() >= budget && outcome.status != PhaseStatus::Fail {
            return fail(
                phase,
                phase.family.phase_timeout(),
                format!("{} took {}s, over its {budget}s budget", phase.id, took.as_secs()),
            );
        }
        if self.gateway.deadline_hit() && outcome.status == PhaseStatus::Fail {
            let mut o = outcome;
            o.code = phase.family.phase_timeout().get();
            o.message = format!("{} (the phase's {budget}s budget ran out)", o.message);
            return o;
        }
        outcome
    }

    // ----- host phases -------------------------------------------------------------------

    fn host_phase(
        &mut self,
        phase: &Phase,
        location: &Result<ConfigLocation, wfhost_config::config::ConfigError>,
        loaded: &Result<Config, wfhost_config::config::ConfigError>,
    ) -> PhaseOutcome {
        match phase.id {
            PhaseId::P00 => self.precheck(phase, location, loaded),
            PhaseId::P20 => self.bind(phase),
            PhaseId::P99 => ok(phase, "summary written".into(), vec![]),
            other => fail(phase, phase.family.generic(), format!("no host implementation for {other}")),
        }
    }

    fn header(&self, key: &str, value: &str) {
        self.out.header(key, value);
        self.sink.event("flow.header", &format!("header/{key}"), json!({"key": key, "value": value}));
    }

    fn precheck(
        &mut self,
        phase: &Phase,
        location: &Result<ConfigLocation, wfhost_config::config::ConfigError>,
        loaded: &Result<Config, wfhost_config::config::ConfigError>,
    ) -> PhaseOutcome {
        let config_path = location
            .as_ref()
            .map(|l| l.path().display().to_string())
            .unwrap_or_else(|_| self.req.workdir.join(wfhost_config::CONFIG_REL_PATH).display().to_string());
        let config = match loaded {
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
        for key in config.unknown_keys() {
            self.out.note(&format!(
                "warning: unknown key {key} in {config_path} is kept in evidence but not used"
            ));
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
        self.header("override_enabled", &config.override_enabled().to_string());
        self.header("resolved_target", &target_line);
        self.header(
            "target_source",
            if self.explicit_target.is_some() { "explicit" } else { "autobind" },
        );
        self.header("transport", &transport);
        self.header("remote_env_path", config.value(keys::REMOTE_ENV_PATH));
        self.header("fsm_state_file", &state_file(&config));
        self.header("flow_id", &self.flow_id);
        self.config = Some(config.clone());

        // Required variables (config.toml `required_for`) of the phases this run will execute.
        let mut missing = Vec::new();
        if let Ok(vocab) = wfhost_config::config::Vocabulary::get() {
            for key in &vocab.keys {
                let needed_by: Vec<&str> = key
                    .required_for
                    .iter()
                    .filter(|p| self.phase_needs_inputs(**p))
                    .map(|p| p.as_str())
                    .collect();
                if !needed_by.is_empty() && config.get_by_name(&key.name).is_none_or(str::is_empty) {
                    missing.push(format!("{} (needed by {}: {})", key.name, needed_by.join(", "), key.meaning.trim_end_matches('.')));
                }
            }
        }
        if !self.flag_problems.is_empty() {
            return fail(phase, codes::FLAGS_ILLEGAL, self.flag_problems.join("; "));
        }
        if !missing.is_empty() {
            return fail(phase, codes::REQUIRED_VAR_MISSING, format!("unset in {config_path}: {}", missing.join("; ")));
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
                self.gateway.grant("provision", json!({"ops": ["provision"], "count": 1, "phase": PhaseId::P10}), actor);
            } else {
                return fail(phase, codes::CONSENT_MISSING, "this run would create a pod, but it has no terminal and no consent".into());
            }
        }
        // Plugins: every one the flow will use is loaded now, never half-way through.
        match plugins::load(&self.req.workdir, &config, self.sink.clone(), self.out.clone_handle()) {
            Ok(p) => {
                self.sink.event("plugins.loaded", "plugins", p.describe());
                self.plugins = Some(p);
            }
            Err(e) => return fail(phase, codes::PLUGIN_UNAVAILABLE, e),
        }
        ok(phase, format!("config {} sha256 {}", config_path, config.sha256()), vec![
            kv("config_sha256", config.sha256()),
            kv("transport", &transport),
            kv("consent", &self.consent.to_string()),
        ])
    }

    /// Who gave consent in P00: `--yes`, the TTY or `LIUM_YES=1`; `None` without consent.
    fn consent_actor(&self) -> Option<Actor> {
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

    /// Whether a phase of this plan will run with inputs it needs (not skipped by the flags).
    fn phase_needs_inputs(&self, id: PhaseId) -> bool {
        self.req.plan.phases().contains(&id)
            && match id {
                PhaseId::P10 => self.provision_needed(),
                PhaseId::P50 => self.flags.sweep != Sweep::Skip,
                PhaseId::P60 => self.flags.sweep == Sweep::Start,
                PhaseId::P80 => self.flags.fetch != wfhost_config::flags::Fetch::None,
                _ => true,
            }
    }

    fn provision_needed(&self) -> bool {
        self.flags.provision == Provision::Auto
            && self.explicit_target.is_none()
            && self.req.plan.phases().contains(&PhaseId::P10)
    }

    fn bind(&mut self, phase: &Phase) -> PhaseOutcome {
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
        self.gateway.grant(
            "target",
            json!({"target": target, "source": source.as_str(), "ops": ["pod-status", "resolve-path", "exec", "put-file", "get-file", "fetch-dir"]}),
            Actor::new("policy", "law-3-target-lock"),
        );
        ok(phase, format!("bound to {target} ({})", source.as_str()), vec![
            kv("target", &target),
            kv("target_source", source.as_str()),
        ])
    }

    // ----- plugin phases -----------------------------------------------------------------

    fn plugin_phase(&mut self, phase: &Phase) -> PhaseOutcome {
        let Some(plugins) = &self.plugins else {
            return fail(phase, codes::PLUGIN_UNAVAILABLE, "plugins were not loaded in P00".into());
        };
        // (Phases the flags skip never get here: `phase` decides that before the preconditions.)
        let inputs = match self.inputs(phase) {
            Ok(i) => i,
            Err((code, message)) => return fail(phase, code, message),
        };
        let config = self.config.as_ref().map(|c| c.public_entries()).unwrap_or_default();
        let ctx = PhaseContext {
            flow_id: self.flow_id.clone(),
            phase: phase.id.to_string(),
            flow_flags: self.flags.to_pairs().into_iter().map(|(k, v)| Kv { key: k, value: v }).collect(),
            config: config.into_iter().map(|(k, v)| Kv { key: k, value: v }).collect(),
            target: self.target.clone(),
            fsm_state: self.fsm.clone(),
            inputs: inputs.into_iter().map(|(k, v)| Kv { key: k, value: v }).collect(),
        };
        if phase.id == PhaseId::P90 && self.flags.teardown == wfhost_config::flags::Teardown::Delete {
            if let Some(t) = &self.target {
                let actor = Actor::new("policy", "--teardown=delete");
                self.sink.event_as("consent.given", "consent/delete-pod", json!({
                    "action": "delete-pod", "target": t, "basis": "--teardown delete",
                }), actor.clone());
                self.gateway.grant("delete", json!({"target": t, "ops": ["delete-pod"], "phase": PhaseId::P90}), actor);
            }
        }
        let host = FlowGateway::new(self.gateway.clone(), plugins.transport.clone(), self.flags.clone(), self.consent);
        let wall = Duration::from_secs(self.phase_timeout(phase));
        let mut outcome = match plugins.executor.run_phase(ctx, host, wall) {
            Ok(o) => o,
            Err(e) => fail(phase, phase.family.generic(), format!("the phase executor failed: {e}")),
        };
        outcome.phase = phase.id.to_string();
        if phase.id == PhaseId::P10 && outcome.status == PhaseStatus::Ok {
            self.provisioned = self.gateway.provisioned();
        }
        if phase.id == PhaseId::P90 && outcome.status == PhaseStatus::Ok {
            self.pod_deleted = self.gateway.deleted();
        }
        outcome
    }

    fn skip_reason(&self, phase: &Phase) -> Option<String> {
        let cfg = self.config.as_ref();
        match phase.id {
            PhaseId::P10 if self.flags.provision == Provision::Skip => Some("--provision skip".into()),
            PhaseId::P10 if self.explicit_target.is_some() => Some("an explicit target is set; nothing to provision".into()),
            PhaseId::P50 if self.flags.sweep == Sweep::Skip && cfg.and_then(|c| c.get(keys::REPO_URL)).is_none_or(str::is_empty) => {
                Some("--sweep skip and no REPO_URL".into())
            }
            PhaseId::P60 if self.flags.sweep == Sweep::Skip => Some("--sweep skip".into()),
            PhaseId::P80 if self.flags.fetch == wfhost_config::flags::Fetch::None => Some("--fetch none".into()),
            _ => None,
        }
    }

    /// Inputs the host prepares for an executor: files only the host may read.
    fn inputs(&self, phase: &Phase) -> Result<Vec<(String, String)>, (Code, String)> {
        let Some(cfg) = self.config.as_ref() else { return Ok(vec![]) };
        let mut v = vec![("ts".to_string(), now_compact()), ("flow_id".to_string(), self.flow_id.clone())];
        match phase.id {
            PhaseId::P40 => {
                v.push(("config_text".into(), cfg.redacted_text()));
                if let Some(script) = cfg.get(keys::BOOTSTRAP_SCRIPT).filter(|s| !s.is_empty()) {
                    let path = self.req.workdir.join(script);
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        (codes::BOOTSTRAP_FAILED, format!("BOOTSTRAP_SCRIPT {} cannot be read: {e}", path.display()))
                    })?;
                    v.push(("bootstrap_script".into(), text));
                }
            }
            PhaseId::P50 => {
                let url = cfg.value(keys::REPO_URL);
                v.push(("repo_url".into(), crate::absolutize_repo_url(&self.req.workdir, url)));
            }
            PhaseId::P60 if self.flags.sweep == Sweep::Start => {
                let rel = cfg.value(keys::SWEEP_MANIFEST);
                let path = self.req.workdir.join(rel);
                let bytes = std::fs::read(&path).map_err(|e| {
                    (manifest::CODE, format!("SWEEP_MANIFEST {} cannot be read: {e}", path.display()))
                })?;
                let m = manifest::Manifest::parse(&bytes, &path.display().to_string())
                    .map_err(|e| (e.code(), e.to_string()))?;
                let runs = manifest::plan(&m, &manifest::PlanOptions::from_config(cfg))
                    .map_err(|e| (e.code(), e.to_string()))?;
                let runs_json: Vec<Value> =
                    runs.iter().map(|r| json!({"run_id": r.run_id, "command": r.command})).collect();
                v.push(("manifest_csv".into(), String::from_utf8_lossy(&bytes).into_owned()));
                v.push(("manifest_sha256".into(), m.sha256.clone()));
                v.push(("runs_json".into(), Value::Array(runs_json).to_string()));
                v.push(("config_text".into(), cfg.redacted_text()));
            }
            PhaseId::P60 => v.push(("config_text".into(), cfg.redacted_text())),
            _ => {}
        }
        Ok(v)
    }

    // ----- FSM ---------------------------------------------------------------------------

    fn state_file(&self) -> String {
        let outputs = self.config.as_ref().map(|c| c.value(keys::OPS_REMOTE_OUTPUTS_DIR));
        state_file_under(outputs.or(keys::OPS_REMOTE_OUTPUTS_DIR.default()).unwrap_or_default())
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
        self.sink.event("fsm.loaded", "fsm/loaded", json!({"state": self.fsm, "file": self.state_file()}));
        Ok(())
    }

    /// Apply the phase's FSM transition: returns (before, after, what the remote file holds).
    fn transition(&mut self, phase: &Phase, outcome: &PhaseOutcome) -> (String, String, Option<Result<String, String>>) {
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
        let reason = format!("{} {} code {}", phase.id, status_str(outcome.status), outcome.code);
        let updated_at = now_rfc3339();
        let host = crate::hostname();
        self.sink.event("fsm.transition", &format!("{}/fsm", phase.id), json!({
            "from": before, "to": next, "phase": phase.id, "code": outcome.code,
            "reason": reason, "updated_at": updated_at, "host": host,
        }));
        let state = json!({
            "state": next,
            "previous_state": before,
            "reason": reason,
            "updated_at": updated_at,
            "host": host,
            "flow_id": self.flow_id,
            "phase": phase.id,
        });
        self.write_evidence(FSM, &FlowDir::new(&self.flow_dir).fsm(), &state);
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

    // ----- the court ---------------------------------------------------------------------

    fn facts(&self, phase: &Phase, run: Option<(&PhaseRun, Result<(), String>)>) -> deterministic::Facts {
        let config_sha_now = match (&self.config, phase.id.as_str()) {
            (Some(c), _) => c.rehash().ok(),
            (None, _) => None,
        };
        let mut f = deterministic::Facts {
            config_sha_start: self.config_sha_start.clone(),
            config_sha_now,
            court_enforce: self.config.as_ref().and_then(|c| c.get(keys::WF_PHASE_COURT_ENFORCE)).map(str::to_string),
            flag_problems: self.flag_problems.clone(),
            provision_needed: self.provision_needed(),
            consent: self.consent,
            bound_target: self.target.clone(),
            drift: self.gateway.drift(),
            refused: self.gateway.refused(),
            fsm_before: self.fsm.clone(),
            fsm_after: self.fsm.clone(),
            flags: self.flags.clone(),
            ..Default::default()
        };
        if let Some((run, recorded)) = run {
            f.outcome_recorded = Some(recorded);
            f.status = status_str(run.outcome.status).to_string();
            f.code = run.outcome.code;
            f.outcome_facts = run.outcome.facts.iter().map(|k| (k.key.clone(), k.value.clone())).collect();
            f.fsm_before = run.fsm_before.clone();
            f.fsm_after = run.fsm_after.clone();
            f.remote_state = run.remote_state.clone();
            f.artifacts = run
                .outcome
                .artifacts
                .iter()
                .map(|a| (a.name.clone(), artifact_problem(a)))
                .collect();
        }
        f
    }

    fn judge(&mut self, phase: &Phase, run: PhaseRun) -> bool {
        let fd = FlowDir::new(&self.flow_dir);
        let rel = |kind: PhaseFile| rel_phase_file(&phase.id, kind);
        let path = |kind: PhaseFile| fd.phase_file(&phase.id, kind);
        let outcome_json = json!({
            "phase": phase.id,
            "name": phase.name,
            "status": status_str(run.outcome.status),
            "code": run.outcome.code,
            "message": run.outcome.message,
            "started_at": run.started_at,
            "duration_ms": run.duration_ms,
            "target": self.target,
            "fsm_before": run.fsm_before,
            "fsm_after": run.fsm_after,
            "facts": run.outcome.facts.iter().map(|k| (k.key.clone(), Value::String(k.value.clone()))).collect::<serde_json::Map<_, _>>(),
            "artifacts": run.outcome.artifacts,
            "details": run.outcome.details_json.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
            "process_ms": self.gateway.process_ms(),
            "gateway_ms": self.gateway.calls().iter().filter_map(|c| c.get("duration_ms").and_then(Value::as_u64)).sum::<u64>(),
            "gateway_calls": self.gateway.calls(),
        });
        let outcome_path = path(PhaseFile::Outcome);
        let recorded = wfhost_audit::layout::write_json(&outcome_path, &outcome_json)
            .and_then(|_| wfhost_audit::layout::read_json(&outcome_path).map(|_| ()))
            .map_err(|e| e.to_string());
        self.sink.event("phase.outcome", &format!("{}/outcome", phase.id), outcome_json.clone());
        self.out.phase(&phase.id, status_str(run.outcome.status), run.outcome.code, &outcome_path.display().to_string());

        let court_started = Instant::now();
        let facts = self.facts(phase, Some((&run, recorded)));
        let mut checks = run.pre.clone();
        checks.extend(deterministic::run(self.c, phase, deterministic::Stage::Post, &phase.post, &facts));
        // A failed phase is never judged as passing: its own outcome failure is a finding.
        let det_pass = checks.iter().all(|r| r.pass) && run.outcome.status != PhaseStatus::Fail;
        let det_json = json!({"phase": phase.id, "pass": det_pass, "checks": checks});
        self.write_evidence(&rel(PhaseFile::Deterministic), &path(PhaseFile::Deterministic), &det_json);
        self.sink.event("court.deterministic", &format!("{}/deterministic", phase.id), det_json);

        let pack = court::evidence_pack(court::PackInput {
            c: self.c,
            phase,
            flow_id: &self.flow_id,
            config: self.config.as_ref(),
            config_sha_start: &self.config_sha_start,
            config_sha_now: facts.config_sha_now.as_deref(),
            transport: self.plugins.as_ref().map(|p| p.transport_id.clone()).unwrap_or_default(),
            bound_target: self.target.clone(),
            phase_target: self.gateway.phase_target().or(self.target.clone()),
            target_source: self.target_source.map(TargetSource::as_str).unwrap_or("pending"),
            outcome: &run.outcome,
            flags: &self.flags,
            consent: self.consent,
            fsm_before: &run.fsm_before,
            fsm_after: &run.fsm_after,
            det_pass,
            findings: checks.iter().filter(|r| !r.pass).map(|r| format!("{}: {}", r.check, r.finding)).collect(),
        });
        let pack_sha256 = match serde_json::to_value(&pack) {
            Ok(v) => self.write_evidence(&rel(PhaseFile::Pack), &path(PhaseFile::Pack), &v),
            Err(e) => {
                self.sink.file_failed(&rel(PhaseFile::Pack), &e);
                None
            }
        };
        let constitutional = match &self.plugins {
            Some(p) => court::constitutional(self.c, phase, &pack, p, &self.flow_dir),
            None => court::constitutional_without_plugins(self.c, phase, &pack, &self.flow_dir),
        };
        let mut const_json = constitutional.to_json(&phase.id);
        if let (Some(sha), Some(obj)) = (&pack_sha256, const_json.as_object_mut()) {
            obj.insert("pack_sha256".into(), Value::String(sha.clone()));
        }
        self.write_evidence(&rel(PhaseFile::Constitutional), &path(PhaseFile::Constitutional), &const_json);
        self.sink.event("court.auditor", &format!("{}/constitutional", phase.id), const_json);

        let result = CourtResult::merge(det_pass, &constitutional);
        let code = if run.outcome.status == PhaseStatus::Fail {
            run.outcome.code
        } else if !det_pass {
            // The first failed check that names its own code (checks.toml) gives it.
            checks
                .iter()
                .filter(|r| !r.pass)
                .find_map(|r| self.c.checks.get(&r.check).and_then(|k| k.code))
                .unwrap_or_else(|| phase.family.court_deterministic_fail().get())
        } else if !result.pass {
            phase.family.court_auditor_fail().get()
        } else {
            0
        };
        let halt_reason = if result.pass {
            None
        } else if run.outcome.status == PhaseStatus::Fail {
            Some(format!("{} failed: {}", phase.id, run.outcome.message))
        } else if !det_pass {
            Some(format!(
                "deterministic validator rejected {}: {}",
                phase.id,
                checks.iter().filter(|r| !r.pass).map(|r| format!("{} ({})", r.check, r.finding)).collect::<Vec<_>>().join("; ")
            ))
        } else {
            Some(format!("auditors did not pass {}: {}", phase.id, constitutional.reasons().join("; ")))
        };
        let next = if result.pass { None } else { Some(self.next_command(code)) };
        // Laws broken: those of every failed check (checks.toml names each check's law), then
        // the auditors'.
        let mut violated: Vec<String> = Vec::new();
        let check_laws = checks.iter().filter(|r| !r.pass).filter_map(|r| self.c.checks.get(&r.check).map(|k| k.law.clone()));
        for law in check_laws.chain(constitutional.violated_laws()) {
            if !violated.contains(&law) {
                violated.push(law);
            }
        }
        let verdict_path = path(PhaseFile::Verdict);
        let verdict = json!({
            "phase": phase.id,
            "court": if result.pass { "pass" } else { "fail" },
            "deterministic": if det_pass { "pass" } else { "fail" },
            "constitutional": constitutional.status_str(),
            "code": code,
            "halt_reason": halt_reason,
            "violated_laws": violated,
            "next_command": next,
            "court_ms": court_started.elapsed().as_millis() as u64,
            "evidence": {
                "outcome": rel(PhaseFile::Outcome),
                "deterministic": rel(PhaseFile::Deterministic),
                "constitutional": rel(PhaseFile::Constitutional),
            },
        });
        self.write_evidence(&rel(PhaseFile::Verdict), &verdict_path, &verdict);
        self.sink.event("court.verdict", &format!("{}/verdict", phase.id), verdict);
        if let Some(signer) = &self.signer {
            if let Err(e) = wfhost_audit::signing::sign_verdict(signer, &self.flow_dir, &phase.id) {
                self.sink.file_failed(&rel(PhaseFile::VerdictEnvelope), &e);
            }
        }
        self.out.court(
            &phase.id,
            if result.pass { "pass" } else { "fail" },
            if det_pass { "pass" } else { "fail" },
            constitutional.status_str(),
            &verdict_path.display().to_string(),
        );
        if !result.pass {
            self.first_failure = Some((phase.id.to_string(), code));
            if let Some(reason) = &halt_reason {
                self.out.note(&format!("halted at {} (code {code}): {reason}", phase.id));
            }
        }
        result.pass
    }

    /// Write an evidence file; a failure is remembered by the sink, and the flow halts after
    /// this phase (fail-closed). Returns the file's sha256.
    fn write_evidence(&self, what: &str, path: &Path, value: &Value) -> Option<String> {
        match wfhost_audit::layout::write_json(path, value) {
            Ok(sha) => Some(sha),
            Err(e) => {
                self.sink.file_failed(&format!("{what} ({})", path.display()), &e);
                None
            }
        }
    }

    fn next_command(&self, code: u16) -> String {
        let target = self.target.clone().or_else(|| self.explicit_target.clone()).unwrap_or_else(|| "<target>".into());
        self.c
            .code(code)
            .map(|c| c.next.replace("{flow_dir}", &self.flow_dir.display().to_string()).replace("{target}", &target))
            .unwrap_or_else(|| format!("wfhost explain {}", self.flow_dir.display()))
    }

    // ----- the end -----------------------------------------------------------------------

    fn pod_line(&self) -> (String, Option<String>) {
        if self.first_failure.as_ref().map(|f| f.1) == Some(codes::POD_VANISHED_2XX.get()) {
            return ("vanished (the target does not exist)".into(), None);
        }
        match (&self.target, self.pod_deleted) {
            (_, true) => ("deleted".into(), None),
            // Only a pod this flow created is ours to suggest deleting; an explicit target (an
            // ssh host, a pod from an earlier flow) was there before and stays the user's call.
            (Some(t), false) if self.provisioned.is_some() => {
                ("running (created by this flow)".into(), Some(format!("wfhost pod-delete --target {t} --yes")))
            }
            (Some(_), false) => ("running (explicit target, left as it was)".into(), None),
            (None, false) => match &self.provisioned {
                Some(p) => ("running (created by this flow, not bound)".into(), Some(format!("wfhost pod-delete --target {} --yes", p.target))),
                None => ("none".into(), None),
            },
        }
    }

    fn finish(self, halted: bool) -> FlowReport {
        let (pod_state, delete_cmd) = self.pod_line();
        let exit_status = match &self.first_failure {
            _ if self.internal_error.is_some() => crate::EXIT_INTERNAL,
            None => 0,
            Some((_, code)) => Code::from_u16(*code).map(|c| c.family().exit_status()).unwrap_or(crate::EXIT_INTERNAL),
        };
        if halted {
            self.sink.event("flow.halted", "flow/halted", json!({
                "phase": self.first_failure.as_ref().map(|f| f.0.clone()),
                "code": self.first_failure.as_ref().map(|f| f.1),
            }));
        }
        self.gateway.expire_all(if halted { "flow halted" } else { "flow finished" });
        self.sink.event("flow.summary", "flow/summary", json!({
            "verdict": if halted { "halted" } else { "pass" },
            "first_failure_phase": self.first_failure.as_ref().map(|f| f.0.clone()),
            "first_failure_code": self.first_failure.as_ref().map(|f| f.1),
            "exit_status": exit_status,
            "target": self.target,
            "target_source": self.target_source.map(TargetSource::as_str),
            "pod_state": pod_state,
            "delete_command": delete_cmd,
            "fsm_state": self.fsm,
        }));
        match summary::write(&self.flow_dir) {
            Ok(_) => {}
            Err(e) => self.out.note(&format!("warning: could not write flow.summary.json: {e}")),
        }
        if let Some(signer) = &self.signer {
            let records = self.sink.records();
            if let Err(e) = wfhost_audit::signing::sign_flow(signer, &self.flow_dir, &self.flow_id, i32::from(exit_status), records) {
                self.out.note(&format!("warning: could not sign the flow ({e}); `wfhost verify` will report flow.dsse.json missing"));
            }
        }
        let last = match (&self.first_failure, &delete_cmd) {
            (Some((p, code)), Some(cmd)) => format!("halted at {p} with code {code}; pod {} is {pod_state}; delete it with: {cmd}", self.target.clone().unwrap_or_default()),
            (Some((p, code)), None) if self.target.is_some() && !self.pod_deleted => {
                format!("halted at {p} with code {code}; target {} is {pod_state}", self.target.clone().unwrap_or_default())
            }
            (Some((p, code)), None) => format!("halted at {p} with code {code}; no pod is running ({pod_state})"),
            (None, Some(cmd)) => format!("flow passed; pod {} is {pod_state}; delete it with: {cmd}", self.target.clone().unwrap_or_default()),
            (None, None) => format!("flow passed; pod: {pod_state}"),
        };
        self.out.note(&format!("{last} (evidence: {})", self.flow_dir.display()));
        FlowReport { flow_id: self.flow_id, flow_dir: self.flow_dir, first_failure: self.first_failure, exit_status }
    }
}

fn artifact_problem(a: &Artifact) -> Option<String> {
    let path = Path::new(&a.path);
    if !path.is_absolute() {
        return None; // A remote path: the phase's own checks cover it.
    }
    match std::fs::read(path) {
        Err(e) => Some(format!("{} unreadable: {e}", a.path)),
        Ok(bytes) => match &a.sha256 {
            Some(want) if *want != wfhost_evidence::hash::sha256_hex(&bytes) => Some(format!("{} sha256 mismatch", a.path)),
            _ => None,
        },
    }
}

fn is_failure(c: &Constitution, state: &str) -> bool {
    c.fsm.states.iter().any(|s| s.name == state && s.failure)
}

pub(crate) fn status_str(s: PhaseStatus) -> &'static str {
    match s {
        PhaseStatus::Ok => "ok",
        PhaseStatus::Skip => "skip",
        PhaseStatus::Fail => "fail",
    }
}

fn kv(k: &str, v: &str) -> Kv {
    Kv { key: k.to_string(), value: v.to_string() }
}

fn ok(phase: &Phase, message: String, facts: Vec<Kv>) -> PhaseOutcome {
    PhaseOutcome { phase: phase.id.to_string(), status: PhaseStatus::Ok, code: 0, message, artifacts: vec![], facts, details_json: None }
}

fn fail(phase: &Phase, code: Code, message: String) -> PhaseOutcome {
    PhaseOutcome { phase: phase.id.to_string(), status: PhaseStatus::Fail, code: code.get(), message, artifacts: vec![], facts: vec![], details_json: None }
}

/// The remote FSM state file of a config: `_control/workflow_state.json` under
/// `OPS_REMOTE_OUTPUTS_DIR`.
pub(crate) fn state_file(config: &Config) -> String {
    state_file_under(config.value(keys::OPS_REMOTE_OUTPUTS_DIR))
}

fn state_file_under(outputs: &str) -> String {
    format!("{}/_control/workflow_state.json", outputs.trim_end_matches('/'))
}

fn pairs_json(p: &[(String, String)]) -> Value {
    Value::Object(p.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}
