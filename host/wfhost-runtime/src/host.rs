//! The traits the embedder (the flow engine) implements to serve plugin imports.
//!
//! A plugin call gets an `Arc` of one of these; the capability modules forward each WIT import to
//! it. [`PluginHost`] serves `log` and `settings` (every role that has imports); [`ExecutorHost`]
//! adds the `gateway` methods, [`TransportHost`] the `process`, `http` and `memo` capabilities. Implementations do the
//! policy work (capability scope, action class, consent, receipts); the runtime only bounds and
//! forwards. Methods take `&self`: one host may serve concurrent calls, so use interior
//! mutability for state.

use crate::capability::memo::Memo;
use crate::types::{
    Artifact, CommandResult, ExecRequest, GatewayError, HttpRequestRecord, HttpResponseRecord,
    LogLevel, PodIdentity, PodReport, RunRequest, WitHttpError,
};

/// Logging and settings, shared by executors and transports.
pub trait PluginHost: Send + Sync {
    /// A log line from the plugin (`wfhost:plugin/log.emit`). Messages longer than 16 KiB are cut.
    fn log(&self, level: LogLevel, message: &str);

    /// A non-secret setting (`wfhost:plugin/settings.get`), e.g. `WF_LOCAL_PODS_DIR`.
    fn setting(&self, key: &str) -> Option<String>;
}

/// What a phase executor may ask of the host: the `wfhost:plugin/gateway` interface.
pub trait ExecutorHost: PluginHost {
    /// The flow's bound target (`None` before P20).
    fn bound_target(&self) -> Option<String>;
    /// Create a pod (external side effect: needs consent).
    fn provision(&self, name_hint: &str) -> Result<PodIdentity, GatewayError>;
    /// Status of a target: its state and a detail line.
    fn pod_status(&self, target: &str) -> Result<PodReport, GatewayError>;
    /// Map a remote absolute path to where it really lives on the target.
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, GatewayError>;
    /// Run a command on a target.
    fn exec(&self, request: ExecRequest) -> Result<CommandResult, GatewayError>;
    /// Write a file on a target.
    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), GatewayError>;
    /// Read at most `max_bytes` of a file on a target.
    fn get_file(&self, target: &str, path: &str, max_bytes: u64) -> Result<Vec<u8>, GatewayError>;
    /// Copy a remote directory back under the flow's evidence directory.
    fn fetch_dir(
        &self,
        target: &str,
        remote_dir: &str,
        local_rel: &str,
    ) -> Result<Vec<Artifact>, GatewayError>;
    /// Delete a pod (external side effect: needs explicit `--teardown delete`).
    fn delete_pod(&self, target: &str) -> Result<(), GatewayError>;
}

/// What a transport may ask of the host: the `wfhost:plugin/process`, `http` and `memo`
/// capabilities. Implementations normally check scope, then delegate to a
/// [`ProcessRunner`](crate::process::ProcessRunner) configured with the plugin's program
/// allowlist and an [`HttpClient`](crate::http::HttpClient) configured with its hosts.
pub trait TransportHost: PluginHost {
    /// Run a host program (`wfhost:plugin/process.run`). `Err` is a refusal or a spawn failure,
    /// as a message the plugin will see (it must never contain a secret value).
    fn run_process(&self, request: RunRequest) -> Result<CommandResult, String>;

    /// Send an HTTP request (`wfhost:plugin/http.send`). The default refuses every request: a
    /// host that gives a transport HTTP overrides it.
    fn http_send(&self, request: HttpRequestRecord) -> Result<HttpResponseRecord, WitHttpError> {
        Err(WitHttpError::Refused(format!("{}: this host gives the transport no HTTP", request.url)))
    }

    /// The transport's memo for the flow (`wfhost:plugin/memo`); `None` (the default): no memo,
    /// `set` is refused.
    fn memo(&self) -> Option<&Memo> {
        None
    }
}

/// The host for calls that must not reach anything (e.g. `phases()`): logs are dropped, settings
/// are absent, every gateway call is refused.
pub(crate) struct NoHost;

impl PluginHost for NoHost {
    fn log(&self, _level: LogLevel, _message: &str) {}

    fn setting(&self, _key: &str) -> Option<String> {
        None
    }
}

fn refused<T>() -> Result<T, GatewayError> {
    Err(GatewayError::Refused(
        "no gateway access outside run-phase".to_string(),
    ))
}

impl ExecutorHost for NoHost {
    fn bound_target(&self) -> Option<String> {
        None
    }
    fn provision(&self, _: &str) -> Result<PodIdentity, GatewayError> {
        refused()
    }
    fn pod_status(&self, _: &str) -> Result<PodReport, GatewayError> {
        refused()
    }
    fn resolve_path(&self, _: &str, _: &str) -> Result<String, GatewayError> {
        refused()
    }
    fn exec(&self, _: ExecRequest) -> Result<CommandResult, GatewayError> {
        refused()
    }
    fn put_file(&self, _: &str, _: &str, _: Vec<u8>, _: u32) -> Result<(), GatewayError> {
        refused()
    }
    fn get_file(&self, _: &str, _: &str, _: u64) -> Result<Vec<u8>, GatewayError> {
        refused()
    }
    fn fetch_dir(&self, _: &str, _: &str, _: &str) -> Result<Vec<Artifact>, GatewayError> {
        refused()
    }
    fn delete_pod(&self, _: &str) -> Result<(), GatewayError> {
        refused()
    }
}
