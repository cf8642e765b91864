//! Loading and calling the flow's plugins through `wfhost-runtime`.
//!
//! P00 loads every component a flow will use — the transport (`WF_TRANSPORT`), the executor
//! (`WF_EXECUTOR`), the auditors (`WF_AUDITORS`) and the optional external auditor command —
//! so a missing or refused plugin fails the flow before anything is created, never half-way.
//! This module also owns the host side of a transport's imports (its settings and its process
//! allowlist) and the small diagnostic commands that talk to a transport directly
//! (`fsm-status`, `fsm-reset`, `doctor`, `court audit`).

use crate::config::{Config, ConfigLocation, Vocabulary};
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
    Auditor, ComponentSource, Executor, ExecutorHost, Limits, LoadError, PluginHost, Runtime,
    RuntimeOptions, Transport, TransportError, TransportHost,
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

/// Load the component `spec` names — a file (`*.wasm` or a path, relative to `workdir`) or a
/// built-in of `wfhost-builtins` — with `load`. The error reads `<what> <spec>: <why>`, an unknown
/// built-in's listing the built-ins there are.
fn load_component<T>(
    what: &str,
    workdir: &Path,
    spec: &str,
    load: impl FnOnce(&ComponentSource) -> Result<T, LoadError>,
) -> Result<T, String> {
    let source = if spec.ends_with(".wasm") || spec.contains('/') {
        ComponentSource::file(workdir.join(spec))
    } else {
        wfhost_builtins::builtin(spec).map_err(|e| format!("{what} {spec}: {e}"))?
    };
    load(&source).map_err(|e| format!("{what} {spec}: {e}"))
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

/// Load every plugin the config names. The error names the plugin and why.
pub fn load(workdir: &Path, config: &Config, sink: Sink, out: Output) -> Result<Plugins, String> {
    let rt = runtime()?;
    let map = config.resolved_map();
    let auditor_limits = Limits::from_env_map(&map).map_err(|e| format!("auditor limits: {e}"))?;
    let transport_name = config.get("WF_TRANSPORT").unwrap_or("local").to_string();
    let transport = load_component("transport", workdir, &transport_name, |s| rt.load_transport(s))?;
    let host = Arc::new(FlowTransportHost::new(workdir, config, &transport_name, out, sink));
    let tp = TransportPlugin { transport: Arc::new(transport), host, limits: Limits::transport_default() };
    let transport_id = tp.id().map_err(|e| format!("transport {transport_name}: {}", transport_error_text(&e)))?;
    let exec_name = config.get("WF_EXECUTOR").unwrap_or("executors").to_string();
    let executor = load_component("executor", workdir, &exec_name, |s| rt.load_executor(s))?;
    let mut auditors = Vec::new();
    let names = config.get("WF_AUDITORS").unwrap_or("constitution").to_string();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let a = load_component("auditor", workdir, name, |s| rt.load_auditor(s))?;
        auditors.push(AuditorPlugin { auditor: a, limits: auditor_limits.clone() });
    }
    if auditors.is_empty() {
        return Err("WF_AUDITORS names no auditor; the court needs at least one (default: constitution)".into());
    }
    let external_auditor = config.get("WF_SUBAGENT_VALIDATOR_CMD").filter(|c| !c.trim().is_empty()).map(|c| ExternalAuditor {
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

/// The built-in constitution auditor with default limits (used when P00 fails before plugins
/// are loaded, so the court still has a judge).
pub fn builtin_auditor() -> Result<AuditorPlugin, String> {
    let rt = runtime()?;
    let source = wfhost_builtins::builtin("constitution").map_err(|e| e.to_string())?;
    let a = rt.load_auditor(&source).map_err(|e| e.to_string())?;
    Ok(AuditorPlugin { auditor: a, limits: Limits::auditor_default() })
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
        self.executor.run_phase(&ctx, host, &self.limits.clone().with_wall(wall)).map_err(|f| f.to_string())
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
        self.limits.clone().with_wall(self.limits.wall.max(timeout + Duration::from_secs(30)))
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
        let pods = config.get("WF_LOCAL_PODS_DIR").unwrap_or(".wfhost/pods");
        settings.insert("WF_LOCAL_PODS_DIR".to_string(), workdir.join(pods).display().to_string());
        for key in ["OPS_DEFAULT_HOST", "WF_SSH_OPTIONS", "WF_SSH_ACCEPT_NEW"] {
            if let Some(v) = config.get(key) {
                settings.insert(key.to_string(), v.to_string());
            }
        }
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
        if let Some(p) = config.get_path("WF_SSH_KNOWN_HOSTS") {
            settings.insert("WF_SSH_KNOWN_HOSTS".to_string(), absolute(&p));
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
                candidates.push(Path::new(home).join(".wfhost/ssh").join(&crate::sha256_hex(work_abs.as_bytes())[..12]));
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
            if let Some(identity) = config.secret("WF_SSH_IDENTITY") {
                secrets.insert("ssh_identity".to_string(), absolute(&workdir.join(identity.expose())));
                settings.insert("WF_SSH_IDENTITY_HANDLE".to_string(), "ssh_identity".to_string());
            }
        }
        let host_keys = (transport == "ssh" && config.get_bool01("WF_SSH_ACCEPT_NEW").ok().flatten() == Some(true))
            .then(|| match config.get_path("WF_SSH_KNOWN_HOSTS") {
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

fn load_config(workdir: &Path, env: &BTreeMap<String, String>) -> Result<Config, String> {
    let vocab = Vocabulary::get().map_err(|e| e.to_string())?;
    let loc = ConfigLocation::resolve(workdir, env).map_err(|e| e.to_string())?;
    Config::load_with(&loc, vocab).map_err(|e| e.to_string())
}

fn transport_for(workdir: &Path, config: &Config, target: Option<&str>) -> Result<(TransportPlugin, String, String), String> {
    let rt = runtime()?;
    let name = config.get("WF_TRANSPORT").unwrap_or("local").to_string();
    let t = load_component("transport", workdir, &name, |s| rt.load_transport(s))?;
    let host = Arc::new(FlowTransportHost::new(workdir, config, &name, Output::stdio(), Sink::null()));
    let tp = TransportPlugin { transport: Arc::new(t), host, limits: Limits::transport_default() };
    let target = target
        .map(str::to_string)
        .or_else(|| config.get("LIUM_TARGET").filter(|t| !t.is_empty()).map(str::to_string))
        .ok_or("no target: pass --target <pod> or set LIUM_TARGET")?;
    let target = tp.parse_target(&target).map_err(|e| format!("target {target:?}: {e}"))?;
    let outputs = config.get("OPS_REMOTE_OUTPUTS_DIR").unwrap_or("/mnt/outputs").trim_end_matches('/').to_string();
    Ok((tp, target, format!("{outputs}/_control/workflow_state.json")))
}

/// `wfhost fsm-status`: print the target's workflow_state.json.
pub fn fsm_status(workdir: &Path, env: &BTreeMap<String, String>, target: Option<&str>) -> Result<i32, String> {
    let config = load_config(workdir, env)?;
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
    let config = load_config(workdir, env)?;
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
            line(false, "config", e);
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
        Ok(rt) => match wfhost_builtins::preload(&rt) {
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
        if config.get("LIUM_TARGET").is_some_and(|t| !t.is_empty()) {
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
    Ok(if bad == 0 { 0 } else { 10 })
}

/// `wfhost court audit`: run one auditor on an evidence pack file.
pub fn audit_file(phase: &str, evidence: &Path, auditor: &str) -> Result<(String, bool), String> {
    let c = wfhost_constitution::Constitution::get().map_err(|e| e.to_string())?;
    let p = c.phase(phase).ok_or_else(|| format!("--phase {phase}: not a phase of the constitution (P00..P99)"))?;
    let bytes = std::fs::read(evidence).map_err(|e| format!("--evidence {}: {e}", evidence.display()))?;
    let pack: crate::types::EvidencePack = serde_json::from_slice(&bytes)
        .map_err(|e| format!("--evidence {}: not an evidence pack ({e}); use a phase/phase.<Pxx>.pack.json file", evidence.display()))?;
    let req = crate::court::audit_request(c, p, &pack);
    let rt = runtime()?;
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let a = load_component("auditor", &cwd, auditor, |s| rt.load_auditor(s))?;
    let plugin = AuditorPlugin { auditor: a, limits: Limits::auditor_default() };
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
        "verdict": r.verdict,
    });
    Ok((serde_json::to_string_pretty(&doc).unwrap_or_default(), pass))
}
