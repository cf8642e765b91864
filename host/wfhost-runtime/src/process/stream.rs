//! Streaming a program's standard output to the caller instead of capturing it
//! ([`ProcessRunner::run_streaming`]): how the host reads an archive a transport's program
//! writes (a fetch).
//!
//! The run is checked and built exactly like [`ProcessRunner::run`] (allowlist, clean
//! environment, secrets by handle, a process group of its own); stdin is closed. The caller's
//! consumer reads stdout on the calling thread; stderr is captured on a thread of its own up to
//! the policy's cap (secrets redacted); a watchdog thread kills the process group at the
//! deadline, which ends the stream (the consumer reads EOF) and marks the run timed out. A
//! consumer that gives up (returns `Err`) has the group killed at once, so a producer is never
//! left writing into a pipe nobody reads.

use super::{kill_group, redact, Capture, Prepared, ProcessError, ProcessOutput, ProcessRequest, ProcessRunner, PIPE_GRACE};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

impl ProcessRunner {
    /// Run one program under the policy with its stdout given to `consume` as it is written;
    /// the run's outcome (its `stdout` empty) and what `consume` returned.
    pub fn run_streaming<T, E>(
        &self,
        request: &ProcessRequest,
        consume: impl FnOnce(&mut dyn Read) -> Result<T, E>,
    ) -> Result<(ProcessOutput, Result<T, E>), ProcessError> {
        let io_error = |source| ProcessError::Io { program: request.program.clone(), source };
        if request.stdin.is_some() {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a program whose output is streamed gets no stdin",
            )));
        }
        let Prepared { mut command, secret_values, timeout } = self.prepare(request)?;
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let started = Instant::now();
        let mut child = command.spawn().map_err(io_error)?;
        let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            kill_group(&child);
            let _ = child.wait();
            return Err(io_error(std::io::Error::other("the program's output pipes are missing")));
        };

        // stderr: kept up to the cap, the rest drained.
        let cap = self.policy.max_output_bytes;
        let captured = Arc::new(Mutex::new(Capture { kept: Vec::new(), cap, truncated: false }));
        let (err_tx, err_rx) = mpsc::channel::<()>();
        let into = captured.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stderr.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => into.lock().unwrap_or_else(|p| p.into_inner()).take(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = err_tx.send(());
        });

        // The watchdog: kill the group at the deadline unless told the run is over.
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let (pid, flag) = (child.id(), fired.clone());
        let watchdog = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(timeout) {
                flag.store(true, Ordering::SeqCst);
                if let Ok(pid) = i32::try_from(pid) {
                    // SAFETY: kill(2) on the process group the child leads; no memory involved.
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                    }
                }
            }
        });

        let consumed = consume(&mut stdout);
        if consumed.is_err() {
            kill_group(&child);
        }
        drop(stdout);
        let status = child.wait();
        let _ = stop_tx.send(());
        let _ = watchdog.join();
        let status = status.map_err(io_error)?;
        // A background grandchild may hold stderr open: wait a moment, then keep what came.
        let _ = err_rx.recv_timeout(PIPE_GRACE);
        let (mut stderr, truncated) = {
            let c = captured.lock().unwrap_or_else(|p| p.into_inner());
            (c.kept.clone(), c.truncated)
        };
        for secret in &secret_values {
            stderr = redact(&stderr, secret.as_bytes());
        }
        let output = ProcessOutput {
            exit_code: status.code(),
            signal: status.signal(),
            stdout: Vec::new(),
            stderr,
            timed_out: fired.load(Ordering::SeqCst),
            truncated,
            duration: started.elapsed(),
        };
        Ok((output, consumed))
    }
}
