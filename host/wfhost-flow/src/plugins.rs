//! Loading and calling the flow's plugins through `wfhost-runtime`.
//!
//! P00 loads every component a flow will use — the transport (`WF_TRANSPORT`), the executor
//! (`WF_EXECUTOR`), the auditors (`WF_AUDITORS`) and the optional external auditor command —
//! so a missing or refused plugin fails the flow before anything is created, never half-way.
//! This module also owns the host side of a transport's imports (its settings and its process
//! allowlist) and the small diagnostic commands that talk to a transport directly
//! (`fsm-status`, `fsm-reset`, `doctor`, `court audit`).

use wfhost_config::config::{Config, ConfigError, ConfigLocation};
use wfhost_constitution::keys::{self, Key, Uint};
use wfhost_constitution::Family;
use crate::court::external::ExternalAuditor;
use crate::court::AuditorRecord;
use crate::gateway::FlowGateway;
use crate::host_keys::HostKeyWatch;
use crate::output::Output;
use crate::sink::Sink;
use crate::types::{
    AuditRequest, CommandResult, ExecSpec, LogLevel, PhaseContext, PhaseOutcome, PodIdentity,
    RunRequest, VerdictStatus,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wfhost_runtime::process::{NoSecrets, ProcessPolicy, ProcessRunner};
use wfhost_runtime::{
    Auditor, ComponentSource, Executor, ExecutorHost, Limits, PluginHost, Runtime, RuntimeOptions,
    Transport, TransportError, TransportHost,
};

/// Programs each built-in transport may run on the host.
fn builtin_programs(transport: &str) -> &'static [&'static str] {
    match transport {
        "local" => &["sh"],
        "ssh" => &["ssh", "scp", "sh"],
        _ => &[],
    }
}

/// The process-wide runtime (one engine, one cache).
pub fn runtime() -> Result<Arc<Runtime>, String> {
    static RT: OnceLock<Result<Arc<Runtime>, String>> = OnceLock::new();
    RT.get_or_init(|| {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Runtime::new(RuntimeOptions::from_env_map(&env)).map(Arc::new).map_err(|e| format!("cannot start the plugin runtime: {e}"))
    })
    .clone()
}

fn source(workdir: &Path, spec: &str) -> ComponentSource {
    if spec.ends_with(".wasm") || spec.contains('/') {
        ComponentSource::file(workdir.join(spec))
    } else {
        ComponentSource::builtin(spec)
    }
}

/// Everything a flow calls.
pub struct Plugins {
    /// The transport.
    pub transport: TransportPlugin,
    /// The transport's id (`local`, `ssh`, ...).
    pub transport_id: String,
    /// The phase executor.
    pub executor: ExecutorPlugin,
    /// Auditor components, in `WF_AUDITORS` order.
    pub auditors: Vec<AuditorPlugin>,
    /// `WF_SUBAGENT_VALIDATOR_CMD`, if set.
    pub external_auditor: Option<ExternalAuditor>,
}

impl Plugins {
    /// What was loaded, for evidence.
    pub fn describe(&self) -> Value {
        json!({
            "transport": {"id": self.transport_id, "component": self.transport.transport.name(), "sha256": self.transport.transport.sha256(), "cache": format!("{:?}", self.transport.transport.load_source())},
            "executor": {"component": self.executor.executor.name(), "sha256": self.executor.executor.sha256(), "cache": format!("{:?}", self.executor.executor.load_source())},
            "auditors": self.auditors.iter().map(|a| json!({"component": a.auditor.name(), "sha256": a.auditor.sha256(), "cache": format!("{:?}", a.auditor.load_source())})).collect::<Vec<_>>(),
            "external_auditor": self.external_auditor.as_ref().map(|e| e.command.clone()),
        })
    }
}

/// The limits every auditor call gets under `config`: `WF_AUDITOR_FUEL`, `WF_AUDITOR_MEMORY_MB`
/// and `WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS` (the last also bounds the external auditor). Each
/// value was checked against its documented range when the config loaded.
pub fn auditor_limits(config: &Config) -> Limits {
    limits_from(|key| config.uint(key))
}

/// The auditor limits without a config: the vocabulary's defaults.
pub fn default_auditor_limits() -> Limits {
    limits_from(Key::default_value)
}

fn limits_from(uint: impl Fn(Key<Uint>) -> u64) -> Limits {
    const MIB: u64 = 1024 * 1024;
    let memory = uint(keys::WF_AUDITOR_MEMORY_MB).saturating_mul(MIB);
    Limits {
        fuel: uint(keys::WF_AUDITOR_FUEL),
        memory_bytes: usize::try_from(memory).unwrap_or(usize::MAX),
        wall: Duration::from_secs(uint(keys::WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS)),
        ..Limits::auditor_default()
    }
}

/// Load every plugin the config names. The error names the plugin and why.
pub fn load(workdir: &Path, config: &Config, sink: Sink, out: Output) -> Result<Plugins, String> {
    let rt = runtime()?;
    let auditor_limits = auditor_limits(config);
    let transport_name = config.value(keys::WF_TRANSPORT).to_string();
    let transport = rt
        .load_transport(&source(workdir, &transport_name))
        .map_err(|e| format!("transport {transport_name}: {e}"))?;
    let host = Arc::new(FlowTransportHost::new(workdir, config, &transport_name, out, sink));
    let tp = TransportPlugin { transport: Arc::new(transport), host, limits: Limits::transport_default() };
    let transport_id = tp.id().map_err(|e| format!("transport {transport_name}: {}", transport_error_text(&e)))?;
    let exec_name = config.value(keys::WF_EXECUTOR).to_string();
    let executor = rt.load_executor(&source(workdir, &exec_name)).map_err(|e| format!("executor {exec_name}: {e}"))?;
    let mut auditors = Vec::new();
    for name in config.list(keys::WF_AUDITORS) {
        let a = rt.load_auditor(&source(workdir, &name)).map_err(|e| format!("auditor {name}: {e}"))?;
        auditors.push(AuditorPlugin { auditor: a, limits: auditor_limits });
    }
    if auditors.is_empty() {
        return Err(format!(
            "{} names no auditor; the court needs at least one (default: {})",
            keys::WF_AUDITORS,
            keys::WF_AUDITORS.default().unwrap_or_default()
        ));
    }
    let external_auditor = config.get(keys::WF_SUBAGENT_VALIDATOR_CMD).filter(|c| !c.trim().is_empty()).map(|c| ExternalAuditor {
        command: c.to_string(),
        timeout: auditor_limits.wall,
    });
    Ok(Plugins {
        transport: tp,
        transport_id,
        executor: ExecutorPlugin { executor, limits: Limits::executor_default() },
        auditors,
        external_auditor,
    })
}

/// The name of the built-in auditor component (the runtime's builtin table), the court's judge
/// when no config could be read.
pub const BUILTIN_AUDITOR: &str = "constitution";

/// The built-in constitution auditor with the vocabulary's default limits (used when P00 fails
/// before a config could be read and plugins loaded, so the court still has a judge).
pub fn builtin_auditor() -> Result<AuditorPlugin, String> {
    let rt = runtime()?;
    let a = rt.load_auditor(&ComponentSource::builtin(BUILTIN_AUDITOR)).map_err(|e| e.to_string())?;
    Ok(AuditorPlugin { auditor: a, limits: default_auditor_limits() })
}

/// One loaded auditor and its limits.
pub struct AuditorPlugin {
    auditor: Auditor,
    limits: Limits,
}

impl AuditorPlugin {
    /// Judge one phase. Never fails: problems are `unverified` records.
    pub fn audit(&self, req: &AuditRequest) -> AuditorRecord {
        let r = self.auditor.audit(req, &self.limits);
        AuditorRecord {
            name: self.auditor.name().to_string(),
            status: r.status(),
            reason_kind: r.reason.as_ref().map(|u| u.kind.as_str().to_string()),
            message: r.reason.as_ref().map(|u| u.message.clone()).unwrap_or_default(),
            fuel_used: Some(r.fuel_used),
            duration_ms: r.duration.as_millis() as u64,
            verdict: Some(r.verdict),
        }
    }
}

/// The loaded executor.
pub struct ExecutorPlugin {
    executor: Executor,
    limits: Limits,
}

impl ExecutorPlugin {
    /// Run one phase with `host` as its gateway, within `wall`.
    pub fn run_phase(&self, ctx: PhaseContext, host: Arc<FlowGateway>, wall: Duration) -> Result<PhaseOutcome, String> {
        let host: Arc<dyn ExecutorHost> = host;
        self.executor.run_phase(&ctx, host, &self.limits.with_wall(wall)).map_err(|f| f.to_string())
    }
}

/// The transport with its host side; cheap to clone.
#[derive(Clone)]
pub struct TransportPlugin {
    transport: Arc<Transport>,
    host: Arc<FlowTransportHost>,
    limits: Limits,
}

impl TransportPlugin {
    fn h(&self) -> Arc<dyn TransportHost> {
        self.host.clone()
    }
    fn limits_for(&self, timeout: Duration) -> Limits {
        self.limits.with_wall(self.limits.wall.max(timeout.saturating_add(Duration::from_secs(30))))
    }
    /// Transport id.
    pub fn id(&self) -> Result<String, TransportError> {
        self.transport.id(self.h(), &self.limits)
    }
    /// Validate a target string.
    pub fn parse_target(&self, target: &str) -> Result<String, TransportError> {
        self.transport.parse_target(self.h(), &self.limits, target)
    }
    /// Create a pod.
    pub fn provision(&self, hint: &str, key: &str) -> Result<PodIdentity, TransportError> {
        self.transport.provision(self.h(), &self.limits, hint, key)
    }
    /// Pod status.
    pub fn status(&self, target: &str) -> Result<(String, String), TransportError> {
        self.transport.status(self.h(), &self.limits, target)
    }
    /// Resolve a remote path.
    pub fn resolve_path(&self, target: &str, path: &str) -> Result<String, TransportError> {
        self.transport.resolve_path(self.h(), &self.limits, target, path)
    }
    /// Run a command.
    pub fn exec(&self, target: &str, spec: ExecSpec) -> Result<CommandResult, TransportError> {
        let limits = self.limits_for(Duration::from_millis(spec.timeout_ms));
        self.transport.exec(self.h(), &limits, target, &spec)
    }
    /// Write a file.
    pub fn put_file(&self, target: &str, path: &str, contents: Vec<u8>, mode: u32) -> Result<(), TransportError> {
        self.transport.put_file(self.h(), &self.limits, target, path, &contents, mode)
    }
    /// Read a file.
    pub fn get_file(&self, target: &str, path: &str, max: u64) -> Result<Vec<u8>, TransportError> {
        self.transport.get_file(self.h(), &self.limits, target, path, max)
    }
    /// Copy a directory back.
    pub fn fetch_dir(&self, target: &str, remote: &str, local: &str) -> Result<(), TransportError> {
        self.transport.fetch_dir(self.h(), &self.limits, target, remote, local)
    }
    /// Delete a pod.
    pub fn delete(&self, target: &str) -> Result<(), TransportError> {
        self.transport.delete(self.h(), &self.limits, target)
    }
}

/// Secrets custody: values stay in the host; every issuance into a process leaves a
/// `secret.issued` record naming the handle, never the value.
struct Custody {
    secrets: BTreeMap<String, String>,
    sink: Sink,
    requester: String,
}

impl wfhost_runtime::process::SecretResolver for Custody {
    fn resolve(&self, handle: &str) -> Option<String> {
        self.secrets.get(handle).cloned()
    }

    fn issue(&self, handle: &str, key: &str, program: &str) -> Option<String> {
        let value = self.resolve(handle)?;
        self.sink.event("secret.issued", &format!("secret/{handle}"), json!({
            "handle": handle,
            "audience": format!("process {program}, environment variable {key}"),
            "scope": "one process run",
            "requester": self.requester,
            "expires": "when the process exits",
        }));
        Some(value)
    }
}

/// The host side of a transport's imports.
pub struct FlowTransportHost {
    settings: BTreeMap<String, String>,
    runner: ProcessRunner,
    out: Output,
    /// With ssh and WF_SSH_ACCEPT_NEW=1: the known_hosts file, watched for keys trusted on
    /// first use.
    host_keys: Option<HostKeyWatch>,
}

impl FlowTransportHost {
    fn new(workdir: &Path, config: &Config, transport: &str, out: Output, sink: Sink) -> FlowTransportHost {
        let mut settings = BTreeMap::new();
        let pods = keys::WF_LOCAL_PODS_DIR;
        settings.insert(pods.name().to_string(), workdir.join(config.value(pods)).display().to_string());
        for key in [keys::OPS_DEFAULT_HOST.name(), keys::WF_SSH_OPTIONS.name(), keys::WF_SSH_ACCEPT_NEW.name()] {
            if let Some(v) = config.get_by_name(key) {
                settings.insert(key.to_string(), v.to_string());
            }
        }
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
        if let Some(p) = config.local_path(keys::WF_SSH_KNOWN_HOSTS) {
            settings.insert(keys::WF_SSH_KNOWN_HOSTS.name().to_string(), absolute(&p));
        }
        // The ssh transport's identity file is a secret: the plugin only learns its handle and
        // asks for it in a process request's `secret-env`; the path lives in the child's
        // environment only. Only the built-in ssh transport gets it (and its connection-sharing
        // socket directory).
        let mut secrets: BTreeMap<String, String> = BTreeMap::new();
        let env: BTreeMap<String, String> = std::env::vars().collect();
        if transport == "ssh" {
            // ControlMaster sockets: `<workdir>/.wfhost/ssh-control`, or, when that path is too
            // long for a unix socket (with ssh's `/%C` and temporary suffix, 49 bytes at most),
            // a per-workdir directory under `$HOME/.wfhost/ssh`.
            const MAX_CONTROL_DIR: usize = 49;
            let work_abs = absolute(workdir);
            let mut candidates = vec![workdir.join(".wfhost/ssh-control")];
            if let Some(home) = env.get("HOME").filter(|h| h.starts_with('/')) {
                candidates.push(Path::new(home).join(".wfhost/ssh").join(&wfhost_evidence::hash::sha256_hex(work_abs.as_bytes())[..12]));
            }
            match candidates.into_iter().find(|c| absolute(c).len() <= MAX_CONTROL_DIR) {
                Some(control) => {
                    let made = std::fs::create_dir_all(&control).and_then(|()| {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o700))
                    });
                    match made {
                        Ok(()) => {
                            settings.insert("WF_SSH_CONTROL_DIR".to_string(), absolute(&control));
                        }
                        Err(e) => out.note(&format!("transport: cannot create {} ({e}); ssh connection sharing is off", control.display())),
                    }
                }
                None => out.note(&format!(
                    "transport: no short enough directory for ssh control sockets ({work_abs}/.wfhost/ssh-control and $HOME/.wfhost/ssh are too long); ssh connection sharing is off"
                )),
            }
            if let Some(identity) = config.secret(keys::WF_SSH_IDENTITY) {
                secrets.insert("ssh_identity".to_string(), absolute(&workdir.join(identity.expose())));
                settings.insert("WF_SSH_IDENTITY_HANDLE".to_string(), "ssh_identity".to_string());
            }
        }
        let host_keys = (transport == "ssh" && config.flag(keys::WF_SSH_ACCEPT_NEW))
            .then(|| match config.local_path(keys::WF_SSH_KNOWN_HOSTS) {
                Some(p) => Some(std::path::absolute(&p).unwrap_or(p)),
                None => env.get("HOME").map(|h| Path::new(h).join(".ssh/known_hosts")),
            })
            .flatten()
            .map(|path| HostKeyWatch::new(path, sink.clone()));
        let policy = ProcessPolicy::new(builtin_programs(transport).iter().copied(), &env);
        let resolver: Arc<dyn wfhost_runtime::process::SecretResolver> = if secrets.is_empty() {
            Arc::new(NoSecrets)
        } else {
            Arc::new(Custody { secrets, sink, requester: format!("transport:{transport}") })
        };
        FlowTransportHost { settings, runner: ProcessRunner::new(policy, resolver), out, host_keys }
    }
}

impl PluginHost for FlowTransportHost {
    fn log(&self, level: LogLevel, message: &str) {
        if !matches!(level, LogLevel::Debug) {
            self.out.note(&format!("transport: {message}"));
        }
    }
    fn setting(&self, key: &str) -> Option<String> {
        self.settings.get(key).cloned()
    }
}

impl TransportHost for FlowTransportHost {
    fn run_process(&self, request: RunRequest) -> Result<CommandResult, String> {
        let result = self.runner.run_wit(request);
        if let Some(watch) = &self.host_keys {
            watch.check();
        }
        result
    }
}

impl PluginHost for FlowGateway {
    fn log(&self, level: LogLevel, message: &str) {
        let l = match level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        if l != "debug" {
            self.gw_log(l, message);
        }
    }
    fn setting(&self, _key: &str) -> Option<String> {
        None
    }
}

impl ExecutorHost for FlowGateway {
    fn bound_target(&self) -> Option<String> {
        self.gw_bound_target()
    }
    fn provision(&self, name_hint: &str) -> Result<PodIdentity, crate::types::GatewayError> {
        self.gw_provision(name_hint.to_string())
    }
    fn pod_status(&self, target: &str) -> Result<(String, String), crate::types::GatewayError> {
        self.gw_pod_status(target.to_string())
    }
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, crate::types::GatewayError> {
        self.gw_resolve_path(target.to_string(), path.to_string())
    }
    fn exec(&self, request: crate::types::ExecRequest) -> Result<CommandResult, crate::types::GatewayError> {
        self.gw_exec(request)
    }
    fn put_file(&self, target: &str, path: &str, contents: Vec<u8>, mode: u32) -> Result<(), crate::types::GatewayError> {
        self.gw_put_file(target.to_string(), path.to_string(), contents, mode)
    }
    fn get_file(&self, target: &str, path: &str, max_bytes: u64) -> Result<Vec<u8>, crate::types::GatewayError> {
        self.gw_get_file(target.to_string(), path.to_string(), max_bytes)
    }
    fn fetch_dir(&self, target: &str, remote_dir: &str, local_rel: &str) -> Result<Vec<crate::types::Artifact>, crate::types::GatewayError> {
        self.gw_fetch_dir(target.to_string(), remote_dir.to_string(), local_rel.to_string())
    }
    fn delete_pod(&self, target: &str) -> Result<(), crate::types::GatewayError> {
        self.gw_delete_pod(target.to_string())
    }
}

/// A transport error as one line.
pub fn transport_error_text(e: &TransportError) -> String {
    e.to_string()
}

// ----- diagnostics ---------------------------------------------------------------------------

fn load_config(workdir: &Path, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    Config::load(&ConfigLocation::resolve(workdir, env)?)
}

fn transport_for(workdir: &Path, config: &Config, target: Option<&str>) -> Result<(TransportPlugin, String, String), String> {
    let rt = runtime()?;
    let name = config.value(keys::WF_TRANSPORT).to_string();
    let t = rt.load_transport(&source(workdir, &name)).map_err(|e| format!("transport {name}: {e}"))?;
    let host = Arc::new(FlowTransportHost::new(workdir, config, &name, Output::stdio(), Sink::null()));
    let tp = TransportPlugin { transport: Arc::new(t), host, limits: Limits::transport_default() };
    let target = target
        .map(str::to_string)
        .or_else(|| config.get(keys::LIUM_TARGET).filter(|t| !t.is_empty()).map(str::to_string))
        .ok_or("no target: pass --target <pod> or set LIUM_TARGET")?;
    let target = tp.parse_target(&target).map_err(|e| format!("target {target:?}: {e}"))?;
    Ok((tp, target, crate::engine::state_file(config)))
}

/// `wfhost fsm-status`: print the target's workflow_state.json.
pub fn fsm_status(workdir: &Path, env: &BTreeMap<String, String>, target: Option<&str>) -> Result<i32, String> {
    let config = load_config(workdir, env).map_err(|e| e.to_string())?;
    let (tp, target, file) = transport_for(workdir, &config, target)?;
    match tp.get_file(&target, &file, 64 * 1024) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{file} on {target} is not JSON: {e}"))?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(0)
        }
        Err(TransportError::Vanished(m)) => Err(format!("target {target} does not exist: {m}")),
        Err(e) => {
            println!("{}", json!({"state": "INIT", "note": format!("no state file yet ({e})")}));
            Ok(0)
        }
    }
}

/// `wfhost fsm-reset --yes`: write INIT to the target's workflow_state.json.
pub fn fsm_reset(workdir: &Path, env: &BTreeMap<String, String>, target: Option<&str>) -> Result<i32, String> {
    let config = load_config(workdir, env).map_err(|e| e.to_string())?;
    let (tp, target, file) = transport_for(workdir, &config, target)?;
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
    tp.put_file(&target, &file, body.into_bytes(), 0o644).map_err(|e| format!("cannot write {file} on {target}: {e}"))?;
    eprintln!("wfhost: {target}: FSM {previous} -> INIT");
    Ok(0)
}

/// `wfhost doctor`: config, toolchain, plugins, target. Returns 0 when everything is fine.
pub fn doctor(workdir: &Path, env: &BTreeMap<String, String>) -> Result<i32, String> {
    let mut bad = 0;
    let mut line = |ok: bool, what: &str, detail: String| {
        if !ok {
            bad += 1;
        }
        println!("{} {what}: {detail}", if ok { "ok  " } else { "FAIL" });
    };
    let config = match load_config(workdir, env) {
        Ok(c) => {
            line(true, "config", format!("{} (sha256 {})", c.path().display(), c.sha256()));
            for k in c.unknown_keys() {
                line(true, "config", format!("warning: unknown key {} is ignored", k.key));
            }
            Some(c)
        }
        Err(e) => {
            line(false, "config", e.to_string());
            None
        }
    };
    for tool in ["git", "sh"] {
        let found = std::process::Command::new(tool)
            .arg(if tool == "git" { "--version" } else { "-c" })
            .args(if tool == "sh" { vec!["true"] } else { vec![] })
            .stdin(std::process::Stdio::null())
            .output();
        match found {
            Ok(o) if o.status.success() => line(true, tool, String::from_utf8_lossy(&o.stdout).trim().to_string().chars().take(60).collect::<String>().replace('\n', " ") + if tool == "sh" { "present" } else { "" }),
            Ok(o) => line(false, tool, format!("exited {:?}", o.status.code())),
            Err(e) => line(false, tool, format!("not runnable: {e}")),
        }
    }
    match runtime() {
        Ok(rt) => match rt.preload_builtins() {
            Ok(list) => line(true, "plugins", list.iter().map(|(n, s)| format!("{n} ({s:?})")).collect::<Vec<_>>().join(", ")),
            Err(e) => line(false, "plugins", e.to_string()),
        },
        Err(e) => line(false, "plugin runtime", e),
    }
    if let Some(config) = &config {
        match crate::plugins::load(workdir, config, Sink::null(), Output::stdio()) {
            Ok(p) => line(true, "configured plugins", format!("transport {}, {} auditor(s)", p.transport_id, p.auditors.len())),
            Err(e) => line(false, "configured plugins", e),
        }
        if config.get(keys::LIUM_TARGET).is_some_and(|t| !t.is_empty()) {
            match transport_for(workdir, config, None) {
                Ok((tp, target, _)) => match tp.status(&target) {
                    Ok((state, detail)) => line(state == "ready", "target", format!("{target}: {state} ({detail})")),
                    Err(e) => line(false, "target", format!("{target}: {e}")),
                },
                Err(e) => line(false, "target", e),
            }
        } else {
            line(true, "target", "none set (LIUM_TARGET unset): a flow will provision one".into());
        }
    }
    Ok(if bad == 0 { 0 } else { Family::ConfigPolicy.exit_status() })
}

/// `wfhost court audit`: run one auditor on an evidence pack file, under the auditor limits of
/// the config in `workdir` (`-C`), as the flow did; without a config file there, under the
/// vocabulary's defaults. The output says which. Relative paths are relative to `workdir`.
pub fn audit_file(
    workdir: &Path,
    env: &BTreeMap<String, String>,
    phase: &str,
    evidence: &Path,
    auditor: &str,
) -> Result<(String, bool), String> {
    let c = wfhost_constitution::Constitution::get().map_err(|e| e.to_string())?;
    let p = c.phase(phase).ok_or_else(|| format!("--phase {phase}: not a phase of the constitution (P00..P99)"))?;
    let evidence = workdir.join(evidence);
    let bytes = std::fs::read(&evidence).map_err(|e| format!("--evidence {}: {e}", evidence.display()))?;
    let pack: crate::types::EvidencePack = serde_json::from_slice(&bytes)
        .map_err(|e| format!("--evidence {}: not an evidence pack ({e}); use a phase/phase.<Pxx>.pack.json file", evidence.display()))?;
    let (limits, limits_from) = match load_config(workdir, env) {
        Ok(config) => (auditor_limits(&config), config.path().display().to_string()),
        Err(ConfigError::Unreadable { path, source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            (default_auditor_limits(), format!("defaults (no config at {})", path.display()))
        }
        Err(e) => return Err(format!("the auditor limits come from the config: {e}")),
    };
    let req = crate::court::audit_request(c, p, &pack);
    let rt = runtime()?;
    let a = rt.load_auditor(&source(workdir, auditor)).map_err(|e| format!("auditor {auditor}: {e}"))?;
    let plugin = AuditorPlugin { auditor: a, limits };
    let r = plugin.audit(&req);
    let pass = r.status == VerdictStatus::Pass;
    let doc = json!({
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
    Ok((serde_json::to_string_pretty(&doc).unwrap_or_default(), pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(wfhost_config::CONFIG_REL_PATH);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let config = load_config(dir.path(), &BTreeMap::new()).unwrap();
        (dir, config)
    }

    #[test]
    fn auditor_limits_come_from_the_typed_config() {
        let (_d, c) = config("WF_AUDITOR_FUEL=5000\nWF_AUDITOR_MEMORY_MB=32\nWF_SUBAGENT_VALIDATOR_TIMEOUT_SECS=7\n");
        let l = auditor_limits(&c);
        assert_eq!((l.fuel, l.memory_bytes, l.wall), (5000, 32 * 1024 * 1024, Duration::from_secs(7)));
        // Unset keys take the vocabulary's defaults, the same as with no config at all.
        let (_d, c) = config("");
        assert_eq!(auditor_limits(&c), default_auditor_limits());
        let d = default_auditor_limits();
        assert_eq!(d.fuel, keys::WF_AUDITOR_FUEL.default_value());
        assert_eq!(d.wall.as_secs(), keys::WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS.default_value());
        assert_eq!(d.memory_bytes as u64, keys::WF_AUDITOR_MEMORY_MB.default_value() * 1024 * 1024);
        // The largest memory the vocabulary accepts still fits: no overflow, no truncation.
        let (_d, c) = config(&format!("WF_AUDITOR_MEMORY_MB={}\n", keys::WF_AUDITOR_MEMORY_MB.max()));
        assert_eq!(auditor_limits(&c).memory_bytes as u64, keys::WF_AUDITOR_MEMORY_MB.max() * 1024 * 1024);
    }

    #[test]
    fn limits_outside_the_vocabulary_never_reach_the_runtime() {
        for line in ["WF_AUDITOR_FUEL=lots", "WF_AUDITOR_FUEL=1_000", "WF_AUDITOR_MEMORY_MB=4097", "WF_AUDITOR_FUEL=0"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(wfhost_config::CONFIG_REL_PATH);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("{line}\n")).unwrap();
            let err = load_config(dir.path(), &BTreeMap::new()).unwrap_err();
            assert_eq!(err.code(), wfhost_constitution::codes::CONFIG_INVALID, "{line}");
            assert!(err.to_string().contains(line.split('=').next().unwrap()), "{err}");
        }
    }
}
