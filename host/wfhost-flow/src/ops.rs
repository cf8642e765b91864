//! The commands that are not flows: `doctor` (which also checks the pack store), `fsm-status`,
//! `fsm-reset` and `court audit`.
//!
//! Each takes typed options and returns a typed report or an [`OpsError`]; none prints. The CLI
//! renders the report and maps the error's [`OpsErrorKind`] to an exit status, so every status
//! is decided in one place (the CLI's error module).
//!
//! ```text
//! CLI ─► ops::doctor(workdir, env)      ─► DoctorReport { checks }      ─► lines on stdout
//!     ─► ops::fsm_status(workdir, env, t) ─► FsmStatusReport { state }    ─► JSON on stdout
//!     ─► ops::audit_file(..)             ─► AuditFileReport { verdict }  ─► JSON on stdout
//!                                        └► OpsError { kind, message }   ─► `wfhost: …`, exit
//! ```

use crate::plugins::{self, TransportPlugin};
use crate::output::Output;
use crate::sink::Sink;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use wfhost_config::config::{Config, ConfigError, ConfigLocation, Vocabulary};
use wfhost_constitution::keys;
use crate::types::VerdictStatus;
use wfhost_runtime::TransportError;

/// What kind of failure an operation met; the CLI maps each to one exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpsErrorKind {
    /// A command-line argument is wrong (a phase that does not exist, a file that is not a pack).
    Usage,
    /// The config, or a plugin it names, cannot be used (code family 1xx).
    Config,
    /// The target cannot be reached or does not exist (code family 2xx).
    Target,
    /// wfhost itself cannot work here (the plugin runtime does not start).
    Internal,
}

/// Why an operation could not be done: its kind and a message that says what to do next.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct OpsError {
    /// What kind of failure.
    pub kind: OpsErrorKind,
    /// What happened, to what, and what to do.
    pub message: String,
}

impl OpsError {
    pub(crate) fn new(kind: OpsErrorKind, message: impl Into<String>) -> OpsError {
        OpsError { kind, message: message.into() }
    }
}

pub(crate) fn load_config(workdir: &Path, env: &BTreeMap<String, String>) -> Result<Config, OpsError> {
    let vocab = Vocabulary::get().map_err(|e| OpsError::new(OpsErrorKind::Internal, e.to_string()))?;
    let loc = ConfigLocation::resolve(workdir, env).map_err(|e| OpsError::new(OpsErrorKind::Config, e.to_string()))?;
    Config::load_with(&loc, vocab).map_err(|e| OpsError::new(OpsErrorKind::Config, e.to_string()))
}

/// The plugin runtime, or an internal error.
fn runtime_ok(env: &BTreeMap<String, String>) -> Result<(), OpsError> {
    plugins::runtime(env).map(|_| ()).map_err(|e| OpsError::new(OpsErrorKind::Internal, e))
}

/// The configured transport, the target (given, else LIUM_TARGET) and the state file's path.
pub(crate) fn transport_for(workdir: &Path, config: &Config, env: &BTreeMap<String, String>, target: Option<&str>) -> Result<(TransportPlugin, String, String), OpsError> {
    runtime_ok(env)?;
    let tp = plugins::standalone_transport(workdir, config, env).map_err(|e| OpsError::new(OpsErrorKind::Config, e))?;
    let target = target
        .map(str::to_string)
        .or_else(|| config.get(keys::LIUM_TARGET).filter(|t| !t.is_empty()).map(str::to_string))
        .ok_or_else(|| OpsError::new(OpsErrorKind::Config, "no target: pass --target <pod> or set LIUM_TARGET in the config"))?;
    let target = tp
        .parse_target(&target)
        .map_err(|e| OpsError::new(OpsErrorKind::Config, format!("target {target:?}: {e}")))?;
    Ok((tp, target, crate::engine::state_file(config)))
}

/// What `fsm-status` found.
#[derive(Debug, Clone)]
pub struct FsmStatusReport {
    /// The state file's contents, or `{"state": "INIT", "note": …}` when there is none yet.
    pub state: Value,
    /// Whether the target has a state file.
    pub present: bool,
    /// The target read.
    pub target: String,
}

/// `wfhost fsm-status`: the target's workflow_state.json.
pub fn fsm_status(workdir: &Path, env: &BTreeMap<String, String>, target: Option<&str>) -> Result<FsmStatusReport, OpsError> {
    let config = load_config(workdir, env)?;
    let (tp, target, file) = transport_for(workdir, &config, env, target)?;
    match tp.get_file(&target, &file, 64 * 1024) {
        Ok(bytes) => {
            let state = serde_json::from_slice(&bytes).map_err(|e| {
                OpsError::new(OpsErrorKind::Target, format!(
                    "{file} on {target} is not JSON ({e}); look at it on the target, or reset it with `wfhost fsm-reset --target {target} --yes`"
                ))
            })?;
            Ok(FsmStatusReport { state, present: true, target })
        }
        Err(TransportError::Vanished(m)) => Err(OpsError::new(OpsErrorKind::Target, format!("target {target} does not exist: {m}"))),
        Err(e @ (TransportError::Unreachable(_) | TransportError::Timeout(_))) => Err(OpsError::new(OpsErrorKind::Target, format!(
            "cannot read {file} on {target}: {e}. Check the target is up and reachable (`wfhost doctor`)"
        ))),
        Err(e) => Ok(FsmStatusReport { state: json!({"state": "INIT", "note": format!("no state file yet ({e})")}), present: false, target }),
    }
}

/// What `fsm-reset` did.
#[derive(Debug, Clone)]
pub struct FsmResetReport {
    /// The target.
    pub target: String,
    /// The state before the reset.
    pub previous: String,
}

/// `wfhost fsm-reset --yes`: write INIT to the target's workflow_state.json.
pub fn fsm_reset(workdir: &Path, env: &BTreeMap<String, String>, target: Option<&str>) -> Result<FsmResetReport, OpsError> {
    let config = load_config(workdir, env)?;
    let (tp, target, file) = transport_for(workdir, &config, env, target)?;
    let previous = tp
        .get_file(&target, &file, 64 * 1024)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("state").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "INIT".into());
    let state = json!({
        "state": "INIT", "previous_state": previous, "reason": "fsm-reset by user",
        "updated_at": crate::now_rfc3339(), "host": crate::hostname(),
    });
    let body = format!("{}\n", serde_json::to_string_pretty(&state).unwrap_or_default());
    tp.put_file(&target, &file, body.into_bytes(), 0o644)
        .map_err(|e| OpsError::new(OpsErrorKind::Target, format!("cannot write {file} on {target}: {e}")))?;
    Ok(FsmResetReport { target, previous })
}

/// One line of `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorCheck {
    /// Whether it is fine.
    pub ok: bool,
    /// What was checked.
    pub what: String,
    /// What was found.
    pub detail: String,
}

/// What `doctor` found, in order.
#[derive(Debug, Clone, Default)]
pub struct DoctorReport {
    /// Every check.
    pub checks: Vec<DoctorCheck>,
}

impl DoctorReport {
    fn line(&mut self, ok: bool, what: &str, detail: impl Into<String>) {
        self.checks.push(DoctorCheck { ok, what: what.to_string(), detail: detail.into() });
    }

    /// Whether every check is fine.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// `wfhost doctor`: config, toolchain, plugins, target. A problem is a failed check in the
/// report, not an error; only a runtime that cannot start at all is.
pub fn doctor(workdir: &Path, env: &BTreeMap<String, String>) -> DoctorReport {
    let mut r = DoctorReport::default();
    let config = match load_config(workdir, env) {
        Ok(c) => {
            r.line(true, "config", format!("{} (sha256 {})", c.path().display(), c.sha256()));
            for w in c.warnings() {
                r.line(true, "config", format!("warning: {w}"));
            }
            Some(c)
        }
        Err(e) => {
            r.line(false, "config", e.message);
            None
        }
    };
    for (tool, args) in [("git", &["--version"][..]), ("sh", &["-c", "true"][..])] {
        let found = std::process::Command::new(tool).args(args).stdin(std::process::Stdio::null()).output();
        match found {
            Ok(o) if o.status.success() => {
                let said = String::from_utf8_lossy(&o.stdout).trim().chars().take(60).collect::<String>().replace('\n', " ");
                r.line(true, tool, if said.is_empty() { "present".to_string() } else { said });
            }
            Ok(o) => r.line(false, tool, match o.status.code() {
                Some(code) => format!("exited with status {code}"),
                None => "killed by a signal".to_string(),
            }),
            Err(e) => r.line(false, tool, format!("not runnable: {e}")),
        }
    }
    match plugins::runtime(env) {
        Ok(rt) => match wfhost_builtins::preload(&rt) {
            Ok(list) => r.line(true, "plugins", list.iter().map(|(n, s)| format!("{n} ({})", load_source_name(*s))).collect::<Vec<_>>().join(", ")),
            Err(e) => r.line(false, "plugins", e.to_string()),
        },
        Err(e) => r.line(false, "plugin runtime", e),
    }
    if let Some(config) = &config {
        // The sweep `flow --sweep start` would run, planned as P00 plans it.
        if config.get(keys::SWEEP_MANIFEST).is_some_and(|m| !m.is_empty()) {
            match wfhost_config::manifest::Sweep::load(config) {
                Ok(sweep) => r.line(true, "sweep", format!("{}: {} run(s) planned", sweep.manifest.source, sweep.runs.len())),
                Err(e) => r.line(false, "sweep", e.to_string()),
            }
        }
        match plugins::load(workdir, config, env, Sink::null(), Output::stdio()) {
            Ok(p) => {
                r.line(true, "configured plugins", format!("transport {}, {} auditor(s)", p.transport_id, p.auditors.len()));
                match p.check_config(&config.path().display().to_string()) {
                    Ok(()) => r.line(true, "transport config", format!("the {} transport accepts its settings", p.transport_id)),
                    Err((_, m)) => r.line(false, "transport config", m),
                }
            }
            Err((_, e)) => r.line(false, "configured plugins", e),
        }
        match wfhost_pack::PackSettings::resolve(workdir, env, Some(config)) {
            Ok(settings) => match wfhost_pack::Store::new(&settings.store).installed() {
                Ok(packs) => r.line(true, "pack store", format!(
                    "{} pack(s) installed in {}, pack log verified{}",
                    packs.len(),
                    settings.store.display(),
                    if settings.policy.require_signed { "; only signed packs are admitted" } else { "" }
                )),
                Err(e) => r.line(false, "pack store", e.to_string()),
            },
            Err(e) => r.line(false, "pack store", e),
        }
        if config.get(keys::LIUM_TARGET).is_some_and(|t| !t.is_empty()) {
            match target_status(workdir, config, env, None) {
                Ok(t) => r.line(t.state == "ready", "target", format!("{}: {} ({})", t.target, t.state, t.detail)),
                Err(e) => r.line(false, "target", e.message),
            }
        } else {
            r.line(true, "target", "none set (LIUM_TARGET unset): a flow will provision one");
        }
    }
    r
}

/// What the transport says of a target now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    /// The target asked about.
    pub target: String,
    /// `ready`, `starting`, `stopped` or `missing`.
    pub state: String,
    /// The transport's detail line.
    pub detail: String,
}

/// Ask the configured transport about `target` (else LIUM_TARGET): `doctor`'s target check,
/// and `status --check`'s.
pub fn target_status(workdir: &Path, config: &Config, env: &BTreeMap<String, String>, target: Option<&str>) -> Result<TargetStatus, OpsError> {
    let (tp, target, _) = transport_for(workdir, config, env, target)?;
    match tp.status(&target) {
        Ok(s) => Ok(TargetStatus { target, state: crate::gateway::pod_state_str(s.state).to_string(), detail: s.detail }),
        Err(e) => Err(OpsError::new(OpsErrorKind::Target, format!("{target}: {e}"))),
    }
}

/// The config of `workdir` (for callers that ask several questions of one config).
pub fn config(workdir: &Path, env: &BTreeMap<String, String>) -> Result<Config, OpsError> {
    load_config(workdir, env)
}

/// How a component was loaded, as a word (`memory`, `disk`, `compiled`).
fn load_source_name(s: wfhost_runtime::LoadSource) -> String {
    serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// What `court audit` found.
#[derive(Debug, Clone)]
pub struct AuditFileReport {
    /// Whether the auditor passed the pack.
    pub pass: bool,
    /// The auditor's record as JSON.
    pub document: Value,
}

/// `wfhost court audit`: run one auditor on an evidence pack file (relative to `workdir`), under
/// the auditor limits of the config in `workdir` (the vocabulary's defaults when there is none).
pub fn audit_file(workdir: &Path, env: &BTreeMap<String, String>, phase: &str, evidence: &Path, auditor: &str) -> Result<AuditFileReport, OpsError> {
    let c = wfhost_constitution::Constitution::get().map_err(|e| OpsError::new(OpsErrorKind::Internal, e.to_string()))?;
    let p = c
        .phase(phase)
        .ok_or_else(|| OpsError::new(OpsErrorKind::Usage, format!("--phase {phase}: not a phase of the constitution (P00..P99)")))?;
    let evidence = workdir.join(evidence);
    let bytes = wfhost_evidence::input::read(&evidence, wfhost_evidence::input::InputKind::EvidencePack)
        .map_err(|e| OpsError::new(OpsErrorKind::Usage, format!("--evidence: {e}")))?;
    let (limits, limits_from, config) = match ConfigLocation::resolve(workdir, env).and_then(|l| Config::load(&l)) {
        Ok(config) => (plugins::auditor_limits(&config), config.path().display().to_string(), Some(config)),
        Err(ConfigError::Unreadable { path, source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            (plugins::default_auditor_limits(), format!("defaults (no config at {})", path.display()), None)
        }
        Err(e) => return Err(OpsError::new(OpsErrorKind::Config, format!("the auditor limits come from the config: {e}"))),
    };
    let file: Value = serde_json::from_slice(&bytes).map_err(|e| {
        OpsError::new(OpsErrorKind::Usage, format!("--evidence {}: not JSON ({e}); use a phase/phase.<Pxx>.pack.json file", evidence.display()))
    })?;
    let pack = crate::court::pack_from_value(wfhost_audit::pack::wit_record(&file)).map_err(|e| {
        OpsError::new(OpsErrorKind::Usage, format!(
            "--evidence {}: not an evidence pack ({e}); use a phase/phase.<Pxx>.pack.json file",
            evidence.display()
        ))
    })?;
    let req = crate::court::audit_request(c, p, &pack);
    runtime_ok(env)?;
    let plugin = plugins::load_auditor(workdir, auditor, limits, config.as_ref(), env).map_err(|e| OpsError::new(OpsErrorKind::Usage, e))?;
    let r = plugin.audit(&req);
    let document = json!({
        "auditor": r.name,
        "phase": phase,
        "status": crate::court::verdict_str(r.status),
        "reason_kind": r.reason_kind,
        "message": r.message,
        "fuel_used": r.fuel_used,
        "duration_ms": r.duration_ms,
        "limits": {
            "fuel": limits.fuel,
            "memory_bytes": limits.memory_bytes,
            "wall_secs": limits.wall.as_secs(),
            "from": limits_from,
        },
        "verdict": r.verdict,
    });
    Ok(AuditFileReport { pass: r.status == VerdictStatus::Pass, document })
}
