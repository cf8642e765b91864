//! Phase outcomes, failure codes, and [`Act`]: the helper every phase acts through.
//!
//! A phase function receives an [`Act`], calls the gateway through it (each exec is recorded
//! with its stderr tail for `details-json`), collects facts and artifacts, and returns
//! `Ok((status, message))` or a [`Failure`] carrying a code from `constitution/codes.toml` and a
//! one-line message saying what failed and what to do. [`Act::finish`] turns that into the
//! [`Outcome`] the host receives.
//!
//! Gateway errors map to codes of the phase's own family (checks.toml `outcome_recorded`): in
//! family 2 (P10, P30) `unreachable` is 204 and `vanished` 205; in the other families they use
//! the phase's generic failure code and the message and the `gateway_error` fact say what
//! happened.

use crate::context::PhaseContext;
use crate::host::{
    ActionClass, Artifact, CommandResult, ExecRequest, GatewayError, Host, Level,
};
use serde_json::{json, Value};
use wfhost_pack_sdk::kv::Facts;
use wfhost_pack_sdk::text::{last_line, tail};

/// The failure codes of `constitution/codes.toml`, generated at build time (`build.rs`): `NAME`
/// for a name used once, `NAME_<F>XX` for a name several families share.
pub mod code {
    include!(concat!(env!("OUT_DIR"), "/codes.rs"));

    /// The code named `name` in `family` (the hundreds digit), if the constitution has one.
    pub fn in_family(family: u16, name: &str) -> Option<u16> {
        CODES
            .iter()
            .find(|(c, n)| family_of(*c) == family && *n == name)
            .map(|(c, _)| *c)
    }

    /// The generic code of the family of phase `phase` (`PHASE_FAMILIES`, `GENERIC`); a phase
    /// the table does not have counts as the first family's.
    pub fn generic_of_phase(phase: &str) -> u16 {
        let family = PHASE_FAMILIES
            .iter()
            .find(|(id, _)| *id == phase)
            .map(|(_, f)| *f);
        let generic = |f: Option<u16>| {
            GENERIC
                .iter()
                .find(|(g, _)| f.is_none_or(|f| *g == f))
                .map(|(_, c)| *c)
        };
        generic(family).or_else(|| generic(None)).unwrap_or(PLUGIN_UNAVAILABLE)
    }
}

/// `phase-status` and `phase-outcome`: the SDK's.
pub use wfhost_pack_sdk::executor::{PhaseOutcome as Outcome, PhaseStatus as Status};

/// Why a phase failed: a code and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Code from codes.toml.
    pub code: u16,
    /// What failed and what to do.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// What a phase function returns.
pub type PhaseResult = Result<(Status, String), Failure>;

/// The prefix of a structured progress message (the host's `output::PROGRESS_PREFIX`).
pub const PROGRESS_PREFIX: &str = "wfhost-progress ";
const STDERR_TAIL: usize = 2000;
const STDOUT_TAIL: usize = 1000;
const COMMAND_SHOWN: usize = 300;

/// The acting context of one phase run.
pub struct Act<'a, H: Host> {
    /// The host.
    pub host: &'a H,
    /// The phase context.
    pub ctx: &'a PhaseContext,
    /// Facts reported with the outcome.
    pub facts: Facts,
    /// Artifacts reported with the outcome.
    pub artifacts: Vec<Artifact>,
    steps: Vec<Value>,
    generic: u16,
}

impl<'a, H: Host> Act<'a, H> {
    /// Start acting for `ctx`; `generic` is the phase's catch-all failure code.
    pub fn new(host: &'a H, ctx: &'a PhaseContext, generic: u16) -> Self {
        Act {
            host,
            ctx,
            facts: Facts::new(),
            artifacts: Vec::new(),
            steps: Vec::new(),
            generic,
        }
    }

    /// The phase's catch-all failure code.
    pub fn generic(&self) -> u16 {
        self.generic
    }

    /// Log a line.
    pub fn log(&self, level: Level, message: &str) {
        self.host.log(level, message);
    }

    /// Structured progress for the host's display: a `debug` log line
    /// `wfhost-progress {"phase": .., ..}` (a host that does not know it shows and records
    /// nothing; the plain progress line is logged beside it as before).
    pub fn progress(&self, fields: Value) {
        let mut fields = fields;
        if let Some(obj) = fields.as_object_mut() {
            obj.insert("phase".into(), Value::String(self.ctx.phase.clone()));
        }
        self.host.log(Level::Debug, &format!("{PROGRESS_PREFIX}{fields}"));
    }

    /// The bound target, or a failure when the host gave none.
    pub fn target(&self) -> Result<String, Failure> {
        match self.ctx.target.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => Ok(t.to_string()),
            _ => Err(Failure::new(
                self.generic,
                format!("{} needs a bound target but none was given; bind one in P20 (LIUM_TARGET or --provision auto)", self.ctx.phase),
            )),
        }
    }

    /// Map a gateway error of `what` to a failure of this phase (and record it).
    pub fn gateway_failure(&mut self, what: &str, e: &GatewayError) -> Failure {
        let family = code::family_of(self.generic);
        let target = self
            .ctx
            .target
            .clone()
            .unwrap_or_else(|| "the target".into());
        self.facts.set("gateway_error", e.kind());
        self.steps.push(json!({"step": what, "gateway_error": e.kind(), "message": tail(e.message(), STDERR_TAIL)}));
        let m = last_line(e.message());
        // Unreachable, vanished and timed out have a code of their own in every family that
        // acts on a pod (POD_UNREACHABLE, POD_VANISHED, COMMAND_TIMEOUT), so a script can tell
        // "try again" from "start over" from "the command failed"; a family without one (2xx has
        // no COMMAND_TIMEOUT) keeps the phase's own code.
        let own = |name: &str| code::in_family(family, name).unwrap_or(self.generic);
        match e {
            GatewayError::Unreachable(_) => Failure::new(
                own("POD_UNREACHABLE"),
                format!("{what}: pod {target} cannot be reached ({m}); check connectivity and rerun with --provision skip"),
            ),
            GatewayError::Vanished(_) => Failure::new(
                own("POD_VANISHED"),
                format!("{what}: pod {target} no longer exists ({m}); provision a new one with --provision auto --yes and no LIUM_TARGET"),
            ),
            GatewayError::Timeout(_) => Failure::new(
                own("COMMAND_TIMEOUT"),
                format!("{what} timed out ({m}); check the pod with `wfhost pod-status --target {target}` and rerun the flow"),
            ),
            GatewayError::Refused(_) => Failure::new(
                self.generic,
                format!("{what} was refused by the host ({m}); read the flow's events for the capability that was missing"),
            ),
            GatewayError::Failed(_) => Failure::new(self.generic, format!("{what} failed: {m}")),
        }
    }

    /// `gateway.resolve-path` on the bound target.
    pub fn resolve(&mut self, path: &str) -> Result<String, Failure> {
        let target = self.target()?;
        self.host
            .resolve_path(&target, path)
            .map_err(|e| self.gateway_failure(&format!("resolving {path} on the pod"), &e))
    }

    /// `gateway.exec` on the bound target; records the step; does not judge the exit code.
    pub fn exec(
        &mut self,
        step: &str,
        command: &str,
        cwd: Option<&str>,
        env: &[(&str, &str)],
        timeout_ms: u64,
        class: ActionClass,
    ) -> Result<CommandResult, Failure> {
        match self.exec_raw(step, command, cwd, env, timeout_ms, class)? {
            Ok(res) => Ok(res),
            Err(e) => Err(self.gateway_failure(step, &e)),
        }
    }

    /// Like [`Act::exec`], but a gateway error is handed back as is (for callers that retry);
    /// only a missing target is a failure here.
    pub fn exec_raw(
        &mut self,
        step: &str,
        command: &str,
        cwd: Option<&str>,
        env: &[(&str, &str)],
        timeout_ms: u64,
        class: ActionClass,
    ) -> Result<Result<CommandResult, GatewayError>, Failure> {
        let target = self.target()?;
        let req = ExecRequest {
            target,
            command: command.to_string(),
            cwd: cwd.map(str::to_string),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timeout_ms,
            class,
            idempotency_key: None,
        };
        self.host.log(
            Level::Debug,
            &format!("{step}: {}", first_chars(command, 200)),
        );
        match self.host.exec(&req) {
            Ok(res) => {
                self.steps.push(json!({
                    "step": step,
                    "command": first_chars(command, COMMAND_SHOWN),
                    "cwd": cwd,
                    "exit_code": res.exit_code,
                    "timed_out": res.timed_out,
                    "duration_ms": res.duration_ms,
                    "truncated": res.truncated,
                    "stdout_tail": tail(&res.stdout, STDOUT_TAIL),
                    "stderr_tail": tail(&res.stderr, STDERR_TAIL),
                }));
                Ok(Ok(res))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// [`Act::exec`] that also requires exit 0: a non-zero exit or a timeout fails with `code`,
    /// naming `step`, the exit, the last stderr line and `next` (what to do).
    #[allow(clippy::too_many_arguments)]
    pub fn exec_ok(
        &mut self,
        step: &str,
        command: &str,
        cwd: Option<&str>,
        env: &[(&str, &str)],
        timeout_ms: u64,
        class: ActionClass,
        code: u16,
        next: &str,
    ) -> Result<CommandResult, Failure> {
        let res = self.exec(step, command, cwd, env, timeout_ms, class)?;
        check_exit(step, &res, timeout_ms, code, next)?;
        Ok(res)
    }

    /// `gateway.put-file` on the bound target.
    pub fn put(&mut self, path: &str, contents: &[u8], mode: u32) -> Result<(), Failure> {
        let target = self.target()?;
        self.host
            .put_file(&target, path, contents, mode)
            .map_err(|e| self.gateway_failure(&format!("writing {path} on the pod"), &e))?;
        self.steps.push(json!({"step": "put-file", "path": path, "bytes": contents.len(), "mode": format!("{mode:o}")}));
        Ok(())
    }

    /// Add a free-form note to the details.
    pub fn note(&mut self, step: &str, detail: Value) {
        self.steps.push(json!({"step": step, "detail": detail}));
    }

    /// Build the outcome.
    pub fn finish(self, result: PhaseResult) -> Outcome {
        let (status, code, message) = match result {
            Ok((status, message)) => (status, 0, message),
            Err(f) => (Status::Fail, f.code, f.message),
        };
        if status == Status::Fail {
            self.host.log(
                Level::Error,
                &format!("{} failed ({code}): {message}", self.ctx.phase),
            );
        }
        let details = json!({"phase": self.ctx.phase, "steps": self.steps});
        Outcome {
            phase: self.ctx.phase.clone(),
            status,
            code,
            message: one_line(&message),
            artifacts: self.artifacts,
            facts: self.facts.into_vec(),
            details_json: Some(details.to_string()),
        }
    }
}

/// Require exit 0 from `res` (see [`Act::exec_ok`]): a non-zero exit fails with `code`, a
/// timeout with the COMMAND_TIMEOUT code of `code`'s family (`code` itself in a family that has
/// none, such as 2xx).
pub fn check_exit(
    step: &str,
    res: &CommandResult,
    timeout_ms: u64,
    code: u16,
    next: &str,
) -> Result<(), Failure> {
    if res.timed_out {
        return Err(Failure::new(
            code::in_family(code::family_of(code), "COMMAND_TIMEOUT").unwrap_or(code),
            format!("{step} timed out after {} s; {next}", timeout_ms / 1000),
        ));
    }
    match res.exit_code {
        Some(0) => Ok(()),
        other => Err(Failure::new(
            code,
            format!(
                "{step} failed ({}): {}; {next}",
                other
                    .map(|c| format!("exit {c}"))
                    .unwrap_or_else(|| "killed".into()),
                nonempty(last_line(&res.stderr))
            ),
        )),
    }
}

/// The first `n` characters of `s`, with `...` when cut.
pub fn first_chars(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push_str("...");
    }
    out
}

fn nonempty(s: &str) -> &str {
    if s.is_empty() {
        "no error output"
    } else {
        s
    }
}

/// Collapse a message to one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
