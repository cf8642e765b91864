//! The one place where a failure becomes a message and an exit status.
//!
//! ```text
//! command body ─► Ok(Exit)                 the status it decided (a flow's 0/10..50/70, verify's 0/1)
//!              └► Err(CliError { kind, .. }) ─► report(): `wfhost: <message>` (+ `wfhost: <hint>`)
//!                                              ─► kind.exit_status()
//! ```
//!
//! Every status the binary can return is listed by [`exit_status_help`], which the top-level
//! `--help` prints; the family statuses come from `constitution/codes.toml`.

use wfhost_flow::ops::{OpsError, OpsErrorKind};
use wfhost_flow::output::printable;

/// What kind of failure a command met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line is wrong: an unknown flag, a missing or bad argument.
    Usage,
    /// The config, or a plugin it names, cannot be used (the 1xx family's status).
    Config,
    /// The target cannot be reached or does not exist (the 2xx family's status).
    Target,
    /// The command ran and its answer is no: verify found a problem, replay a difference, an
    /// auditor did not pass.
    Failed,
    /// wfhost itself could not do its work (it cannot start its plugin runtime, a file it needs
    /// cannot be written).
    Internal,
}

/// A usage error's status.
pub const EXIT_USAGE: i32 = 64;
/// An internal error's status.
pub const EXIT_INTERNAL: i32 = wfhost_audit::EXIT_INTERNAL;
/// A check whose answer is no.
pub const EXIT_FAILED: i32 = 1;

impl ErrorKind {
    /// The process exit status of this kind.
    pub fn exit_status(self) -> i32 {
        let family = |f: u8| {
            wfhost_constitution::Constitution::get().ok().and_then(|c| c.family_exit_status(f)).unwrap_or(EXIT_INTERNAL)
        };
        match self {
            ErrorKind::Usage => EXIT_USAGE,
            ErrorKind::Config => family(1),
            ErrorKind::Target => family(2),
            ErrorKind::Failed => EXIT_FAILED,
            ErrorKind::Internal => EXIT_INTERNAL,
        }
    }
}

/// A failed command: its kind, what happened, and optionally what to run next.
#[derive(Debug, Clone)]
pub struct CliError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened, to what.
    pub message: String,
    /// What to do next, printed on its own line.
    pub hint: Option<String>,
}

impl CliError {
    /// A failure of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CliError {
        CliError { kind, message: message.into(), hint: None }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::Usage, message)
    }

    /// An internal error.
    pub fn internal(message: impl Into<String>) -> CliError {
        CliError::new(ErrorKind::Internal, message)
    }

    /// Add what to do next.
    pub fn with_hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }

    /// The error as the `--json` document of a read command (docs/schemas/cli-error.schema.json).
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self.kind {
            ErrorKind::Usage => "usage",
            ErrorKind::Config => "config",
            ErrorKind::Target => "target",
            ErrorKind::Failed => "failed",
            ErrorKind::Internal => "internal",
        };
        serde_json::json!({
            "ok": false,
            "error": {"kind": kind, "message": self.message, "hint": self.hint, "exit_status": self.kind.exit_status()},
        })
    }

    /// Print the message (and hint) on stderr with the `wfhost:` prefix, control characters
    /// escaped (a value quoted in a message must not drive the terminal or forge a line);
    /// return the status.
    pub fn report(&self) -> i32 {
        eprintln!("wfhost: {}", printable(&self.message));
        if let Some(hint) = &self.hint {
            eprintln!("wfhost: {}", printable(hint));
        }
        self.kind.exit_status()
    }
}

impl From<OpsError> for CliError {
    fn from(e: OpsError) -> CliError {
        let kind = match e.kind {
            OpsErrorKind::Usage => ErrorKind::Usage,
            OpsErrorKind::Config => ErrorKind::Config,
            OpsErrorKind::Target => ErrorKind::Target,
            OpsErrorKind::Internal => ErrorKind::Internal,
        };
        CliError::new(kind, e.message)
    }
}

/// The `Exit status:` paragraph of the top-level help: every status the binary returns.
pub fn exit_status_help() -> String {
    let mut families = String::new();
    if let Ok(c) = wfhost_constitution::Constitution::get() {
        for (n, f) in &c.families {
            families.push_str(&format!("  {:<3} a halt in code family {n}xx ({})\n", f.exit, f.name));
        }
    }
    format!(
        "Exit status:\n  0   success\n  {EXIT_FAILED}   a check's answer is no: verify found a problem, replay a difference, an auditor\n      did not pass (verify, replay, explain, court audit)\n{families}  {EXIT_USAGE}  usage error (a bad flag or argument)\n  {EXIT_INTERNAL}  internal error (wfhost could not run or record its work)\nThe 3-digit code of a halt is on the last PHASE line and in flow.summary.json; `doctor`\nreturns the config family's status when a check fails, `fsm-status` and `logs` the target\nfamily's when the target is unreachable or gone (`logs --follow`: three reads in a row failed).\nWith --json, a read command prints its error as one JSON document too, with the same status."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_status() {
        let c = wfhost_constitution::Constitution::get().expect("constitution");
        assert_eq!(ErrorKind::Usage.exit_status(), 64);
        assert_eq!(ErrorKind::Internal.exit_status(), 70);
        assert_eq!(ErrorKind::Failed.exit_status(), 1);
        assert_eq!(Some(ErrorKind::Config.exit_status()), c.family_exit_status(1));
        assert_eq!(Some(ErrorKind::Target.exit_status()), c.family_exit_status(2));
        let help = exit_status_help();
        for kind in [ErrorKind::Usage, ErrorKind::Internal, ErrorKind::Failed, ErrorKind::Config, ErrorKind::Target] {
            assert!(help.contains(&format!("  {}", kind.exit_status())), "{kind:?} missing from:\n{help}");
        }
        for f in c.families.values() {
            assert!(help.contains(&format!("  {:<3} a halt", f.exit)), "{}", f.name);
        }
    }
}
