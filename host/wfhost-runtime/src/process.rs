//! Running host programs for plugins (and for the flow engine directly).
//!
//! [`ProcessRunner::run`] enforces the policy on every run: the program must be on the caller's
//! allowlist (exact match; bare names are resolved through the policy's `PATH`, never the
//! plugin's); the environment is cleared except `PATH`, `HOME`, `LANG` (taken from the map the
//! caller gave the policy) plus the request's entries; secret entries are resolved through a
//! [`SecretResolver`] and their values are redacted from the captured output, so they never go
//! back to the plugin; stdin is `/dev/null` unless bytes are given (then written and closed);
//! stdout and stderr are captured up to a byte cap each (the rest is drained and dropped,
//! `truncated` is set); a hard timeout kills the whole process group (the child is spawned in a
//! new one). One `poll(2)` loop does all the I/O, so nothing blocks on a pipe: when the child
//! exits, pipes still held open by a background grandchild are given a short grace period and
//! then abandoned, so a detached grandchild never makes `run` hang. `run_streaming` (module
//! `stream`) gives a program's stdout to the caller as it is written instead. Once a signal
//! asked wfhost to stop ([`crate::interrupt`]), a running child's group is killed within one
//! poll and no new child starts.

mod stream;

use crate::types::{CommandResult, RunRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Environment variables kept from the policy's base environment.
pub const KEPT_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];
/// How long pipes may stay open after the child exited (a background grandchild holding them).
const PIPE_GRACE: Duration = Duration::from_millis(200);
/// Secret values shorter than this are not redacted from output (too likely to mangle it).
const MIN_REDACTED_SECRET: usize = 4;
/// What a redacted secret value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Resolves secret handles (e.g. `lium_api_key`) to values inside the host.
pub trait SecretResolver: Send + Sync {
    /// The secret's value, or `None` when the handle is unknown.
    fn resolve(&self, handle: &str) -> Option<String>;

    /// The value for one issuance: `handle` injected as the environment variable `key` of a
    /// run of `program`. Resolvers that keep a custody record (a receipt per issuance)
    /// override this; the default only resolves.
    fn issue(&self, handle: &str, key: &str, program: &str) -> Option<String> {
        let _ = (key, program);
        self.resolve(handle)
    }

    /// The value for one issuance into an HTTP request: `handle` put into header `header` of a
    /// request to `host`. The default only resolves.
    fn issue_header(&self, handle: &str, header: &str, host: &str) -> Option<String> {
        let _ = (header, host);
        self.resolve(handle)
    }
}

/// A resolver that knows no secret.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

impl SecretResolver for NoSecrets {
    fn resolve(&self, _handle: &str) -> Option<String> {
        None
    }
}

impl SecretResolver for BTreeMap<String, String> {
    fn resolve(&self, handle: &str) -> Option<String> {
        self.get(handle).cloned()
    }
}

/// What a runner allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPolicy {
    /// Programs that may run: bare names (resolved through `PATH` below) or absolute paths.
    pub allowed_programs: BTreeSet<String>,
    /// The environment every process starts from (normally `PATH`, `HOME`, `LANG`).
    pub base_env: BTreeMap<String, String>,
    /// Cap on captured stdout and on captured stderr, each, in bytes.
    pub max_output_bytes: usize,
    /// Upper bound on any request's timeout.
    pub max_timeout: Duration,
}

impl ProcessPolicy {
    /// A policy allowing `programs`, keeping [`KEPT_ENV`] from `env` (normally the host's
    /// environment, collected by the caller), with a 16 MiB output cap and a 1 h timeout bound.
    pub fn new<I, S>(programs: I, env: &BTreeMap<String, String>) -> ProcessPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ProcessPolicy {
            allowed_programs: programs.into_iter().map(Into::into).collect(),
            base_env: KEPT_ENV
                .iter()
                .filter_map(|key| env.get(*key).map(|value| (key.to_string(), value.clone())))
                .collect(),
            max_output_bytes: 16 * 1024 * 1024,
            max_timeout: Duration::from_secs(3600),
        }
    }
}

/// One program run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessRequest {
    /// Program name or absolute path; must be on the allowlist exactly.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory (must exist); the runner's own when `None`.
    pub cwd: Option<PathBuf>,
    /// Extra environment entries.
    pub env: Vec<(String, String)>,
    /// Environment entries whose values are secrets: (variable name, secret handle).
    pub secret_env: Vec<(String, String)>,
    /// Bytes written to stdin, then closed; `None` = stdin is `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// Hard timeout (must be > 0; capped by the policy).
    pub timeout: Duration,
}

impl From<RunRequest> for ProcessRequest {
    fn from(request: RunRequest) -> ProcessRequest {
        ProcessRequest {
            program: request.program,
            args: request.args,
            cwd: request.cwd.map(PathBuf::from),
            env: request
                .env
                .into_iter()
                .map(|kv| (kv.key, kv.value))
                .collect(),
            secret_env: request
                .secret_env
                .into_iter()
                .map(|kv| (kv.key, kv.value))
                .collect(),
            stdin: request.stdin,
            timeout: Duration::from_millis(request.timeout_ms),
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutput {
    /// Exit code; `None` when killed by a signal (including the timeout kill).
    pub exit_code: Option<i32>,
    /// The signal that ended the process, if any.
    pub signal: Option<i32>,
    /// Captured stdout (at most the cap; secrets redacted).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most the cap; secrets redacted).
    pub stderr: Vec<u8>,
    /// The timeout fired and the process group was killed.
    pub timed_out: bool,
    /// stdout or stderr was cut to the cap.
    pub truncated: bool,
    /// Wall-clock time of the run.
    pub duration: Duration,
}

impl ProcessOutput {
    /// As the WIT `command-result` (output decoded lossily as UTF-8).
    pub fn into_command_result(self) -> CommandResult {
        CommandResult {
            exit_code: self.exit_code,
            stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
            timed_out: self.timed_out,
            duration_ms: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            truncated: self.truncated,
        }
    }
}

/// A run that was refused or could not start. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program is not on the allowlist.
    #[error("program {program:?} is not allowed; allowed programs: {allowed}")]
    NotAllowed {
        /// The requested program.
        program: String,
        /// The allowlist, comma-separated.
        allowed: String,
    },
    /// The program was not found on the policy's PATH.
    #[error("program {program:?} was not found on PATH ({path}); install it or allowlist its absolute path")]
    NotFound {
        /// The requested program.
        program: String,
        /// The PATH searched.
        path: String,
    },
    /// An environment entry is not acceptable.
    #[error("environment variable {key:?} is refused: {why}")]
    BadEnv {
        /// The variable name.
        key: String,
        /// Why.
        why: &'static str,
    },
    /// A secret handle is unknown to the host.
    #[error(
        "secret handle {handle:?} (for {key}) is not known to the host; configure the secret first"
    )]
    UnknownSecret {
        /// The handle.
        handle: String,
        /// The variable it was meant for.
        key: String,
    },
    /// The working directory does not exist.
    #[error("working directory {0} does not exist or is not a directory")]
    BadCwd(PathBuf),
    /// The request has no timeout.
    #[error("every process needs a timeout; timeout-ms must be greater than 0")]
    NoTimeout,
    /// A signal asked wfhost to stop (see [`crate::interrupt`]): the process was not started,
    /// or its process group was killed.
    #[error("{program:?} was stopped: wfhost received {signal} and is ending the flow")]
    Interrupted {
        /// The program.
        program: String,
        /// The signal's name.
        signal: &'static str,
    },
    /// Spawning or supervising the process failed.
    #[error("cannot run {program:?}: {source}")]
    Io {
        /// The program.
        program: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A command built under the policy, not yet spawned.
struct Prepared {
    command: Command,
    /// Secret values given to it (redacted from its output).
    secret_values: Vec<String>,
    /// Its timeout, within the policy's bound.
    timeout: Duration,
}

/// Runs programs under a [`ProcessPolicy`].
#[derive(Clone)]
pub struct ProcessRunner {
    policy: ProcessPolicy,
    secrets: Arc<dyn SecretResolver>,
}

impl std::fmt::Debug for ProcessRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRunner")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl ProcessRunner {
    /// A runner with a policy and a secret resolver.
    pub fn new(policy: ProcessPolicy, secrets: Arc<dyn SecretResolver>) -> ProcessRunner {
        ProcessRunner { policy, secrets }
    }

    /// The policy.
    pub fn policy(&self) -> &ProcessPolicy {
        &self.policy
    }

    /// `run` for a plugin's `wfhost:plugin/process.run` call: the error is a message for the
    /// plugin.
    pub fn run_wit(&self, request: RunRequest) -> Result<CommandResult, String> {
        self.run(&request.into())
            .map(ProcessOutput::into_command_result)
            .map_err(|e| e.to_string())
    }

    /// Run one program under the policy.
    pub fn run(&self, request: &ProcessRequest) -> Result<ProcessOutput, ProcessError> {
        let Prepared { mut command, secret_values, timeout } = self.prepare(request)?;
        command
            .stdin(if request.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let io_error = |source| ProcessError::Io {
            program: request.program.clone(),
            source,
        };
        let interrupted = |signal| ProcessError::Interrupted { program: request.program.clone(), signal };
        if let Some(signal) = crate::interrupt::received() {
            return Err(interrupted(signal));
        }
        let started = Instant::now();
        let mut child = command.spawn().map_err(io_error)?;
        let _registered = crate::interrupt::register(child.id());
        let supervised = supervise(
            &mut child,
            request.stdin.as_deref(),
            started + timeout,
            self.policy.max_output_bytes,
        );
        let (status, mut stdout, mut stderr, timed_out, truncated) = match supervised {
            Ok(result) => result,
            Err(error) => {
                kill_group(&child);
                let _ = child.wait();
                if let Some(signal) = crate::interrupt::received() {
                    return Err(interrupted(signal));
                }
                return Err(io_error(error));
            }
        };
        for secret in &secret_values {
            stdout = redact(&stdout, secret.as_bytes());
            stderr = redact(&stderr, secret.as_bytes());
        }
        Ok(ProcessOutput {
            exit_code: status.code(),
            signal: status.signal(),
            stdout,
            stderr,
            timed_out,
            truncated,
            duration: started.elapsed(),
        })
    }

    /// The command of `request` under the policy (program resolved, environment cleared and
    /// filled, secrets issued, working directory checked), its secret values and its timeout;
    /// the caller sets its stdio and spawns it.
    fn prepare(&self, request: &ProcessRequest) -> Result<Prepared, ProcessError> {
        let program = self.resolve_program(&request.program)?;
        if request.timeout.is_zero() {
            return Err(ProcessError::NoTimeout);
        }
        let timeout = request.timeout.min(self.policy.max_timeout);
        let mut command = Command::new(&program);
        command
            .args(&request.args)
            .env_clear()
            .envs(&self.policy.base_env);
        for (key, value) in &request.env {
            check_env_key(key)?;
            command.env(key, value);
        }
        let mut secret_values = Vec::new();
        for (key, handle) in &request.secret_env {
            check_env_key(key)?;
            let value =
                self.secrets
                    .issue(handle, key, &request.program)
                    .ok_or_else(|| ProcessError::UnknownSecret {
                        handle: handle.clone(),
                        key: key.clone(),
                    })?;
            command.env(key, &value);
            if value.len() >= MIN_REDACTED_SECRET {
                secret_values.push(value);
            }
        }
        if let Some(cwd) = &request.cwd {
            if !cwd.is_dir() {
                return Err(ProcessError::BadCwd(cwd.clone()));
            }
            command.current_dir(cwd);
        }
        Ok(Prepared { command, secret_values, timeout })
    }

    fn resolve_program(&self, program: &str) -> Result<PathBuf, ProcessError> {
        if !self.policy.allowed_programs.contains(program) {
            return Err(ProcessError::NotAllowed {
                program: program.to_string(),
                allowed: self
                    .policy
                    .allowed_programs
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if program.contains('/') {
            let path = PathBuf::from(program);
            if path.is_absolute() && is_executable(&path) {
                return Ok(path);
            }
            return Err(ProcessError::NotFound {
                program: program.to_string(),
                path: "absolute path".to_string(),
            });
        }
        let path_var = self
            .policy
            .base_env
            .get("PATH")
            .cloned()
            .unwrap_or_default();
        std::env::split_paths(&path_var)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
            .ok_or(ProcessError::NotFound {
                program: program.to_string(),
                path: path_var,
            })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn check_env_key(key: &str) -> Result<(), ProcessError> {
    let why = if key.is_empty() {
        "empty name"
    } else if key.contains('=') || key.contains('\0') {
        "names may not contain '=' or NUL"
    } else if key.starts_with("LD_") || key.starts_with("DYLD_") {
        "dynamic-loader variables could inject code into the host program"
    } else {
        return Ok(());
    };
    Err(ProcessError::BadEnv {
        key: key.to_string(),
        why,
    })
}

/// `haystack` with every occurrence of `secret` replaced by [`REDACTED`].
pub(crate) fn redact(haystack: &[u8], secret: &[u8]) -> Vec<u8> {
    if secret.is_empty() || haystack.len() < secret.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(secret) {
            out.extend_from_slice(REDACTED.as_bytes());
            i += secret.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn kill_group(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the child leads (it was
        // spawned with process_group(0)); no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

fn set_nonblocking(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on a file descriptor we own (a pipe end held by `Child`).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A captured output stream.
struct Capture {
    kept: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capture {
    fn take(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.kept.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

type Supervised = (ExitStatus, Vec<u8>, Vec<u8>, bool, bool);

/// Feed stdin, drain stdout/stderr, enforce the deadline; return when the child has exited and
/// its pipes are closed (or the grace period after exit has passed).
fn supervise(
    child: &mut Child,
    stdin_bytes: Option<&[u8]>,
    deadline: Instant,
    cap: usize,
) -> std::io::Result<Supervised> {
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    for fd in [
        stdin.as_ref().map(|s| s.as_raw_fd()),
        stdout.as_ref().map(|s| s.as_raw_fd()),
        stderr.as_ref().map(|s| s.as_raw_fd()),
    ]
    .into_iter()
    .flatten()
    {
        set_nonblocking(fd)?;
    }
    let mut pending: &[u8] = stdin_bytes.unwrap_or(&[]);
    if pending.is_empty() {
        stdin = None; // closes it: EOF for the child
    }
    let mut out = Capture {
        kept: Vec::new(),
        cap,
        truncated: false,
    };
    let mut err = Capture {
        kept: Vec::new(),
        cap,
        truncated: false,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut status: Option<ExitStatus> = None;
    let mut exited_at: Option<Instant> = None;
    let mut timed_out = false;
    let mut idle = Duration::ZERO;

    loop {
        if status.is_none() {
            if let Some(s) = child.try_wait()? {
                status = Some(s);
                exited_at = Some(Instant::now());
                stdin = None;
            }
        }
        let now = Instant::now();
        if status.is_none() && crate::interrupt::received().is_some() {
            // The flow is being stopped: the child's group goes now (the caller reports it).
            kill_group(child);
            let _ = child.wait();
            return Err(std::io::Error::from(ErrorKind::Interrupted));
        }
        if status.is_none() && now >= deadline {
            timed_out = true;
            kill_group(child);
            let s = child.wait()?;
            status = Some(s);
            exited_at = Some(Instant::now());
            stdin = None;
        }
        if let Some(at) = exited_at {
            let pipes_open = stdout.is_some() || stderr.is_some();
            if !pipes_open || at.elapsed() >= PIPE_GRACE {
                break;
            }
        }

        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
        if let Some(s) = &stdin {
            fds.push(libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        if let Some(s) = &stdout {
            fds.push(libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if let Some(s) = &stderr {
            fds.push(libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // Wake at least every 50 ms to notice the child's exit and the deadline.
        let mut wait = Duration::from_millis(50).min(deadline.saturating_duration_since(now));
        if let Some(at) = exited_at {
            wait = wait.min(PIPE_GRACE.saturating_sub(at.elapsed()));
        }
        let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(50).max(1);
        if !fds.is_empty() {
            // SAFETY: `fds` is a valid array of pollfd of the given length for the whole call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        } else {
            // Both pipes are closed but the child has not been reaped yet (it closes them as
            // it exits): back off from 1 ms rather than sleep the full 50 ms, which would add
            // that much to every short command.
            idle = (idle * 2).clamp(Duration::from_millis(1), wait.max(Duration::from_millis(1)));
            std::thread::sleep(idle.min(wait));
        }

        if let Some(s) = stdin.as_mut() {
            match s.write(pending) {
                Ok(n) => pending = &pending[n..],
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                // The child closed its stdin (EPIPE) or it broke: stop feeding it.
                Err(_) => pending = &[],
            }
            if pending.is_empty() {
                stdin = None;
            }
        }
        drain(&mut stdout, &mut out, &mut buf)?;
        drain(&mut stderr, &mut err, &mut buf)?;
    }
    let status = match status {
        Some(s) => s,
        None => child.wait()?,
    };
    let truncated = out.truncated || err.truncated;
    Ok((status, out.kept, err.kept, timed_out, truncated))
}

/// Read whatever is available; close the stream at EOF.
fn drain<R: Read>(
    stream: &mut Option<R>,
    capture: &mut Capture,
    buf: &mut [u8],
) -> std::io::Result<()> {
    let Some(reader) = stream.as_mut() else {
        return Ok(());
    };
    // Bounded so a producer faster than us cannot keep us from checking the deadline.
    for _ in 0..64 {
        match reader.read(buf) {
            Ok(0) => {
                *stream = None;
                return Ok(());
            }
            Ok(n) => capture.take(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_every_occurrence() {
        assert_eq!(
            redact(b"a s3cret b s3cret", b"s3cret"),
            b"a [redacted] b [redacted]".to_vec()
        );
        assert_eq!(redact(b"short", b"longer secret"), b"short".to_vec());
    }

    #[test]
    fn env_keys_are_checked() {
        assert!(check_env_key("GOOD_NAME").is_ok());
        assert!(check_env_key("").is_err());
        assert!(check_env_key("A=B").is_err());
        assert!(check_env_key("LD_PRELOAD").is_err());
    }

    #[test]
    fn capture_keeps_at_most_the_cap() {
        let mut c = Capture {
            kept: Vec::new(),
            cap: 5,
            truncated: false,
        };
        c.take(b"abc");
        assert!(!c.truncated);
        c.take(b"defgh");
        assert_eq!(c.kept, b"abcde");
        assert!(c.truncated);
    }
}
