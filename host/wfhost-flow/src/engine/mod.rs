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
//!
//! Submodules: [`units`] (the host side of each phase: skip rule, required inputs, grants,
//! what it takes afterwards), `precheck` (P00), `bind` (P20), `fsm_mirror` (transitions) and
//! `judge` (the court on a phase, and its verdict).

mod bind;
mod judge;
mod fsm_mirror;
mod precheck;
mod units;

use crate::court::deterministic;
use crate::gateway::{FlowGateway, GatewayShared};
use crate::output::Output;
use crate::plugins::Plugins;
use crate::sink::Sink;
use crate::types::{Kv, PhaseContext, PhaseOutcome, PhaseStatus, PodIdentity};
use crate::{now_compact, now_rfc3339};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wfhost_audit::decision;
use wfhost_audit::records::{self, FlowHalted, FlowStarted, FlowSummaryRecord, FlowVerdict, HaltCause, PhaseStarted};
use wfhost_audit::summary;
use wfhost_config::config::{Config, ConfigError, ConfigLocation};
use wfhost_config::flags::Flags;
use wfhost_config::flags::Sweep;
use wfhost_config::plan::Plan;
use wfhost_runtime::interrupt;
use wfhost_constitution::{codes, keys, Code, Constitution, Phase, PhaseId, Runner};

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
    /// The bound target's lock (`crate::target_lock`), held until the flow ends.
    target_lock: Option<crate::target_lock::TargetLock>,
    /// The target as the records bind it: P20's recorded outcome (a bind whose outcome could
    /// not be recorded is not in the evidence, and the summary follows the evidence).
    recorded_target: Option<String>,
    target_source: Option<TargetSource>,
    provisioned: Option<PodIdentity>,
    pod_deleted: bool,
    consent: bool,
    consent_from_tty: bool,
    flag_problems: Vec<String>,
    /// Where the config is, and the config as loaded (P00 judges both).
    location: Result<ConfigLocation, ConfigError>,
    loaded: Result<Config, ConfigError>,
    fsm: String,
    first_failure: Option<(String, u16)>,
    internal_error: Option<String>,
    /// The signal that stopped the flow (`wfhost_runtime::interrupt`), and the phase it came in.
    interrupted: Option<(&'static str, Option<PhaseId>)>,
    /// The last phase that started.
    last_started: Option<PhaseId>,
    gateway: Arc<GatewayShared>,
    /// The key that signs verdicts and the flow (`WF_SIGNING_KEY`), once P00 loaded it.
    signer: Option<wfhost_evidence::dsse::Signer>,
    /// SWEEP_FORCE=1 has the consent P00 recorded: P60 may run finished runs again.
    force_consent: bool,
    /// WF_RUN_SECRETS as P00 read them from the process environment: (handle, value), held
    /// here only and written to the target by P60 for the runs.
    run_secrets: Vec<(String, String)>,
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
                "cannot write evidence under {}: {e}; {}, or set WF_FLOW_EVIDENCE_DIR in the config to another directory",
                flow_dir.display(),
                e.advice()
            ));
            out.halt(HaltCause::Internal.as_str(), crate::EXIT_INTERNAL);
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
        target_lock: None,
        recorded_target: None,
        target_source: None,
        provisioned: None,
        pod_deleted: false,
        consent: false,
        consent_from_tty: false,
        flag_problems: Vec::new(),
        location,
        loaded,
        fsm: c.fsm.initial.clone(),
        first_failure: None,
        internal_error: None,
        interrupted: None,
        last_started: None,
        gateway,
        signer: None,
        force_consent: false,
        run_secrets: Vec::new(),
        req,
    };
    run.flag_problems = run.req.flag_errors.clone();
    let started = FlowStarted {
        flow_id: flow_id.clone(),
        command: run.req.plan.name().to_string(),
        flags: run.flags.to_pairs().into_iter().collect(),
        workdir: run.req.workdir.display().to_string(),
        phases: run.req.plan.phases().iter().map(|p| p.to_string()).collect(),
        wfhost_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    run.sink.event(records::FLOW_STARTED, "flow", records::to_value(&started));
    let phases: Vec<&'static Phase> =
        run.req.plan.phases().iter().filter_map(|id| c.phase(id)).collect();
    let mut halted = false;
    for phase in phases {
        if let Some(signal) = interrupt::received() {
            run.interrupted = Some((signal, None));
            halted = true;
            break;
        }
        let passed = run.phase(phase);
        if let Some(e) = run.sink.error() {
            // Fail closed: a flow that cannot record its decisions must not go on making them.
            out.note(&format!("internal error: {e}; halting"));
            run.internal_error = Some(e);
            halted = true;
            break;
        }
        if let Some(signal) = interrupt::received() {
            // The phase was cut short (its processes stopped): it is not judged.
            run.interrupted = Some((signal, Some(phase.id)));
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
    fn phase(&mut self, phase: &'static Phase) -> bool {
        let unit = units::unit(phase.id);
        let started = Instant::now();
        self.last_started = Some(phase.id);
        let started_at = now_rfc3339();
        self.out.begin(&format!("{} {}: {}", phase.id, phase.name, phase.summary));
        self.sink.event(records::PHASE_STARTED, &format!("{}/started", phase.id), records::to_value(&PhaseStarted { phase: phase.id.to_string() }));
        // A phase the flags skip does nothing, so its preconditions are not asked of it
        // (`--sweep skip` on a pod with nothing checked out is fine).
        let skip = match phase.runner {
            Runner::Plugin => unit.skip(self),
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
                Runner::Host => unit.host(self, phase),
                Runner::Plugin => self.plugin_phase(phase, unit),
            }
        };
        if interrupt::received().is_some() {
            // A signal stopped the phase: what it did is in the gateway's records; it is
            // neither judged nor moved in the FSM (the interruption is not the phase's failure).
            unit.after(self, &outcome);
            self.out.end();
            return false;
        }
        let outcome = self.enforce_deadline(phase, outcome, started.elapsed());
        unit.after(self, &outcome);
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
            .and_then(|c| c.pattern_uint(keys::patterns::WF_PHASE_TIMEOUT, phase.id.as_str()))
            .unwrap_or(phase.timeout_secs)
    }

    /// A phase that used up its budget failed by its timeout, whatever stopped it: the
    /// executor trapped at its deadline, a gateway call was cut short, or it finished late. Its
    /// code is the family's PHASE_TIMEOUT, never the code of what the cut-off left behind.
    fn enforce_deadline(&self, phase: &Phase, outcome: PhaseOutcome, took: Duration) -> PhaseOutcome {
        let budget = self.phase_timeout(phase);
        let key = keys::patterns::WF_PHASE_TIMEOUT.key(phase.id.as_str());
        if took.as_secs() >= budget {
            let what = match outcome.status {
                PhaseStatus::Fail => format!(" and was stopped ({})", outcome.message),
                _ => String::new(),
            };
            return fail(
                phase,
                phase.family.phase_timeout(),
                format!("{} took {}s, over its {budget}s budget{what}; raise {key} if it needs longer", phase.id, took.as_secs()),
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

    /// Run a phase's executor through the gateway, with the inputs and grants its unit gives.
    fn plugin_phase(&mut self, phase: &Phase, unit: &dyn units::Unit) -> PhaseOutcome {
        let Some(plugins) = &self.plugins else {
            return fail(phase, codes::PLUGIN_UNAVAILABLE, "plugins were not loaded in P00".into());
        };
        // (Phases the flags skip never get here: `phase` decides that before the preconditions.)
        let mut inputs = vec![("ts".to_string(), now_compact()), ("flow_id".to_string(), self.flow_id.clone())];
        if let Some(config) = &self.config {
            if let Err((code, message)) = unit.inputs(self, config, &mut inputs) {
                return fail(phase, code, message);
            }
        }
        let config = self.config.as_ref().map(|c| c.public_entries()).unwrap_or_default();
        let ctx = PhaseContext {
            flow_id: self.flow_id.clone(),
            phase: phase.id.to_string(),
            flow_flags: crate::court::wit_flags(&self.flags),
            config: config.into_iter().map(|(k, v)| Kv { key: k, value: v }).collect(),
            target: self.target.clone(),
            fsm_state: self.fsm.clone(),
            inputs: inputs.into_iter().map(|(k, v)| Kv { key: k, value: v }).collect(),
        };
        unit.grants(self, phase);
        let host = FlowGateway::new(self.gateway.clone(), plugins.transport.clone());
        if let Err((code, message)) = unit.deliver(self, &host) {
            return fail(phase, code, message);
        }
        let wall = Duration::from_secs(self.phase_timeout(phase));
        let mut outcome = match plugins.executor.run_phase(ctx, host, wall) {
            Ok(o) => o,
            Err(e) => fail(phase, phase.family.generic(), format!("the phase executor failed: {e}")),
        };
        outcome.phase = phase.id.to_string();
        outcome
    }

    /// Whether phase `id` of this plan will do its work (not skipped by the flags), so the
    /// config keys it requires must be set.
    fn will_work(&self, id: PhaseId) -> bool {
        self.req.plan.phases().contains(&id) && units::unit(id).will_work(self)
    }

    // ----- the end -----------------------------------------------------------------------

    fn pod_line(&self) -> (String, Option<String>) {
        if self.first_failure.as_ref().map(|f| f.1) == Some(codes::POD_VANISHED_2XX.get()) {
            return ("vanished (the target does not exist)".into(), None);
        }
        // Where a pod this flow created is, in the transport's words (its `location`: a
        // directory, a node and when the provider removes the pod by itself, ...).
        let at = |p: &PodIdentity| if p.location.trim().is_empty() { String::new() } else { format!(": {}", p.location.trim()) };
        match (&self.target, self.pod_deleted, &self.provisioned) {
            (_, true, _) => ("deleted".into(), None),
            // Only a pod this flow created is ours to suggest deleting; an explicit target (an
            // ssh host, a pod from an earlier flow) was there before and stays the user's call.
            (Some(t), false, Some(p)) => (format!("running (created by this flow{})", at(p)), Some(format!("wfhost pod-delete --target {t} --yes"))),
            (Some(_), false, None) => ("running (explicit target, left as it was)".into(), None),
            (None, false, Some(p)) => (format!("running (created by this flow, not bound{})", at(p)), Some(format!("wfhost pod-delete --target {} --yes", p.target))),
            (None, false, None) => ("none".into(), None),
        }
    }

    /// Why the flow stops, as things stand: an evidence failure outranks the court.
    fn halt_cause(&self) -> HaltCause {
        if self.internal_error.is_some() {
            HaltCause::Internal
        } else if self.interrupted.is_some() {
            HaltCause::Interrupted
        } else {
            HaltCause::Court
        }
    }

    /// How the interruption is told: the signal and the phase it cut short.
    fn interruption(&self) -> Option<String> {
        self.interrupted.map(|(signal, phase)| match phase {
            Some(p) => format!("interrupted by {signal} during {p}, which was not judged"),
            None => format!("interrupted by {signal} between phases"),
        })
    }

    /// The command that takes up where an interrupted flow stopped: the same command, on the
    /// pod it already has, resuming the sweep once it was started.
    fn resume_command(&self) -> String {
        let pod = self.target.clone().or_else(|| self.provisioned.as_ref().map(|p| p.target.clone()));
        if self.req.plan != Plan::Flow {
            let target = pod.map(|t| format!(" --target {t}")).unwrap_or_default();
            return match &self.req.plan {
                Plan::Task(t) => format!("wfhost {}", t.follow_up()),
                plan => format!("wfhost {}{target}", plan.name()),
            };
        }
        let f = &self.flags;
        let on_pod = pod.is_some();
        let provision = if on_pod { "skip".to_string() } else { f.provision.to_string() };
        let sweep_began = self.last_started.is_some_and(|p| p >= PhaseId::P60);
        let sweep = if sweep_began && f.sweep != Sweep::Skip { "resume".to_string() } else { f.sweep.to_string() };
        let mut cmd = format!("wfhost flow --provision {provision} --sweep {sweep} --wait {} --fetch {} --teardown {}", f.wait, f.fetch, f.teardown);
        if !on_pod && f.yes {
            cmd.push_str(" --yes");
        }
        match (&pod, &self.explicit_target) {
            (Some(p), None) => format!("set LIUM_TARGET={p} in the config, then: {cmd}"),
            _ => cmd,
        }
    }

    fn halted_record(&self, cause: HaltCause) -> FlowHalted {
        FlowHalted {
            phase: self.first_failure.as_ref().map(|f| f.0.clone()),
            code: self.first_failure.as_ref().map(|f| f.1),
            cause: Some(cause),
            reason: match cause {
                HaltCause::Internal => self.internal_error.clone(),
                HaltCause::Interrupted => self.interruption(),
                HaltCause::Court => None,
            },
            signal: match cause {
                HaltCause::Interrupted => self.interrupted.map(|(signal, _)| signal.to_string()),
                _ => None,
            },
        }
    }

    fn finish(mut self, halted: bool) -> FlowReport {
        let (pod_state, delete_cmd) = self.pod_line();
        // The last records and the summary use the space held in reserve.
        self.sink.release_reserve();
        let mut cause = halted.then(|| self.halt_cause());
        if let Some(cause) = cause {
            self.sink.event(records::FLOW_HALTED, "flow/halted", records::to_value(&self.halted_record(cause)));
        }
        self.gateway.expire_all(if halted { "flow halted" } else { "flow finished" });
        // A record that could not be written just now still halts the flow as internal; the
        // halt is recorded again with that cause, which the summary's exit status follows.
        if let (Some(e), false) = (self.sink.error(), cause == Some(HaltCause::Internal)) {
            self.internal_error = Some(e);
            cause = Some(HaltCause::Internal);
            self.sink.event(records::FLOW_HALTED, "flow/halted-internal", records::to_value(&self.halted_record(HaltCause::Internal)));
        }
        let stop = match (cause, self.interrupted) {
            (Some(HaltCause::Internal), _) => decision::Stop::Internal,
            (Some(HaltCause::Interrupted), Some((signal, _))) => decision::Stop::Signal(signal),
            _ => decision::Stop::Court,
        };
        let mut exit_status = decision::exit_status(self.first_failure.as_ref().map(|f| f.1), stop);
        let record = FlowSummaryRecord {
            verdict: if cause.is_some() { FlowVerdict::Halted } else { FlowVerdict::Pass },
            first_failure_phase: self.first_failure.as_ref().map(|f| f.0.clone()),
            first_failure_code: self.first_failure.as_ref().map(|f| f.1),
            exit_status,
            target: self.recorded_target.clone(),
            target_source: self.target_source.map(|s| s.as_str().to_string()),
            pod_state: pod_state.clone(),
            delete_command: delete_cmd.clone(),
            fsm_state: self.fsm.clone(),
        };
        if !self.write_summary(records::to_value(&record)) {
            // The log ends with the failure (evidence.write_failed) and no summary: verify
            // reports the flow unfinished and says which write failed.
            exit_status = crate::EXIT_INTERNAL;
            cause = Some(HaltCause::Internal);
            self.internal_error = self.sink.error().or(self.internal_error.take());
        } else if let Some(signer) = &self.signer {
            let records = self.sink.records();
            if let Err(e) = wfhost_audit::signing::sign_flow(signer, &self.flow_dir, &self.flow_id, i32::from(exit_status), records) {
                // Nothing may follow the summary record, so this failure is told here only.
                self.out.note(&format!(
                    "internal error: cannot write {} ({e}); `wfhost verify` will report it missing",
                    wfhost_audit::layout::FLOW_ENVELOPE
                ));
                exit_status = crate::EXIT_INTERNAL;
                cause = Some(HaltCause::Internal);
                self.internal_error.get_or_insert_with(|| format!("cannot sign the flow: {e}"));
            }
        }
        // The pod a delete command names: the bound target, else the pod P10 created.
        let pod = self.target.clone().or_else(|| self.provisioned.as_ref().map(|p| p.target.clone())).unwrap_or_default();
        let pod_words = match &delete_cmd {
            Some(cmd) => format!("pod {pod} is {pod_state}; delete it with: {cmd}"),
            None if self.target.is_some() && !self.pod_deleted => format!("target {pod} is {pod_state}"),
            None if self.first_failure.is_some() || cause.is_some() => format!("no pod is running ({pod_state})"),
            None => format!("pod: {pod_state}"),
        };
        let last = match (cause, &self.first_failure, &self.internal_error) {
            (Some(HaltCause::Internal), _, Some(e)) => format!("halted: internal error, evidence could not be written ({e}); {pod_words}"),
            (Some(HaltCause::Internal), _, None) => format!("halted: internal error; {pod_words}"),
            (Some(HaltCause::Interrupted), _, _) => format!(
                "{}; {pod_words}; resume with: {}",
                self.interruption().unwrap_or_default(),
                self.resume_command()
            ),
            (_, Some((p, code)), _) => format!("halted at {p} with code {code}; {pod_words}"),
            (_, None, _) => format!("flow passed; {pod_words}"),
        };
        if let Some(c @ (HaltCause::Internal | HaltCause::Interrupted)) = cause {
            self.out.halt(c.as_str(), exit_status);
        }
        self.out.note(&format!("{last} (evidence: {})", self.flow_dir.display()));
        FlowReport { flow_id: self.flow_id, flow_dir: self.flow_dir, first_failure: self.first_failure, exit_status }
    }

    /// Write `flow.summary.json`, then append the `flow.summary` record it projects: the record
    /// is sealed first, so the file can include it, and is appended only once the file exists.
    /// False when either fails (the sink recorded why).
    fn write_summary(&self, payload: serde_json::Value) -> bool {
        let Some(prepared) = self.sink.prepare(records::FLOW_SUMMARY, "flow/summary", payload) else {
            return false;
        };
        let events = summary::read_events(&self.flow_dir).and_then(|mut events| {
            events.push(serde_json::to_value(prepared.envelope()).map_err(|e| e.to_string())?);
            Ok(events)
        });
        let events = match events {
            Ok(events) => events,
            Err(e) => {
                self.sink.write_failed(wfhost_audit::layout::SUMMARY, &e);
                return false;
            }
        };
        let path = wfhost_audit::layout::FlowDir::new(&self.flow_dir).summary();
        if self.sink.write_json(wfhost_audit::layout::SUMMARY, &path, &summary::project(&events)).is_none() {
            return false;
        }
        if self.sink.commit(prepared).is_none() {
            // The file would anchor a record that is not in the log.
            let _ = std::fs::remove_file(&path);
            return false;
        }
        true
    }
}


fn is_failure(c: &Constitution, state: &str) -> bool {
    c.fsm.states.iter().any(|s| s.name == state && s.failure)
}

/// The record form of a phase status.
pub(crate) fn record_status(s: PhaseStatus) -> records::PhaseStatus {
    match s {
        PhaseStatus::Ok => records::PhaseStatus::Ok,
        PhaseStatus::Skip => records::PhaseStatus::Skip,
        PhaseStatus::Fail => records::PhaseStatus::Fail,
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
