//! The operations of the ssh transport ([`Transport`]), over the [`Host`] capabilities.
//!
//! A "pod" of this transport is an existing machine reached with OpenSSH; remote paths are the
//! machine's own. Every operation parses its target ([`Target`]), reads the settings
//! ([`SshSettings`]), builds one ssh call ([`crate::command`]) running a fixed remote script
//! whose inputs are quoted positional arguments, runs it through `process.run` with stdin
//! closed (or carrying the file of put-file), and reads the outcome with
//! [`crate::errors::interpret`].
//!
//! What this transport never does: create machines (`provision` fails and says to set
//! LIUM_TARGET and use `--provision skip`), delete them (`delete` fails: a teardown with
//! `--teardown delete` on ssh is refused), prompt (BatchMode, no terminal, stdin closed), or
//! accept an unknown host key unless WF_SSH_ACCEPT_NEW=1.

use crate::command::{
    self, exec_remote, invocation, remote_command, ssh_args, Invocation, SshSettings, Stdin,
    FETCH_REMOTE_SH, GET_SH, NO_CWD_PREFIX, PUT_SH, RC_MISSING, RC_NO_CWD, STATUS_SH,
};
use crate::errors::{interpret, split_login_noise, CallContext, Ending};
use crate::target::Target;
use wfhost_pack_sdk::path::normalize_abs_path;
use wfhost_pack_sdk::text::last_line;
use wfhost_pack_sdk::transport::{
    CommandResult, ExecSpec, FetchSource, Host, Level, PodIdentity, PodState, PodReport, Transport,
    TransportError,
};

/// Transport id.
pub const ID: &str = "ssh";

/// `status`: connect, log in, start a shell.
pub const STATUS_TIMEOUT_MS: u64 = 30_000;
/// `get-file`.
pub const GET_TIMEOUT_MS: u64 = 120_000;
/// `put-file`.
pub const PUT_TIMEOUT_MS: u64 = 300_000;
/// `fetch-dir` (kept under the host's 600 s wall-clock limit for one transport call).
pub const FETCH_TIMEOUT_MS: u64 = 570_000;

/// The ssh transport bound to a host; its operations are its [`Transport`] implementation.
pub struct Ssh<'h, H: Host> {
    host: &'h H,
    /// What the login shell printed before the last call's script started, if anything.
    login_noise: std::cell::RefCell<Option<String>>,
}

struct Call {
    target: Target,
    settings: SshSettings,
    ctx: CallContext,
}

impl<'h, H: Host> Ssh<'h, H> {
    /// Wrap `host`.
    pub fn new(host: &'h H) -> Self {
        Ssh { host, login_noise: std::cell::RefCell::new(None) }
    }

    fn prepare(&self, target: &str) -> Result<Call, TransportError> {
        let target = Target::parse(target)?;
        let settings = SshSettings::from_lookup(|k| self.host.setting(k))?;
        for w in &settings.warnings {
            self.host.log(Level::Warn, w);
        }
        let ctx = CallContext {
            target: target.normalised(),
            user: target.user.clone(),
            host: target.host.clone(),
            port: target.port,
            known_hosts: settings.known_hosts.clone(),
            accept_new: settings.accept_new,
            identity: settings.identity_handle.is_some(),
        };
        Ok(Call {
            target,
            settings,
            ctx,
        })
    }

    /// Run an invocation; the result as the host returned it.
    fn run_raw(
        &self,
        what: &str,
        inv: Invocation,
        stdin: Option<Vec<u8>>,
        timeout_ms: u64,
    ) -> Result<CommandResult, TransportError> {
        // Only the program: arguments can carry command text and environment values.
        self.host
            .log(Level::Debug, &format!("{what}: running {}", inv.program));
        self.host.run(&inv.request(stdin, timeout_ms)).map_err(|e| {
            TransportError::Failed(format!(
                "{what}: could not run ssh on this machine: {e}; install the OpenSSH client (and configure WF_SSH_IDENTITY if the host says the secret is unknown)"
            ))
        })
    }

    /// Run an invocation and read its outcome ([`interpret`]).
    fn run(
        &self,
        what: &str,
        call: &Call,
        inv: Invocation,
        stdin: Option<Vec<u8>>,
        timeout_ms: u64,
        ending: Ending,
    ) -> Result<CommandResult, TransportError> {
        let timeout_ms = timeout_ms.max(1);
        let res = self.run_raw(what, inv, stdin, timeout_ms)?;
        if let Some((noise, _)) = split_login_noise(&res.stdout).filter(|(n, _)| !n.is_empty()) {
            *self.login_noise.borrow_mut() = Some(noise.to_string());
        }
        interpret(&call.ctx, what, res, timeout_ms, ending)
    }

    /// Run one of our remote scripts; a timeout is an error, as is any exit but 0.
    fn script(
        &self,
        what: &str,
        call: &Call,
        script: &str,
        args: &[&str],
        stdin: Option<Vec<u8>>,
        timeout_ms: u64,
    ) -> Result<CommandResult, TransportError> {
        let mode = if stdin.is_some() {
            Stdin::Data
        } else {
            Stdin::Closed
        };
        let remote = remote_command(script, args);
        let argv = ssh_args(&call.settings, &call.target, mode, &remote)?;
        let inv = invocation(&call.settings, argv);
        let res = self.run(what, call, inv, stdin, timeout_ms, Ending::Script)?;
        check_script(what, &call.ctx.target, res, timeout_ms)
    }
}

impl<H: Host> Transport for Ssh<'_, H> {
    /// `id`.
    fn id(&self) -> String {
        ID.to_string()
    }

    /// `check-config`: every setting [`SshSettings::from_lookup`] reads (WF_SSH_OPTIONS's
    /// refusals, WF_SSH_ACCEPT_NEW, the known_hosts and control paths, the identity handle), and
    /// OPS_DEFAULT_HOST when it is set, exactly as a call would read them.
    fn check_config(&self) -> Result<(), TransportError> {
        let settings = SshSettings::from_lookup(|k| self.host.setting(k))?;
        if let Some(host) = &settings.default_host {
            Target::parse(host).map_err(|e| {
                TransportError::Invalid(format!("{}={host:?} is refused: {e}", command::SETTING_DEFAULT_HOST))
            })?;
        }
        Ok(())
    }

    /// `parse-target`: the normal form of a valid target.
    fn parse_target(&self, target: &str) -> Result<String, TransportError> {
        Target::parse(target).map(|t| t.normalised())
    }

    /// `provision`: always fails; ssh hosts exist already.
    fn provision(
        &self,
        _name_hint: &str,
        _idempotency_key: &str,
    ) -> Result<PodIdentity, TransportError> {
        let example = self
            .host
            .setting(command::SETTING_DEFAULT_HOST)
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "<user@host>".into());
        Err(TransportError::Failed(format!(
            "the ssh transport cannot create pods: set LIUM_TARGET={example} and use --provision skip"
        )))
    }

    /// `status`: `ready` when a shell starts on the host; `unreachable` when it cannot be
    /// reached; `failed` when it refuses us (host key, login).
    fn status(&self, target: &str) -> Result<PodReport, TransportError> {
        let call = self.prepare(target)?;
        let res = self.script("ssh status", &call, STATUS_SH, &[], None, STATUS_TIMEOUT_MS)?;
        if let Some(noise) = self.login_noise.borrow_mut().take() {
            let shown: String = noise.trim().chars().take(200).collect();
            self.host.log(
                Level::Warn,
                &format!(
                    "the login shell on {} prints {shown:?} before every command (from the login user's shell startup files, \
                     such as ~/.bashrc or /etc/profile); wfhost ignores it, but it is better printed only by interactive shells",
                    call.ctx.target
                ),
            );
        }
        let name = last_line(&res.stdout);
        Ok(PodReport {
            state: PodState::Ready,
            detail: format!(
                "{} answers over ssh (host name {})",
                call.ctx.target,
                if name.is_empty() { "unknown" } else { name }
            ),
        })
    }

    /// `resolve-path`: remote paths are the host's own; absolute normalised paths only.
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, TransportError> {
        Target::parse(target)?;
        normalize_abs_path(path)
            .map_err(|e| TransportError::Invalid(format!("remote path {path:?} refused: {e}")))
    }

    /// `exec`: `cd <cwd> && env K=V ... sh -c <command>` on the host, stdin closed, bounded on
    /// the host too ([`crate::command::EXEC_SH`]): when the timeout kills the local ssh, the
    /// remote command is stopped a moment later instead of running on. The result is the
    /// command's (a timed-out command comes back with `timed-out` set); errors are the
    /// connection's.
    fn exec(&self, target: &str, spec: &ExecSpec) -> Result<CommandResult, TransportError> {
        let call = self.prepare(target)?;
        let timeout_ms = spec.timeout_ms.max(1);
        let remote = exec_remote(&spec.command, spec.cwd.as_deref(), &spec.env, timeout_ms)?;
        let argv = ssh_args(&call.settings, &call.target, Stdin::Closed, &remote)?;
        let inv = invocation(&call.settings, argv);
        let res = self.run("exec", &call, inv, None, timeout_ms, Ending::ExitMark)?;
        if res.exit_code == Some(RC_NO_CWD) {
            if let Some(dir) = res
                .stderr
                .lines()
                .next()
                .and_then(|l| l.strip_prefix(NO_CWD_PREFIX))
            {
                return Err(TransportError::Failed(format!(
                    "working directory {dir} does not exist on {}; create it first",
                    call.ctx.target
                )));
            }
        }
        Ok(res)
    }

    /// `put-file`: `mkdir -p`, write a temp file from stdin, chmod, rename.
    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), TransportError> {
        let call = self.prepare(target)?;
        let file = normalize_abs_path(path)
            .map_err(|e| TransportError::Invalid(format!("remote path {path:?} refused: {e}")))?;
        let parent = match file.rfind('/') {
            _ if file == "/" => {
                return Err(TransportError::Invalid(
                    "remote path \"/\" is a directory, not a file".into(),
                ))
            }
            Some(0) | None => "/".to_string(),
            Some(i) => file[..i].to_string(),
        };
        let mode = format!("{:o}", mode & 0o7777);
        self.script(
            &format!("put-file {file} on {}", call.ctx.target),
            &call,
            PUT_SH,
            &[&parent, &file, &mode],
            Some(contents),
            PUT_TIMEOUT_MS,
        )?;
        Ok(())
    }

    /// `get-file`: at most `max_bytes` of a (text) file.
    fn get_file(
        &self,
        target: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, TransportError> {
        let call = self.prepare(target)?;
        let file = normalize_abs_path(path)
            .map_err(|e| TransportError::Invalid(format!("remote path {path:?} refused: {e}")))?;
        let res = self.script(
            &format!("get-file {file} on {}", call.ctx.target),
            &call,
            GET_SH,
            &[&file, &max_bytes.to_string()],
            None,
            GET_TIMEOUT_MS,
        )?;
        Ok(res.stdout.into_bytes())
    }

    /// `fetch-command`: ssh running [`FETCH_REMOTE_SH`] on the host, whose stdout is a tar
    /// archive of `remote_dir` (the wfhost host unpacks it).
    fn fetch_command(&self, target: &str, remote_dir: &str) -> Result<FetchSource, TransportError> {
        let call = self.prepare(target)?;
        let src = normalize_abs_path(remote_dir).map_err(|e| {
            TransportError::Invalid(format!("remote directory {remote_dir:?} refused: {e}"))
        })?;
        let remote = remote_command(FETCH_REMOTE_SH, &[&src]);
        let argv = ssh_args(&call.settings, &call.target, Stdin::Closed, &remote)?;
        Ok(FetchSource {
            command: invocation(&call.settings, argv).request(None, FETCH_TIMEOUT_MS),
            // The login shell may print before the script's begin mark: the archive follows it.
            begin_after: Some(crate::command::BEGIN_MARK.to_string()),
        })
    }

    /// `fetch-ended`: how the ssh of [`Self::fetch_command`] ended, read like every script's.
    fn fetch_ended(&self, target: &str, remote_dir: &str, ended: &CommandResult) -> Result<(), TransportError> {
        let call = self.prepare(target)?;
        let what = format!("fetch-dir {remote_dir} from {}", call.ctx.target);
        let res = interpret(&call.ctx, &what, ended.clone(), FETCH_TIMEOUT_MS, Ending::Script)?;
        check_script(&what, &call.ctx.target, res, FETCH_TIMEOUT_MS)?;
        Ok(())
    }

    /// `delete`: always refused; this transport never deletes machines.
    fn delete(&self, target: &str) -> Result<(), TransportError> {
        let t = Target::parse(target)?.normalised();
        Err(TransportError::Failed(format!(
            "the ssh transport never deletes hosts: {t} was left as it is; use --teardown keep with ssh and clean the host yourself if needed"
        )))
    }
}

/// Judge the result of one of our scripts (the connection already succeeded): a timeout is
/// `timeout`, exit 0 the result, [`RC_MISSING`] `failed` with the script's own words, any other
/// exit `failed` naming it.
pub fn check_script(
    what: &str,
    target: &str,
    res: CommandResult,
    timeout_ms: u64,
) -> Result<CommandResult, TransportError> {
    if res.timed_out {
        return Err(TransportError::Timeout(format!(
            "{what}: not finished within {} s; check {target} (disk, load) and rerun",
            timeout_ms / 1000
        )));
    }
    match res.exit_code {
        Some(0) => Ok(res),
        Some(RC_MISSING) => Err(TransportError::Failed(format!(
            "{what}: {}",
            last_line(&res.stderr)
        ))),
        other => {
            let shown = last_line(&res.stderr);
            Err(TransportError::Failed(format!(
                "{what} failed (exit {}): {}",
                other
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                if shown.is_empty() {
                    "no error output"
                } else {
                    shown
                }
            )))
        }
    }
}

#[cfg(test)]
mod tests;
