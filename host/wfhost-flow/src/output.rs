//! The output contract: what scripts parse on stdout and what people read on stderr.
//!
//! stdout carries exactly the constitutional header (`key=value` lines) and, after each phase,
//! one `PHASE=.. STATUS=..` line and one `PHASE=.. COURT=..` line (DESIGN.md, "Output
//! contract"), and, when a flow halts for a reason other than a verdict, a last
//! `FLOW=halted CAUSE=.. EXIT=..` line. Everything else — progress, warnings, the halt explanation — goes to stderr: a
//! spinner on a terminal, plain timestamped lines otherwise. Each stdout line is flushed as it is
//! written so a script reading a pipe sees it at once.
//!
//! Structured progress ([`Progress`]: the executor's `wfhost-progress {json}` debug messages,
//! parsed by the gateway) turns the spinner into a bar on a terminal: P70's runs done, failed
//! and running of the total with the elapsed time and an estimate, P80's runs, files and bytes.
//! Off a terminal it draws nothing: the plain lines stay exactly what they were.
//!
//! Every line is made printable on its way out ([`printable`]): values that reach these lines
//! (paths, config lines, remote messages) can hold a newline, which would forge a contract line,
//! or an ESC/OSC sequence, which a terminal would obey. Control characters are written escaped
//! (`\n`, `\r`, `\t`, `\xNN`, `\u{NNNN}`), so one call is exactly one line.

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde::Deserialize;
use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The prefix of an executor's structured progress message (a `debug` log line, so a host that
/// does not know it shows and records nothing): `wfhost-progress {"phase":"P70",...}`.
pub const PROGRESS_PREFIX: &str = "wfhost-progress ";

/// A phase's structured progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "phase")]
pub enum Progress {
    /// P70: the sweep's counts at the last status read.
    #[serde(rename = "P70")]
    Sweep {
        /// Runs in the sweep.
        total: u64,
        /// Finished ok.
        ok: u64,
        /// Finished failing.
        failed: u64,
        /// Running.
        running: u64,
        /// Not started.
        pending: u64,
        /// Gone without an exit code.
        lost: u64,
    },
    /// P80: runs fetched so far.
    #[serde(rename = "P80")]
    Fetch {
        /// Runs to fetch.
        runs_total: u64,
        /// Runs fetched.
        runs_done: u64,
        /// Files fetched.
        files: u64,
        /// Bytes fetched (the gateway counts them).
        #[serde(default)]
        bytes: u64,
    },
}

impl Progress {
    /// The progress a log message carries, if it is a progress message that parses.
    pub fn parse(message: &str) -> Option<Progress> {
        serde_json::from_str(message.strip_prefix(PROGRESS_PREFIX)?).ok()
    }
}

/// Where the flow's lines go. Cheap to clone (a shared handle); internally locked.
#[derive(Clone)]
pub struct Output {
    inner: Arc<Inner>,
}

struct Inner {
    stdout: Mutex<Box<dyn Write + Send>>,
    progress: Mutex<Option<ProgressBar>>,
    fancy: bool,
}


impl Output {
    /// stdout/stderr of this process; a spinner when stderr is a terminal.
    pub fn stdio() -> Output {
        Output {
            inner: Arc::new(Inner {
                stdout: Mutex::new(Box::new(std::io::stdout())),
                progress: Mutex::new(None),
                fancy: std::io::stderr().is_terminal(),
            }),
        }
    }

    /// Capture stdout into a writer (tests, embedding); progress goes to stderr as plain lines.
    pub fn to_writer(w: Box<dyn Write + Send>) -> Output {
        Output { inner: Arc::new(Inner { stdout: Mutex::new(w), progress: Mutex::new(None), fancy: false }) }
    }

    /// Another handle on the same streams.
    pub fn clone_handle(&self) -> Output {
        self.clone()
    }

    fn line(&self, line: &str) {
        let line = printable(line);
        let bar = self.inner.progress.lock().ok().and_then(|b| b.clone());
        let write = || {
            if let Ok(mut out) = self.inner.stdout.lock() {
                // A closed stdout (e.g. `| head`) must not abort the flow mid-phase: the
                // evidence files remain the record.
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        };
        match bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// One header line, `key=value`.
    pub fn header(&self, key: &str, value: &str) {
        self.line(&format!("{key}={value}"));
    }

    /// The per-phase status line.
    pub fn phase(&self, phase: &str, status: &str, code: u16, artifact: &str) {
        self.line(&format!("PHASE={phase} STATUS={status} CODE={code} ARTIFACT={artifact}"));
    }

    /// The per-phase court line.
    pub fn court(&self, phase: &str, court: &str, det: &str, constitutional: &str, verdict: &str) {
        self.line(&format!(
            "PHASE={phase} COURT={court} DET={det} CONST={constitutional} VERDICT={verdict}"
        ));
    }

    /// The last line of a flow that halted for a reason other than a verdict (an evidence
    /// write that failed, a signal): `FLOW=halted CAUSE=<internal|interrupted> EXIT=<status>`.
    /// A script that reads stdout never takes an earlier `COURT=pass` for the end.
    pub fn halt(&self, cause: &str, exit_status: i32) {
        self.line(&format!("FLOW=halted CAUSE={cause} EXIT={exit_status}"));
    }

    /// Start showing that a phase is running (spinner on a terminal, a plain line otherwise).
    pub fn begin(&self, what: &str) {
        if self.inner.fancy {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(printable(what).into_owned());
            if let Ok(mut slot) = self.inner.progress.lock() {
                if let Some(old) = slot.replace(bar) {
                    old.finish_and_clear();
                }
            }
        } else {
            self.note(what);
        }
    }

    /// Stop the spinner, if any.
    pub fn end(&self) {
        if let Ok(mut slot) = self.inner.progress.lock() {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        }
    }

    /// Show structured progress: a bar on a terminal, nothing otherwise (the executor's plain
    /// progress lines say it there).
    pub fn progress(&self, p: &Progress) {
        if !self.inner.fancy {
            return;
        }
        let Ok(mut slot) = self.inner.progress.lock() else { return };
        let bar = slot.get_or_insert_with(|| {
            let bar = ProgressBar::new(0);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let style = |template: &str| {
            ProgressStyle::with_template(template)
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
        };
        match *p {
            Progress::Sweep { total, ok, failed, running, pending, lost } => {
                bar.set_style(style("{spinner} P70 [{bar:30}] {pos}/{len} runs done, {msg} {elapsed} (eta {eta})"));
                bar.set_length(total);
                bar.set_position(ok + failed + lost);
                let mut msg = format!("{failed} failed, {running} running");
                if pending > 0 {
                    msg.push_str(&format!(", {pending} pending"));
                }
                if lost > 0 {
                    msg.push_str(&format!(", {lost} lost"));
                }
                bar.set_message(msg);
            }
            Progress::Fetch { runs_total, runs_done, files, bytes } => {
                bar.set_style(style("{spinner} P80 [{bar:30}] {pos}/{len} runs fetched, {msg} {elapsed}"));
                bar.set_length(runs_total);
                bar.set_position(runs_done);
                bar.set_message(format!("{files} files, {}", HumanBytes(bytes)));
            }
        }
    }

    /// A progress or log line for people, on stderr.
    pub fn note(&self, message: &str) {
        let message = printable(message);
        let bar = self.inner.progress.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.println(format!("wfhost: {message}")),
            None => eprintln!("wfhost: {message}"),
        }
    }
}

/// Characters a terminal or a line-reading script would act on: C0 and C1 controls, DEL, and
/// the bidirectional overrides that reorder what is shown.
fn is_unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character escaped (`\n`, `\r`, `\t`, `\xNN`, `\u{NNNN}`): one
/// line, nothing a terminal obeys. Borrowed when there is nothing to escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unprintable(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_unprintable(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_messages_parse_and_anything_else_is_not_progress() {
        // What the executors send (serde_json writes the members in name order).
        let sweep = r#"wfhost-progress {"failed":1,"lost":0,"ok":2,"pending":4,"phase":"P70","running":3,"total":10}"#;
        assert_eq!(Progress::parse(sweep), Some(Progress::Sweep { total: 10, ok: 2, failed: 1, running: 3, pending: 4, lost: 0 }));
        let fetch = r#"wfhost-progress {"files":12,"phase":"P80","runs_done":1,"runs_total":3}"#;
        assert_eq!(Progress::parse(fetch), Some(Progress::Fetch { runs_total: 3, runs_done: 1, files: 12, bytes: 0 }));
        for other in [
            "sweep: 3/8 done",
            "wfhost-progress",
            "wfhost-progress {",
            r#"wfhost-progress {"phase":"P60","total":1}"#,
            r#"wfhost-progress {"phase":"P70","total":-1,"ok":0,"failed":0,"running":0,"pending":0,"lost":0}"#,
            r#"progress {"phase":"P70","total":1,"ok":0,"failed":0,"running":0,"pending":0,"lost":0}"#,
        ] {
            assert_eq!(Progress::parse(other), None, "{other}");
        }
    }

    #[test]
    fn off_a_terminal_progress_draws_nothing() {
        let out = Output::to_writer(Box::new(std::io::sink()));
        out.progress(&Progress::Sweep { total: 3, ok: 1, failed: 0, running: 2, pending: 0, lost: 0 });
        assert!(out.inner.progress.lock().unwrap().is_none(), "no bar without a terminal");
    }

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_untouched() {
        assert!(matches!(printable("PHASE=P00 STATUS=ok /a b/ü"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("ev\nPHASE=P99 COURT=pass"), "ev\\nPHASE=P99 COURT=pass");
        assert_eq!(printable("\u{1b}]0;t\u{7}\u{1b}[31mx\r\t\u{7f}\u{9b}"), "\\x1b]0;t\\x07\\x1b[31mx\\r\\t\\x7f\\x9b");
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
        assert!(!printable("x\ny\u{1b}").chars().any(char::is_control));
    }
}
