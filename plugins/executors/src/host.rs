//! What the executors need from their host, as plain Rust: the `gateway`, `settings` and `log`
//! imports plus a clock behind one trait, and the WIT records they exchange (the ones every role
//! shares, `command-result`, `pod-identity`, `kv` and `log.level`, are the SDK's
//! [`wfhost_pack_sdk::records`], re-exported here).
//!
//! The WIT glue implements [`Host`] with the real imports (sleeping with the WASI clock); tests
//! implement it with real processes on a temp directory standing in for a pod.

pub use wfhost_pack_sdk::records::{CommandResult, Kv, Level, PodIdentity};

/// `gateway-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// Outside the caller's capability (recorded by the host).
    Refused(String),
    /// The pod's host could not be reached.
    Unreachable(String),
    /// The pod no longer exists.
    Vanished(String),
    /// The call ran out of time.
    Timeout(String),
    /// The call ran and failed.
    Failed(String),
}

impl GatewayError {
    /// `refused`, `unreachable`, ... (for facts and details).
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::Refused(_) => "refused",
            GatewayError::Unreachable(_) => "unreachable",
            GatewayError::Vanished(_) => "vanished",
            GatewayError::Timeout(_) => "timeout",
            GatewayError::Failed(_) => "failed",
        }
    }

    /// The host's message.
    pub fn message(&self) -> &str {
        match self {
            GatewayError::Refused(m)
            | GatewayError::Unreachable(m)
            | GatewayError::Vanished(m)
            | GatewayError::Timeout(m)
            | GatewayError::Failed(m) => m,
        }
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

/// `action-class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionClass {
    /// Reads only.
    Read,
    /// Writes inside the bound pod.
    WriteInternal,
    /// An external side effect.
    WriteExternalSideEffect,
}

/// `exec-request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The bound target.
    pub target: String,
    /// POSIX shell command line.
    pub command: String,
    /// Remote working directory (a remote path; the transport resolves it).
    pub cwd: Option<String>,
    /// Extra environment.
    pub env: Vec<Kv>,
    /// Timeout.
    pub timeout_ms: u64,
    /// Side-effect class.
    pub class: ActionClass,
    /// Idempotency key for an external side effect.
    pub idempotency_key: Option<String>,
}

/// `artifact`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Stable name.
    pub name: String,
    /// Path.
    pub path: String,
    /// Hex sha256.
    pub sha256: Option<String>,
}

/// The host capabilities the executors use.
pub trait Host {
    /// `gateway.provision`.
    fn provision(&self, name_hint: &str) -> Result<PodIdentity, GatewayError>;
    /// `gateway.pod-status`.
    fn pod_status(&self, target: &str) -> Result<(String, String), GatewayError>;
    /// `gateway.resolve-path`.
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, GatewayError>;
    /// `gateway.exec`.
    fn exec(&self, request: &ExecRequest) -> Result<CommandResult, GatewayError>;
    /// `gateway.put-file`.
    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), GatewayError>;
    /// `gateway.fetch-dir`.
    fn fetch_dir(
        &self,
        target: &str,
        remote_dir: &str,
        local_rel: &str,
    ) -> Result<Vec<Artifact>, GatewayError>;
    /// `gateway.delete-pod`.
    fn delete_pod(&self, target: &str) -> Result<(), GatewayError>;
    /// `settings.get`.
    fn setting(&self, key: &str) -> Option<String>;
    /// `log.emit`.
    fn log(&self, level: Level, message: &str);
    /// Sleep (polling loops).
    fn sleep_ms(&self, ms: u64);
    /// Monotonic milliseconds (deadlines).
    fn now_ms(&self) -> u64;
}
