//! `wfhost logs <run_id>`: a run's output on the target, read through the transport like every
//! other read (`fsm-status`, `doctor`).
//!
//! ```text
//! CLI ─► logs::logs(workdir, env, request, sink)
//!          config ─► transport (ops::transport_for) ─► resolve OPS_REMOTE_OUTPUTS_DIR
//!          every read: one bounded `exec` of a small POSIX script on the target that prints
//!            `wfhost-logs <size> <state> <exit>` and then the bytes of
//!            runs/<id>/_wf/{stdout,stderr}.log from the offset already shown (at most CHUNK)
//!          ─► bytes to `sink` as they come
//!          follow: poll every WF_MONITOR_POLL_SECS until the run has ended (exit_code written,
//!            or its process is gone: lost) and every byte is shown; MAX_FAILURES reads in a row
//!            that fail (unreachable, timed out, garbled) end it with a target error
//! ```
//!
//! Each read is one transport call with a timeout ([`CALL_TIMEOUT`]), so a dead connection is
//! noticed within `MAX_FAILURES × (CALL_TIMEOUT + poll)` at worst, and at once when the
//! connection is refused. Ctrl-C ends the process (nothing here holds state worth saving: the
//! run goes on on the target).

use crate::ops::{load_config, transport_for, OpsError, OpsErrorKind};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use wfhost_constitution::keys;
use wfhost_runtime::TransportError;

/// The most bytes one read returns; a longer log is read in several.
pub const CHUNK: u64 = 1 << 20;
/// The timeout of one read on the target.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Reads in a row that may fail before `--follow` gives up.
pub const MAX_FAILURES: u32 = 3;

/// Which of a run's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `_wf/stdout.log`.
    Stdout,
    /// `_wf/stderr.log`.
    Stderr,
}

impl Stream {
    /// The file name under the run's `_wf/`.
    pub fn file(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout.log",
            Stream::Stderr => "stderr.log",
        }
    }
}

/// What to show.
#[derive(Debug, Clone)]
pub struct LogsRequest {
    /// The run.
    pub run_id: String,
    /// Which log.
    pub stream: Stream,
    /// Only the last N lines (of what is there when the command starts).
    pub lines: Option<u64>,
    /// Keep reading until the run ends.
    pub follow: bool,
    /// The target (else LIUM_TARGET).
    pub target: Option<String>,
}

/// How a `logs` command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsReport {
    /// The target read.
    pub target: String,
    /// The file on the target.
    pub file: String,
    /// The run's state at the last read: `pending`, `running`, `ended`, `lost`.
    pub state: String,
    /// Its exit code, when it ended with one.
    pub exit_code: Option<i64>,
    /// Bytes shown.
    pub bytes: u64,
}

/// One read's answer.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    size: u64,
    state: String,
    exit_code: Option<i64>,
    data: Vec<u8>,
}

/// The script of one read: the header line, then the bytes from `offset` (or the last `lines`
/// lines when `lines` is given), at most [`CHUNK`].
fn script(run_dir: &str, stream: Stream, offset: u64, lines: Option<u64>) -> String {
    let q = wfhost_config::manifest::sh_quote;
    let wf = format!("{run_dir}/_wf");
    let file = format!("{wf}/{}", stream.file());
    let body = match lines {
        Some(n) => format!("tail -n {n} \"$f\" 2>/dev/null | tail -c {CHUNK}"),
        None => format!("tail -c +{} \"$f\" 2>/dev/null | head -c {CHUNK}", offset + 1),
    };
    format!(
        "r={run}; w={wf}; f={file}\n\
         if [ ! -d \"$r\" ]; then echo \"no run directory $r\" >&2; exit 3; fi\n\
         size=0; [ -f \"$f\" ] && size=$(wc -c < \"$f\" | tr -d ' ')\n\
         exit_code=-\n\
         if [ -f \"$w/exit_code\" ]; then state=ended; exit_code=$(head -c 32 \"$w/exit_code\" | tr -dc '0-9-'); [ -n \"$exit_code\" ] || exit_code=-\n\
         elif [ ! -d \"$w/claim\" ]; then state=pending\n\
         elif [ -f \"$w/pid\" ] && ! kill -0 \"$(head -c 32 \"$w/pid\" | tr -dc '0-9')\" 2>/dev/null; then state=lost\n\
         else state=running; fi\n\
         echo \"wfhost-logs $size $state $exit_code\"\n\
         [ \"$size\" -gt 0 ] && {body}\n\
         exit 0\n",
        run = q(run_dir),
        wf = q(&wf),
        file = q(&file),
    )
}

/// Parse one read's stdout.
fn parse(stdout: &[u8]) -> Result<Read, String> {
    let nl = stdout.iter().position(|b| *b == b'\n').ok_or("the reply has no header line")?;
    let header = String::from_utf8_lossy(&stdout[..nl]);
    let mut f = header.split(' ');
    if f.next() != Some("wfhost-logs") {
        return Err(format!("the reply's header is {:?}, not `wfhost-logs ...`", header.chars().take(80).collect::<String>()));
    }
    let size = f.next().and_then(|s| s.parse().ok()).ok_or("the reply's header has no size")?;
    let state = f.next().filter(|s| ["pending", "running", "ended", "lost"].contains(s)).ok_or("the reply's header has no run state")?.to_string();
    let exit_code = f.next().and_then(|s| s.parse().ok());
    Ok(Read { size, state, exit_code, data: stdout[nl + 1..].to_vec() })
}

/// Show a run's log (module doc). `sink` gets the log's bytes; `note` gets lines for people
/// (stderr). Returns how it ended, or why it could not read.
pub fn logs(
    workdir: &Path,
    env: &BTreeMap<String, String>,
    req: &LogsRequest,
    sink: &mut dyn Write,
    note: &dyn Fn(&str),
) -> Result<LogsReport, OpsError> {
    if !wfhost_config::is_safe_segment(&req.run_id) {
        return Err(OpsError::new(
            OpsErrorKind::Usage,
            format!("{:?} is not a run id (letters, digits, ., _ and -; not starting with .); list runs with `wfhost sweep-status`", req.run_id),
        ));
    }
    let config = load_config(workdir, env)?;
    let poll = Duration::from_millis(config.millis(keys::WF_MONITOR_POLL_SECS));
    let (tp, target, _) = transport_for(workdir, &config, env, req.target.as_deref())?;
    let outputs = config.value(keys::OPS_REMOTE_OUTPUTS_DIR).trim_end_matches('/').to_string();
    let outputs = tp.resolve_path(&target, &outputs).map_err(|e| target_error(&target, "resolving the outputs directory", &e))?;
    let run_dir = format!("{}/runs/{}", outputs.trim_end_matches('/'), req.run_id);
    let file = format!("{run_dir}/_wf/{}", req.stream.file());
    let mut report = LogsReport { target: target.clone(), file: file.clone(), state: String::new(), exit_code: None, bytes: 0 };
    let mut offset = 0u64;
    let mut lines = req.lines;
    let mut failures = 0u32;
    loop {
        let spec = crate::types::ExecSpec {
            command: script(&run_dir, req.stream, offset, lines),
            cwd: None,
            env: vec![],
            timeout_ms: CALL_TIMEOUT.as_millis() as u64,
        };
        let read = match tp.exec(&target, spec) {
            Ok(r) if r.exit_code == Some(3) => {
                return Err(OpsError::new(
                    OpsErrorKind::Usage,
                    format!("run {} has no directory on {target} ({run_dir}): it is not in the sweep there, or the sweep has not started it; list runs with `wfhost sweep-status`", req.run_id),
                ))
            }
            Ok(r) if r.exit_code == Some(0) && !r.timed_out => parse(r.stdout.as_bytes()),
            Ok(r) if r.timed_out => Err(format!("the read did not finish within {} s", CALL_TIMEOUT.as_secs())),
            Ok(r) => Err(format!("the read failed (exit {:?}): {}", r.exit_code, r.stderr.lines().last().unwrap_or(""))),
            Err(TransportError::Vanished(m)) => return Err(OpsError::new(OpsErrorKind::Target, format!("target {target} does not exist: {m}"))),
            Err(e) => Err(e.to_string()),
        };
        match read {
            Ok(r) => {
                failures = 0;
                // Bytes arrive as text through the transport; a log's size counts what was read.
                let shown = r.data.len() as u64;
                sink.write_all(&r.data).and_then(|()| sink.flush()).map_err(|e| OpsError::new(OpsErrorKind::Internal, format!("cannot write the log to stdout: {e}")))?;
                report.bytes += shown;
                offset = if lines.take().is_some() { r.size } else { offset + shown };
                report.state = r.state.clone();
                report.exit_code = r.exit_code;
                // More is there already (a log longer than one read): read on without waiting.
                // A read that returned nothing although the file is longer (it shrank, or the
                // transport dropped bytes) counts as caught up, so the loop always ends.
                if offset < r.size && shown > 0 {
                    continue;
                }
                if !req.follow {
                    if r.size == 0 && r.state == "pending" {
                        note(&format!("run {} has not started yet (no {} on {target})", req.run_id, req.stream.file()));
                    }
                    return Ok(report);
                }
                if matches!(r.state.as_str(), "ended" | "lost") {
                    return Ok(report);
                }
            }
            Err(last_error) => {
                failures += 1;
                if !req.follow || failures >= MAX_FAILURES {
                    return Err(OpsError::new(
                        OpsErrorKind::Target,
                        format!(
                            "cannot read {file} on {target}: {} read(s) in a row failed (last: {last_error}); the run itself goes on on the target. Check the target with `wfhost doctor`, then `wfhost logs {} --follow` again",
                            failures, req.run_id
                        ),
                    ));
                }
                note(&format!("reading {} on {target} failed ({last_error}); retrying", req.stream.file()));
            }
        }
        std::thread::sleep(poll);
    }
}

fn target_error(target: &str, what: &str, e: &TransportError) -> OpsError {
    let kind = match e {
        TransportError::Invalid(_) => OpsErrorKind::Config,
        _ => OpsErrorKind::Target,
    };
    OpsError::new(kind, format!("{what} on {target}: {e}; check the target with `wfhost doctor`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_runs_on_a_real_shell_and_parses() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("runs/r1");
        std::fs::create_dir_all(run.join("_wf/claim")).unwrap();
        std::fs::write(run.join("_wf/stdout.log"), "one\ntwo\nthree\n").unwrap();
        let sh = |script: &str| std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
        let run_dir = run.display().to_string();
        // No pid yet: starting, so running.
        let r = parse(&sh(&script(&run_dir, Stream::Stdout, 0, None)).stdout).unwrap();
        assert_eq!((r.size, r.state.as_str(), r.exit_code, r.data.as_slice()), (14, "running", None, &b"one\ntwo\nthree\n"[..]));
        let r = parse(&sh(&script(&run_dir, Stream::Stdout, 8, None)).stdout).unwrap();
        assert_eq!(r.data, b"three\n");
        let r = parse(&sh(&script(&run_dir, Stream::Stdout, 0, Some(1))).stdout).unwrap();
        assert_eq!(r.data, b"three\n");
        // A pid that is gone: lost.
        std::fs::write(run.join("_wf/pid"), "999999999\n").unwrap();
        assert_eq!(parse(&sh(&script(&run_dir, Stream::Stdout, 0, None)).stdout).unwrap().state, "lost");
        std::fs::write(run.join("_wf/exit_code"), "2\n").unwrap();
        let r = parse(&sh(&script(&run_dir, Stream::Stderr, 0, None)).stdout).unwrap();
        assert_eq!((r.size, r.state.as_str(), r.exit_code), (0, "ended", Some(2)));
        // A run that is not there.
        assert_eq!(sh(&script(&format!("{run_dir}x"), Stream::Stdout, 0, None)).status.code(), Some(3));
        // A hostile path is quoted.
        let odd = dir.path().join("runs/a'b $(touch pwned)");
        std::fs::create_dir_all(&odd).unwrap();
        let r = parse(&sh(&script(&odd.display().to_string(), Stream::Stdout, 0, None)).stdout).unwrap();
        assert_eq!(r.state, "pending");
        assert!(!Path::new("pwned").exists() && !dir.path().join("pwned").exists());
    }

    #[test]
    fn garbled_replies_are_errors_not_panics() {
        for bad in [&b""[..], b"no newline", b"hello 1 2 3\n", b"wfhost-logs x running -\n", b"wfhost-logs 3 dancing -\n"] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
