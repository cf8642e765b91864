//! Host-side test support (not built for wasm): run a real process the way the wfhost host
//! does for plugins, so plugin logic can be tested with `cargo test` against real `sh`, `git`
//! and files.
//!
//! [`run`] clears the environment (keeping `PATH`), feeds optional stdin bytes then closes it,
//! captures stdout and stderr, and enforces a hard timeout by killing the child's whole process
//! group (so a stuck grandchild cannot hold the pipes open). Processes that detach themselves
//! with `setsid` and redirect their stdio survive, as they do under the real host.
//!
//! A test [`Host`](crate::transport::Host) of a transport runs a `process.run` request with
//! `run(&RunSpec::from_request(request)).into()`; a test host of an executor answers a
//! `gateway.exec` the same way, `run(&spec).into()` giving a
//! [`CommandResult`](crate::records::CommandResult).
//!
//! ```
//! use std::time::Duration;
//! use wfhost_pack_sdk::testing::{run, RunSpec};
//!
//! let out = run(&RunSpec::sh("printf '%s' \"$1\"", &["hello"]));
//! assert_eq!(out.exit_code, Some(0));
//! assert_eq!(out.stdout, "hello");
//!
//! let slow = run(&RunSpec { timeout: Duration::from_millis(200), ..RunSpec::sh("sleep 5", &[]) });
//! assert!(slow.timed_out);
//! assert_eq!(slow.exit_code, None);
//! ```

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::records::CommandResult;
use crate::transport::RunRequest;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Program (looked up on `PATH`).
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory (`None` = the test's own).
    pub cwd: Option<String>,
    /// Environment entries added to the cleared environment (which keeps `PATH`).
    pub env: Vec<(String, String)>,
    /// Bytes written to stdin before it is closed; `None` = stdin closed at once.
    pub stdin: Option<Vec<u8>>,
    /// Hard timeout.
    pub timeout: Duration,
}

impl RunSpec {
    /// `sh -c <script> sh <args...>` with a 60 s timeout.
    pub fn sh(script: &str, args: &[&str]) -> Self {
        let mut all = vec!["-c".to_string(), script.to_string(), "sh".to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        RunSpec {
            program: "sh".into(),
            args: all,
            cwd: None,
            env: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(60),
        }
    }

    /// The run a transport's `process.run` request asks for: program, arguments, working
    /// directory, environment, stdin and timeout as given. Secret handles (`secret_env`) are not
    /// resolved; a test host that knows the secrets adds their values to `env` itself.
    pub fn from_request(request: &RunRequest) -> Self {
        RunSpec {
            program: request.program.clone(),
            args: request.args.clone(),
            cwd: request.cwd.clone(),
            env: request.env.clone(),
            stdin: request.stdin.clone(),
            timeout: Duration::from_millis(request.timeout_ms),
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// Exit code; `None` when killed (timeout or signal) or when the program could not start.
    pub exit_code: Option<i32>,
    /// Captured stdout (lossy UTF-8).
    pub stdout: String,
    /// Captured stderr (lossy UTF-8); holds the spawn error when the program could not start.
    pub stderr: String,
    /// True when the timeout killed the process.
    pub timed_out: bool,
    /// Wall-clock duration.
    pub duration_ms: u64,
}

impl From<RunOutput> for CommandResult {
    /// What `process.run` answers for this run (never `truncated`: nothing is cut here).
    fn from(out: RunOutput) -> Self {
        CommandResult {
            exit_code: out.exit_code,
            stdout: out.stdout,
            stderr: out.stderr,
            timed_out: out.timed_out,
            duration_ms: out.duration_ms,
            truncated: false,
        }
    }
}

/// Run `spec` to completion or timeout.
pub fn run(spec: &RunSpec) -> RunOutput {
    let start = Instant::now();
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        )
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return RunOutput {
                exit_code: None,
                stdout: String::new(),
                stderr: format!("could not start {}: {e}", spec.program),
                timed_out: false,
                duration_ms: 0,
            }
        }
    };
    let feeder = match (child.stdin.take(), spec.stdin.clone()) {
        (Some(mut pipe), Some(bytes)) => Some(std::thread::spawn(move || {
            // A child that exits without reading is not an error here.
            let _ = pipe.write_all(&bytes);
        })),
        _ => None,
    };
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out_t = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );

    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= spec.timeout => {
                timed_out = true;
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    RunOutput {
        exit_code: if timed_out {
            None
        } else {
            status.and_then(|s| s.code())
        },
        stdout,
        stderr,
        timed_out,
        duration_ms: start.elapsed().as_millis() as u64,
    }
}

/// A temporary directory removed on drop, with string helpers (a thin wrapper over
/// `tempfile::TempDir`; the path is canonical so tests can compare it with what scripts print).
#[derive(Debug)]
pub struct TempDir {
    inner: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl TempDir {
    /// Create a fresh directory under the system temp dir.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let inner = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let path = inner.path().canonicalize()?;
        Ok(TempDir { inner, path })
    }

    /// The directory as a string (absolute, canonical).
    pub fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// A path inside the directory.
    pub fn join(&self, rel: &str) -> String {
        self.path.join(rel).to_string_lossy().into_owned()
    }

    /// The underlying `tempfile` handle.
    pub fn inner(&self) -> &tempfile::TempDir {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_is_cleared_but_path_kept() {
        let mut spec = RunSpec::sh(
            "echo \"${HOME:-nohome} $X\"; command -v sh >/dev/null && echo found",
            &[],
        );
        spec.env = vec![("X".into(), "y".into())];
        let out = run(&spec);
        assert_eq!(out.stdout, "nohome y\nfound\n");
    }

    #[test]
    fn stdin_bytes_reach_the_child_and_exit_codes_are_kept() {
        let mut spec = RunSpec::sh("cat; exit 7", &[]);
        spec.stdin = Some(b"abc".to_vec());
        let out = run(&spec);
        assert_eq!(out.stdout, "abc");
        assert_eq!(out.exit_code, Some(7));
    }

    #[test]
    fn stdin_is_closed_when_absent() {
        let out = run(&RunSpec::sh("cat; echo done", &[]));
        assert_eq!(out.stdout, "done\n");
    }

    #[test]
    fn timeout_kills_grandchildren_holding_the_pipes() {
        let spec = RunSpec {
            timeout: Duration::from_millis(300),
            ..RunSpec::sh("sleep 30 & sleep 30", &[])
        };
        let out = run(&spec);
        assert!(out.timed_out);
        assert!(out.duration_ms < 10_000, "took {} ms", out.duration_ms);
    }

    #[test]
    fn missing_program_is_reported() {
        let spec = RunSpec {
            program: "wfhost-no-such-program".into(),
            ..RunSpec::sh("", &[])
        };
        let out = run(&spec);
        assert_eq!(out.exit_code, None);
        assert!(out.stderr.contains("could not start"));
    }

    #[test]
    fn transport_requests_run_as_asked() {
        let t = TempDir::new("wfhost-sdk").unwrap();
        let request = RunRequest {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "pwd; printf '%s|' \"$X\"; cat; echo oops >&2; exit 3".into(),
            ],
            cwd: Some(t.path()),
            env: vec![("X".into(), "a b".into())],
            secret_env: vec![("KEY".into(), "handle".into())],
            stdin: Some(b"in".to_vec()),
            timeout_ms: 30_000,
        };
        let spec = RunSpec::from_request(&request);
        assert_eq!(spec.timeout, Duration::from_secs(30));
        let got: CommandResult = run(&spec).into();
        assert_eq!(got.exit_code, Some(3));
        assert_eq!(got.stdout, format!("{}\na b|in", t.path()));
        assert_eq!(got.stderr, "oops\n");
        assert!(!got.timed_out && !got.truncated);
    }

    #[test]
    fn transport_request_timeouts_are_kept() {
        let request = RunRequest {
            program: "sh".into(),
            args: vec!["-c".into(), "echo started; sleep 30".into()],
            timeout_ms: 200,
            ..RunRequest::default()
        };
        let got: CommandResult = run(&RunSpec::from_request(&request)).into();
        assert!(got.timed_out);
        assert_eq!(got.exit_code, None);
        assert_eq!(got.stdout, "started\n");
    }

    #[test]
    fn temp_dir_is_removed() {
        let p;
        {
            let t = TempDir::new("wfhost-sdk").unwrap();
            p = t.path();
            std::fs::write(t.join("f"), "x").unwrap();
            assert!(std::path::Path::new(&p).is_dir());
        }
        assert!(!std::path::Path::new(&p).exists());
    }
}
