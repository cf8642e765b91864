//! What the ssh transport needs from its host, as plain Rust: the `process`, `settings` and
//! `log` imports behind one trait, and the WIT records it exchanges.
//!
//! The WIT glue implements [`Host`] with the real imports; tests implement it with real
//! processes or with a recorder that answers canned results.

use thiserror::Error;

/// A key/value entry.
pub type Kv = (String, String);

/// `transport-error`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The host could not be reached (sshd down, network, name resolution).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The target is gone.
    #[error("vanished: {0}")]
    Vanished(String),
    /// The operation ran out of time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The operation ran and failed (including refused authentication or host keys).
    #[error("failed: {0}")]
    Failed(String),
    /// The request is invalid for this transport.
    #[error("invalid: {0}")]
    Invalid(String),
}

/// `pod-identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentity {
    /// Always `ssh`.
    pub transport: String,
    /// The normalised target.
    pub target: String,
    /// Where it is.
    pub location: String,
}

/// `exec-spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecSpec {
    /// Shell command line run on the target.
    pub command: String,
    /// Remote working directory (default: the login directory).
    pub cwd: Option<String>,
    /// Extra environment.
    pub env: Vec<Kv>,
    /// Timeout.
    pub timeout_ms: u64,
}

/// `command-result`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandResult {
    /// Exit code; `None` when killed.
    pub exit_code: Option<i32>,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Killed by the timeout.
    pub timed_out: bool,
    /// Wall-clock duration.
    pub duration_ms: u64,
    /// Output was cut to the capture limit.
    pub truncated: bool,
}

/// `process.run-request`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunRequest {
    /// Program (`ssh` or `sh`).
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Host working directory.
    pub cwd: Option<String>,
    /// Extra environment.
    pub env: Vec<Kv>,
    /// Environment entries whose values are host secrets: (variable, secret handle).
    pub secret_env: Vec<Kv>,
    /// Bytes for stdin; `None` = closed.
    pub stdin: Option<Vec<u8>>,
    /// Hard timeout.
    pub timeout_ms: u64,
}

/// Log levels of the `log` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Something odd.
    Warn,
}

/// The host capabilities the transport uses.
pub trait Host {
    /// Run a host program (`process.run`); `Err` when it could not be started at all.
    fn run(&self, request: &RunRequest) -> Result<CommandResult, String>;
    /// A non-secret setting (`settings.get`).
    fn setting(&self, key: &str) -> Option<String>;
    /// A log line (`log.emit`).
    fn log(&self, level: Level, message: &str);
}
