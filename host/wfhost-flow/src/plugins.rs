//! Loading and calling the flow's plugins through `wfhost-runtime`.
//!
//! P00 loads every component a flow will use — the transport (`WF_TRANSPORT`), the executor
//! (`WF_EXECUTOR`), the auditors (`WF_AUDITORS`) and the optional external auditor command —
//! so a missing or refused plugin fails the flow before anything is created, never half-way.
//! Each is a `.wasm` path, a built-in, or an installed pack (resolved by [`crate::packs`]: a
//! pack's transport gets the profile its manifest declares, and the flow records the pack's
//! id, version and identity beside each component's sha256);
//! then the transport checks the settings it reads ([`Plugins::check_config`]), so a value it
//! would refuse fails P00 too.
//! This module also owns the host side of a transport's imports (its settings and its process
//! allowlist) and the small diagnostic commands that talk to a transport directly
//! (`fsm-status`, `fsm-reset`, `doctor`, `court audit`).

use wfhost_config::config::{Config, Vocabulary};
use wfhost_config::profile::TransportProfile;
use wfhost_constitution::keys::{self, Key, Uint};
use wfhost_constitution::{codes, Code};
use crate::court::external::ExternalAuditor;
use crate::court::AuditorRecord;
use crate::fetch::{self, Budget, Unpacked};
use crate::gateway::{FlowGateway, GatewayShared};
use crate::host_keys::HostKeyWatch;
use crate::output::Output;
use crate::packs::{self, FlowPack};
use crate::sink::Sink;
use wfhost_pack::{PackSettings, Role as PackRole};
use crate::types::{
    AuditRequest, CommandResult, ExecSpec, HttpRequestRecord, HttpResponseRecord, LogLevel, PhaseContext, PhaseOutcome,
    PodIdentity, RunRequest, WitHttpError,
};
use wfhost_runtime::http::{HttpClient, HttpPolicy};
use wfhost_runtime::Memo;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wfhost_runtime::process::{NoSecrets, ProcessPolicy, ProcessRunner};
use wfhost_runtime::{
    Auditor, ComponentSource, Executor, ExecutorHost, Limits, LoadError, PluginHost, Runtime,
    RuntimeOptions, Transport, TransportError, TransportHost,
};

/// The profile of the transport `WF_TRANSPORT` names: a built-in's declared profile, a pack's
/// (the capabilities of its manifest), or the empty one for a component given by path (it gets
/// no program, setting or secret).
pub fn transport_profile(name: &str, located: &Located) -> Result<TransportProfile, String> {
    if let Some(profile) = located.pack.as_ref().and_then(|p| p.profile.clone()) {
        return Ok(profile);
    }
    let vocab = Vocabulary::get().map_err(|e| e.to_string())?;
    match wfhost_builtins::profile(name) {
        Some(text) => TransportProfile::parse(text, &format!("of the built-in transport {name}"), vocab).map_err(|e| e.to_string()),
        None => Ok(TransportProfile::empty(name)),
    }
}

/// The process-wide runtime (one engine, one cache), configured from `env` (the request's
/// environment: the library never reads the process environment itself) on first use.
pub fn runtime(env: &BTreeMap<String, String>) -> Result<Arc<Runtime>, String> {
    static RT: OnceLock<Result<Arc<Runtime>, String>> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(RuntimeOptions::from_env_map(env)).map(Arc::new).map_err(|e| format!("cannot start the plugin runtime: {e}"))
    })
    .clone()
}

/// A component a config names, found: its source and, for an installed pack, the pack.
pub struct Located {
    source: ComponentSource,
    pack: Option<FlowPack>,
}

/// Find the component `spec` names for `role`: a file (`*.wasm` or a path, relative to
/// `workdir`), a built-in of `wfhost-builtins`, or an installed pack (`id`, `id@version`,
/// `id#identity`) in the store `config` (or, without one, `env`) names. The error reads
/// `<what> <spec>: <why>` with its code: `PACK_MISSING` or `PACK_REFUSED` for a pack,
/// `PLUGIN_UNAVAILABLE` otherwise.
pub fn locate(what: &str, role: PackRole, workdir: &Path, spec: &str, config: Option<&Config>, env: &BTreeMap<String, String>) -> Result<Located, (Code, String)> {
    if spec.ends_with(".wasm") || spec.contains('/') {
        return Ok(Located { source: ComponentSource::file(workdir.join(spec)), pack: None });
    }
    if let Ok(source) = wfhost_builtins::builtin(spec) {
        return Ok(Located { source, pack: None });
    }
    let settings = PackSettings::resolve(workdir, env, config).map_err(|e| (codes::CONFIG_INVALID, format!("{what} {spec}: {e}")))?;
    let pack = packs::resolve(spec, role, &settings).map_err(|(code, e)| (code, format!("{what} {spec}: {e}")))?;
    Ok(Located { source: pack.source.clone(), pack: Some(pack) })
}

/// Load a located component with `load`; a refusal is `PLUGIN_UNAVAILABLE` reading
/// `<what> <spec>: <why>` (for a pack, `<why>` names the pack and its component).
fn load_located<T>(what: &str, spec: &str, located: &Located, load: impl FnOnce(&ComponentSource) -> Result<T, LoadError>) -> Result<T, (Code, String)> {
    load(&located.source).map_err(|e| match &located.pack {
        Some(p) => (codes::PACK_REFUSED, format!("{what} {spec}: pack {}@{}: {e}", p.record["id"].as_str().unwrap_or_default(), p.record["version"].as_str().unwrap_or_default())),
        None => (codes::PLUGIN_UNAVAILABLE, format!("{what} {spec}: {e}")),
    })
}

/// Locate and load, for the commands that are not flows (errors as text).
fn load_component<T>(what: &str, role: PackRole, workdir: &Path, spec: &str, config: Option<&Config>, env: &BTreeMap<String, String>, load: impl FnOnce(&ComponentSource) -> Result<T, LoadError>) -> Result<(T, Located), String> {
    let located = locate(what, role, workdir, spec, config, env).map_err(|(_, e)| e)?;
    let loaded = load_located(what, spec, &located, load).map_err(|(_, e)| e)?;
    Ok((loaded, located))
}

/// The pack record of a located component, for evidence (`null` for a file or a built-in).
fn pack_record(located: &Located) -> Value {
    located.pack.as_ref().map(|p| p.record.clone()).unwrap_or(Value::Null)
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
    /// The pack of the transport, the executor and each auditor (`null` when not a pack).
    packs: (Value, Value, Vec<Value>),
}

impl Plugins {
    /// The transport's `check-config` (P00, right after loading): a config value it refuses is
    /// `CONFIG_INVALID`, any other failure `PLUGIN_UNAVAILABLE`; the message names the transport,
    /// what it refuses and where to fix it.
    pub fn check_config(&self, config_path: &str) -> Result<(), (Code, String)> {
        match self.transport.check_config() {
            Ok(()) => Ok(()),
            Err(TransportError::Invalid(m)) => Err((
                codes::CONFIG_INVALID,
                format!("the {} transport refuses its config: {m}; fix it in {config_path}", self.transport_id),
            )),
            Err(e) => Err((
                codes::PLUGIN_UNAVAILABLE,
                format!("the {} transport could not check its config: {}", self.transport_id, transport_error_text(&e)),
            )),
        }
    }

    /// What was loaded, for evidence.
    pub fn describe(&self) -> Value {
        json!({
            "transport": {"id": self.transport_id, "component": self.transport.transport.name(), "sha256": self.transport.transport.sha256(), "cache": self.transport.transport.load_source(), "pack": self.packs.0},
            "executor": {"component": self.executor.executor.name(), "sha256": self.executor.executor.sha256(), "cache": self.executor.executor.load_source(), "pack": self.packs.1},
            "auditors": self.auditors.iter().zip(&self.packs.2).map(|(a, p)| json!({"component": a.auditor.name(), "sha256": a.auditor.sha256(), "cache": a.auditor.load_source(), "pack": p})).collect::<Vec<_>>(),
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

/// Load every plugin the config names. The error names the plugin and why, with its code
/// (`PLUGIN_UNAVAILABLE`, or for a pack `PACK_MISSING` / `PACK_REFUSED`).
pub fn load(workdir: &Path, config: &Config, env: &BTreeMap<String, String>, sink: Sink, out: Output) -> Result<Plugins, (Code, String)> {
    let unavailable = |e: String| (codes::PLUGIN_UNAVAILABLE, e);
    let rt = runtime(env).map_err(unavailable)?;
    let auditor_limits = auditor_limits(config);
    let transport_name = config.value(keys::WF_TRANSPORT).to_string();
    let located = locate("transport", PackRole::Transport, workdir, &transport_name, Some(config), env)?;
    let transport = load_located("transport", &transport_name, &located, |s| rt.load_transport(s))?;
    let profile = transport_profile(&transport_name, &located).map_err(unavailable)?;
    let host = Arc::new(FlowTransportHost::new(workdir, config, &profile, &located, env, out, sink));
    let tp = TransportPlugin { transport: Arc::new(transport), host, limits: Limits::transport_default() };
    let transport_id = tp.id().map_err(|e| unavailable(format!("transport {transport_name}: {}", transport_error_text(&e))))?;
    let transport_pack = pack_record(&located);
    let exec_name = config.value(keys::WF_EXECUTOR).to_string();
    let located = locate("executor", PackRole::Executor, workdir, &exec_name, Some(config), env)?;
    let executor = load_located("executor", &exec_name, &located, |s| rt.load_executor(s))?;
    let executor_pack = pack_record(&located);
    let mut auditors = Vec::new();
    let mut auditor_packs = Vec::new();
    for name in config.list(keys::WF_AUDITORS) {
        let located = locate("auditor", PackRole::Auditor, workdir, &name, Some(config), env)?;
        let a = load_located("auditor", &name, &located, |s| rt.load_auditor(s))?;
        auditors.push(AuditorPlugin { auditor: a, limits: auditor_limits });
        auditor_packs.push(pack_record(&located));
    }
    if auditors.is_empty() {
        return Err(unavailable(format!(
            "{} names no auditor; the court needs at least one (default: {})",
            keys::WF_AUDITORS,
            keys::WF_AUDITORS.default().unwrap_or_default()
        )));
    }
    let external_auditor = config.get(keys::WF_SUBAGENT_VALIDATOR_CMD).filter(|c| !c.trim().is_empty()).map(|c| ExternalAuditor {
        command: c.to_string(),
        env: env.clone(),
        timeout: auditor_limits.wall,
    });
    Ok(Plugins {
        transport: tp,
        transport_id,
        executor: ExecutorPlugin { executor, limits: Limits::executor_default() },
        auditors,
        external_auditor,
        packs: (transport_pack, executor_pack, auditor_packs),
    })
}

/// The name of the built-in auditor component, the court's judge when no config could be read.
pub const BUILTIN_AUDITOR: &str = "constitution";

/// The built-in constitution auditor with the vocabulary's default limits (used when P00 fails
/// before a config could be read and plugins loaded, so the court still has a judge).
pub fn builtin_auditor(env: &BTreeMap<String, String>) -> Result<AuditorPlugin, String> {
    let rt = runtime(env)?;
    let source = wfhost_builtins::builtin(BUILTIN_AUDITOR).map_err(|e| e.to_string())?;
    let a = rt.load_auditor(&source).map_err(|e| e.to_string())?;
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

/// Why a fetch failed.
#[derive(Debug)]
pub enum FetchError {
    /// The transport refused, or judged the streaming program's end a failure.
    Transport(TransportError),
    /// The streaming program could not run.
    Process(String),
    /// The archive could not be unpacked within the budget.
    Unpack(fetch::UnpackError),
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
    /// Give the transport's host side the flow's gateway state (once; later calls keep the
    /// first): its HTTP side effects run under the flow's grants and are recorded there.
    pub fn attach(&self, gateway: &Arc<GatewayShared>) {
        let _ = self.host.gateway.set(gateway.clone());
    }
    fn limits_for(&self, timeout: Duration) -> Limits {
        self.limits.with_wall(self.limits.wall.max(timeout.saturating_add(Duration::from_secs(30))))
    }
    /// Transport id.
    pub fn id(&self) -> Result<String, TransportError> {
        self.transport.id(self.h(), &self.limits)
    }
    /// Check the settings the transport reads (`check-config`), reaching no pod.
    pub fn check_config(&self) -> Result<(), TransportError> {
        self.transport.check_config(self.h(), &self.limits)
    }
    /// Validate a target string.
    pub fn parse_target(&self, target: &str) -> Result<String, TransportError> {
        self.transport.parse_target(self.h(), &self.limits, target)
    }
    /// Create a pod, within `wall` (what is left of the provisioning phase): a transport that
    /// waits for its pod to come up may use it, however short or long the default call limit.
    pub fn provision(&self, hint: &str, key: &str, wall: Duration) -> Result<PodIdentity, TransportError> {
        self.transport.provision(self.h(), &self.limits.with_wall(wall.max(Duration::from_secs(1))), hint, key)
    }
    /// Pod status.
    pub fn status(&self, target: &str) -> Result<crate::types::PodReport, TransportError> {
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
    /// Bring `remote` back into `dest` within `budget`: the transport names the program that
    /// streams it as a tar archive, the host runs that program under the transport's process
    /// policy (its time bounded by the budget's deadline) and unpacks what it writes itself
    /// ([`crate::fetch`]), then the transport judges how the program ended. Also returns the
    /// program's stderr (the remote `tar`'s warnings).
    pub fn fetch_into(&self, target: &str, remote: &str, dest: &cap_std::fs::Dir, budget: &Budget) -> Result<(Unpacked, String), FetchError> {
        let source = self.transport.fetch_command(self.h(), &self.limits, target, remote).map_err(FetchError::Transport)?;
        let mut request: wfhost_runtime::process::ProcessRequest = source.command.into();
        if let Some(deadline) = budget.deadline {
            request.timeout = request.timeout.min(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
        }
        let begin = source.begin_after;
        let ran = self.host.runner.run_streaming(&request, |out: &mut dyn std::io::Read| {
            if let Some(marker) = &begin {
                fetch::skip_to_line(out, marker)?;
            }
            fetch::unpack(out, dest, budget)
        });
        if let Some(watch) = &self.host.host_keys {
            watch.check();
        }
        let (output, unpacked) = ran.map_err(|e| FetchError::Process(e.to_string()))?;
        let ended = output.into_command_result();
        let stderr = ended.stderr.clone();
        match unpacked {
            // The host stopped the program (cap, time, entries, a write): that is the cause.
            Err(e) if !matches!(e, fetch::UnpackError::Archive(_)) => Err(FetchError::Unpack(e)),
            // Otherwise the transport's judgement comes first: a connection that failed or a
            // missing directory also leaves the archive short or empty.
            unpacked => {
                self.transport.fetch_ended(self.h(), &self.limits, target, remote, &ended).map_err(FetchError::Transport)?;
                match unpacked {
                    Err(_) if ended.timed_out => Err(FetchError::Unpack(fetch::UnpackError::OutOfTime { bytes: 0 })),
                    other => other.map(|u| (u, stderr)).map_err(FetchError::Unpack),
                }
            }
        }
    }
    /// Delete a pod.
    pub fn delete(&self, target: &str) -> Result<(), TransportError> {
        self.transport.delete(self.h(), &self.limits, target)
    }
    /// A fixed setting the transport's profile declares for the flow's executor.
    pub fn executor_setting(&self, key: &str) -> Option<String> {
        self.host.executor_settings.get(key).cloned()
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
        self.issued(handle, format!("process {program}, environment variable {key}"), "one process run", "when the process exits")
    }

    fn issue_header(&self, handle: &str, header: &str, host: &str) -> Option<String> {
        self.issued(handle, format!("HTTP header {header} of a request to {host}"), "one HTTP request", "when the request is answered")
    }
}

impl Custody {
    /// The value of `handle`, after its `secret.issued` record.
    fn issued(&self, handle: &str, audience: String, scope: &str, expires: &str) -> Option<String> {
        let value = self.secrets.get(handle).cloned()?;
        self.sink.event("secret.issued", &format!("secret/{handle}"), json!({
            "handle": handle,
            "audience": audience,
            "scope": scope,
            "requester": self.requester,
            "expires": expires,
        }));
        Some(value)
    }
}

/// The host side of a transport's imports.
pub struct FlowTransportHost {
    settings: BTreeMap<String, String>,
    runner: ProcessRunner,
    /// Its HTTP client, when its profile declares hosts.
    http: Option<HttpClient>,
    /// Its memo for the flow.
    memo: Memo,
    /// The evidence sink (HTTP reads, refusals before the gateway is attached).
    sink: Sink,
    /// The flow's gateway state, attached when the first executor call starts: HTTP side
    /// effects run under its grants and are recorded as its calls.
    gateway: OnceLock<Arc<GatewayShared>>,
    out: Output,
    /// What the transport may reach (its profile or pack manifest) and who it is, for refusals.
    declared: Declared,
    /// With ssh and WF_SSH_ACCEPT_NEW=1: the known_hosts file, watched for keys trusted on
    /// first use.
    host_keys: Option<HostKeyWatch>,
    /// What the profile declares for the executor's `settings` import.
    executor_settings: BTreeMap<String, String>,
}

/// What a transport declared it reaches, where it declared it, and where refusals are recorded.
struct Declared {
    programs: Vec<String>,
    /// The secret handles that may reach a process (a grant without an `http_header`).
    process_secrets: Vec<String>,
    /// The secret handles that go into an HTTP header only.
    header_secrets: Vec<String>,
    /// `transport <id> (<component>)`.
    who: String,
    /// `pack.json capabilities` or `profile.toml`.
    source: &'static str,
    sink: Sink,
    refusals: std::sync::atomic::AtomicU64,
}

impl Declared {
    /// Record a refusal (`gateway.refused`, actor the transport) and return its message, which
    /// names the transport, its component and the rule.
    fn refuse(&self, op: &str, asked: &str, declared_as: &str, allowed: &[String]) -> String {
        let message = format!(
            "{} may {op} only what is declared under {declared_as} in its {} ({}); {asked:?} is refused",
            self.who,
            self.source,
            if allowed.is_empty() { "nothing".to_string() } else { allowed.join(", ") }
        );
        let n = self.refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let entry = wfhost_audit::records::GatewayCallEntry {
            op: format!("transport.{op}"),
            target: None,
            class: "WRITE_EXTERNAL_SIDE_EFFECT".to_string(),
            ok: false,
            duration_ms: 0,
            detail: message.clone(),
        };
        self.sink.event_as("gateway.refused", &format!("transport/{op}/{n}"), wfhost_audit::records::to_value(&entry), wfhost_evidence::Actor::new("plugin", self.who.clone()));
        message
    }
}

impl FlowTransportHost {
    /// The host side of a transport with `profile`: only what the profile declares.
    fn new(workdir: &Path, config: &Config, profile: &TransportProfile, located: &Located, env: &BTreeMap<String, String>, out: Output, sink: Sink) -> FlowTransportHost {
        let declared = Declared {
            programs: profile.programs.clone(),
            process_secrets: profile.secrets.iter().filter(|g| g.http_header.is_none()).map(|g| g.handle.clone()).collect(),
            header_secrets: profile.secrets.iter().filter(|g| g.http_header.is_some()).map(|g| g.handle.clone()).collect(),
            who: format!("transport {} ({})", profile.id, located.source.name()),
            source: if located.pack.is_some() { "pack.json capabilities" } else { "profile" },
            sink: sink.clone(),
            refusals: std::sync::atomic::AtomicU64::new(0),
        };
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
        let mut settings = BTreeMap::new();
        for key in &profile.settings {
            // A local path is made absolute: the component runs its programs from anywhere.
            let value = match config.path_by_name(key) {
                Some(p) if config.is_local_path_by_name(key) => Some(absolute(&p)),
                _ => config.get_by_name(key).map(str::to_string),
            };
            if let Some(v) = value {
                settings.insert(key.clone(), v);
            }
        }
        // Secrets: the component only learns a handle's name; the value reaches a process's
        // environment only, and each issuance is recorded.
        let mut secrets: BTreeMap<String, String> = BTreeMap::new();
        for grant in &profile.secrets {
            if let Some(value) = config.secret_by_name(&grant.key) {
                let value = if config.is_local_path_by_name(&grant.key) {
                    absolute(&workdir.join(value.expose()))
                } else {
                    value.expose().to_string()
                };
                secrets.insert(grant.handle.clone(), value);
                settings.insert(grant.setting.clone(), grant.handle.clone());
            }
        }
        if let Some(setting) = &profile.socket_dir {
            if let Some(dir) = socket_dir(workdir, env, &out) {
                settings.insert(setting.clone(), dir);
            }
        }
        let host_keys = profile
            .known_hosts_watch
            .as_ref()
            .filter(|w| w.when.as_ref().is_none_or(|when| config.bool01_by_name(when).ok().flatten() == Some(true)))
            .and_then(|w| match config.path_by_name(&w.file) {
                Some(p) => Some(std::path::absolute(&p).unwrap_or(p)),
                None => env.get("HOME").map(|h| Path::new(h).join(".ssh/known_hosts")),
            })
            .map(|path| HostKeyWatch::new(path, sink.clone()));
        let policy = ProcessPolicy::new(profile.programs.iter().map(String::as_str), env);
        let resolver: Arc<dyn wfhost_runtime::process::SecretResolver> = if secrets.is_empty() {
            Arc::new(NoSecrets)
        } else {
            Arc::new(Custody { secrets, sink: sink.clone(), requester: format!("transport:{}", profile.id) })
        };
        // HTTP: the hosts the profile declares, under the base URLs the config sets in the keys
        // the profile names.
        let http = (!profile.http_hosts.is_empty()).then(|| {
            let bases = profile.http_base_url_keys.iter().filter_map(|k| config.get_by_name(k)).filter(|v| !v.trim().is_empty()).map(|v| v.trim().to_string());
            let headers = profile.secrets.iter().filter_map(|g| g.http_header.clone().map(|h| (g.handle.clone(), h)));
            let declared_in = match &located.pack {
                Some(p) => format!("pack {}@{}'s pack.json", p.record["id"].as_str().unwrap_or_default(), p.record["version"].as_str().unwrap_or_default()),
                None => format!("the {} transport's profile", profile.id),
            };
            let policy = HttpPolicy::new(&profile.http_hosts, bases).with_secret_headers(headers).described(declared_in, &profile.http_base_url_keys);
            HttpClient::new(policy, resolver.clone())
        });
        FlowTransportHost {
            settings,
            runner: ProcessRunner::new(policy, resolver),
            http,
            memo: Memo::new(),
            sink,
            gateway: OnceLock::new(),
            out,
            declared,
            host_keys,
            executor_settings: profile.executor_settings.clone(),
        }
    }
}

/// A private directory for unix sockets (ssh's ControlMaster): `<workdir>/.wfhost/ssh-control`,
/// or, when that path is too long for a socket (with ssh's `/%C` and temporary suffix, 49 bytes
/// at most), a per-workdir directory under `$HOME/.wfhost/ssh`. `None` (said on stderr) when
/// neither works: connection sharing is then off.
fn socket_dir(workdir: &Path, env: &BTreeMap<String, String>, out: &Output) -> Option<String> {
    const MAX_SOCKET_DIR: usize = 49;
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    let work_abs = absolute(workdir);
    let mut candidates = vec![workdir.join(".wfhost/ssh-control")];
    if let Some(home) = env.get("HOME").filter(|h| h.starts_with('/')) {
        candidates.push(Path::new(home).join(".wfhost/ssh").join(&wfhost_evidence::hash::sha256_hex(work_abs.as_bytes())[..12]));
    }
    let Some(dir) = candidates.into_iter().find(|c| absolute(c).len() <= MAX_SOCKET_DIR) else {
        out.note(&format!(
            "transport: no short enough directory for ssh control sockets ({work_abs}/.wfhost/ssh-control and $HOME/.wfhost/ssh are too long); ssh connection sharing is off"
        ));
        return None;
    };
    let made = std::fs::create_dir_all(&dir).and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
    });
    match made {
        Ok(()) => Some(absolute(&dir)),
        Err(e) => {
            out.note(&format!("transport: cannot create {} ({e}); ssh connection sharing is off", dir.display()));
            None
        }
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
        let d = &self.declared;
        if !d.programs.contains(&request.program) {
            return Err(d.refuse("run", &request.program, "programs", &d.programs));
        }
        // A secret granted for an HTTP header never reaches a process: the process's output
        // comes back to the component, which could read the value out of it in any encoding.
        if let Some(kv) = request.secret_env.iter().find(|kv| d.header_secrets.contains(&kv.value)) {
            return Err(d.refuse("inject into a process", &kv.value, "secrets without an http_header", &d.process_secrets));
        }
        let result = self.runner.run_wit(request);
        if let Some(watch) = &self.host_keys {
            watch.check();
        }
        result
    }

    fn http_send(&self, request: HttpRequestRecord) -> Result<HttpResponseRecord, WitHttpError> {
        crate::transport_http::send(self.http.as_ref(), self.gateway.get(), &self.sink, request)
    }

    fn memo(&self) -> Option<&Memo> {
        Some(&self.memo)
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
        } else {
            self.gw_debug(message);
        }
    }
    /// The executor's settings: only what the transport's profile declares for it.
    fn setting(&self, key: &str) -> Option<String> {
        self.transport().executor_setting(key)
    }
}

impl ExecutorHost for FlowGateway {
    fn bound_target(&self) -> Option<String> {
        self.gw_bound_target()
    }
    fn provision(&self, name_hint: &str) -> Result<PodIdentity, crate::types::GatewayError> {
        self.gw_provision(name_hint.to_string())
    }
    fn pod_status(&self, target: &str) -> Result<crate::types::PodReport, crate::types::GatewayError> {
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

/// The transport the config names, with its host side, for a command that is not a flow
/// (`fsm-status`, `doctor`): no evidence sink, output to stdio.
pub fn standalone_transport(workdir: &Path, config: &Config, env: &BTreeMap<String, String>) -> Result<TransportPlugin, String> {
    let rt = runtime(env)?;
    let name = config.value(keys::WF_TRANSPORT).to_string();
    let (t, located) = load_component("transport", PackRole::Transport, workdir, &name, Some(config), env, |s| rt.load_transport(s))?;
    let profile = transport_profile(&name, &located)?;
    let host = Arc::new(FlowTransportHost::new(workdir, config, &profile, &located, env, Output::stdio(), Sink::null()));
    Ok(TransportPlugin { transport: Arc::new(t), host, limits: Limits::transport_default() })
}

/// Load one auditor by name (built-in), `.wasm` path (relative to `workdir`) or installed pack
/// (in the store `config` or `env` names) with `limits`.
pub fn load_auditor(workdir: &Path, name: &str, limits: Limits, config: Option<&Config>, env: &BTreeMap<String, String>) -> Result<AuditorPlugin, String> {
    let rt = runtime(env)?;
    let (a, _) = load_component("auditor", PackRole::Auditor, workdir, name, config, env, |s| rt.load_auditor(s))?;
    Ok(AuditorPlugin { auditor: a, limits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfhost_config::config::{ConfigError, ConfigLocation};

    fn load_config(workdir: &Path, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        Config::load(&ConfigLocation::resolve(workdir, env)?)
    }

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
    fn a_transport_reaches_only_its_declared_programs() {
        let (dir, c) = config("");
        let profile = TransportProfile { programs: vec!["sh".into()], ..TransportProfile::empty("acme") };
        let located = Located { source: ComponentSource::file("acme.wasm"), pack: None };
        let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k == "PATH").collect();
        let host = FlowTransportHost::new(dir.path(), &c, &profile, &located, &env, Output::stdio(), Sink::null());
        let run = |program: &str| host.run_process(RunRequest {
            program: program.into(), args: vec!["-c".into(), "echo hi".into()], cwd: None, env: vec![], secret_env: vec![], stdin: None, timeout_ms: 5_000,
        });
        assert_eq!(run("sh").unwrap().stdout, "hi\n");
        let e = run("curl").unwrap_err();
        assert!(e.contains("transport acme (acme.wasm)") && e.contains("declared under programs in its profile (sh)") && e.contains("\"curl\" is refused"), "{e}");
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
