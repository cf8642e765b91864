//! Building ssh command lines: the settings the host passes, the options every call carries,
//! the local wrapper that injects the identity file, and the remote command strings.
//!
//! Data flow: [`SshSettings::from_lookup`] reads and checks the host's settings once per call;
//! [`ssh_args`] turns them plus a [`Target`] and a remote command into ssh's argument list;
//! [`invocation`] wraps that list into the program the host runs (`ssh` directly, or `sh`
//! when an identity file must be injected from a secret); [`remote_command`] quotes a fixed
//! script and its positional arguments into the one string ssh hands to the remote shell;
//! [`exec_remote`] builds the line of `exec`, whose script ([`EXEC_SH`]) also bounds the
//! command's run time on the remote host ([`remote_limit_secs`]).
//!
//! Option order matters: ssh keeps the *first* value it sees for an `-o` option, so the options
//! that make the transport safe (`BatchMode=yes`, host key checking, the known-hosts file) come
//! before `WF_SSH_OPTIONS` and cannot be overridden, while the tunable defaults
//! (`ConnectTimeout`, keep-alives, multiplexing, `LogLevel`) come after it and can be.

use crate::target::Target;
use wfhost_pack_sdk::path::normalize_abs_path;
use wfhost_pack_sdk::shell::shell_quote;
use wfhost_pack_sdk::transport::{Kv, RunRequest, TransportError};

/// Setting: the known_hosts file (absolute; the host resolves relative config paths).
pub const SETTING_KNOWN_HOSTS: &str = "WF_SSH_KNOWN_HOSTS";
/// Setting: extra ssh arguments, whitespace-separated.
pub const SETTING_OPTIONS: &str = "WF_SSH_OPTIONS";
/// Setting: `1` = `StrictHostKeyChecking=accept-new`, else `yes`.
pub const SETTING_ACCEPT_NEW: &str = "WF_SSH_ACCEPT_NEW";
/// Setting: the directory for ControlMaster sockets (created by the host, mode 0700).
pub const SETTING_CONTROL_DIR: &str = "WF_SSH_CONTROL_DIR";
/// Setting: the secret handle of the identity file, present only when one is configured.
pub const SETTING_IDENTITY_HANDLE: &str = "WF_SSH_IDENTITY_HANDLE";
/// Setting: the configured default ssh destination (only quoted in messages).
pub const SETTING_DEFAULT_HOST: &str = "OPS_DEFAULT_HOST";
/// The variable the identity file's path is injected into (in the local child only).
pub const IDENTITY_ENV: &str = "WF_SSH_IDENTITY_FILE";

/// Default `ConnectTimeout` in seconds (override with `-o ConnectTimeout=N` in WF_SSH_OPTIONS).
pub const CONNECT_TIMEOUT_SECS: u32 = 10;
/// `ServerAliveInterval`: a silent connection is probed after this many seconds.
pub const SERVER_ALIVE_INTERVAL_SECS: u32 = 15;
/// `ServerAliveCountMax`: unanswered probes before ssh gives up on a dropped connection.
pub const SERVER_ALIVE_COUNT_MAX: u32 = 4;
/// `ControlPersist`: how long an idle master connection stays up.
pub const CONTROL_PERSIST_SECS: u32 = 60;
/// A unix socket path holds at most 107 bytes; ssh adds `/` + 40 (`%C`) + 17 (a temporary
/// suffix while it binds), so a longer control directory disables multiplexing.
pub const MAX_CONTROL_DIR_LEN: usize = 49;

/// The line every remote script prints to stderr first: its presence proves the connection
/// was made and the remote shell started, so exit 255 after it is the command's own.
pub const CONNECTED_MARK: &str = "wfhost-ssh: connected";

/// The line every remote script prints to stdout first: what comes before it is the login
/// shell's own output (a motd, an `echo` in ~/.bashrc, conda's init), never the command's, and
/// is cut off ([`crate::errors::split_login_noise`]); fetch-dir's local side skips it before
/// the archive ([`FETCH_LOCAL_SH`]).
pub const BEGIN_MARK: &str = "wfhost-ssh: begin";

/// The first line of every remote script: [`CONNECTED_MARK`] on stderr, [`BEGIN_MARK`] on
/// stdout (a macro, so the scripts stay string literals that name the marks once).
macro_rules! preamble {
    () => {
        "printf '%s\\n' 'wfhost-ssh: connected' >&2; printf '%s\\n' 'wfhost-ssh: begin'\n"
    };
}

/// `-o` keys WF_SSH_OPTIONS may not set: they would weaken host key checking, allow prompts or
/// a terminal, run local commands, or bypass the secret handling of the identity file.
const FORBIDDEN_KEYS: &[&str] = &[
    "batchmode",
    "stricthostkeychecking",
    "userknownhostsfile",
    "globalknownhostsfile",
    "requesttty",
    "permitlocalcommand",
    "localcommand",
    "identityfile",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "stdinnull",
    "forkafterauthentication",
    "sessiontype",
    "remotecommand",
];

/// What the host configured for ssh, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshSettings {
    /// `UserKnownHostsFile`; `None` = ssh's default (`~/.ssh/known_hosts`).
    pub known_hosts: Option<String>,
    /// Accept the key of a host never seen before.
    pub accept_new: bool,
    /// ControlMaster socket directory; `None` = no multiplexing.
    pub control_dir: Option<String>,
    /// Secret handle of the identity file.
    pub identity_handle: Option<String>,
    /// WF_SSH_OPTIONS words, checked.
    pub extra: Vec<String>,
    /// OPS_DEFAULT_HOST, for messages.
    pub default_host: Option<String>,
    /// Things the caller should log (e.g. multiplexing disabled).
    pub warnings: Vec<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl SshSettings {
    /// Read and check the settings through `get` (the `settings` import).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<SshSettings, TransportError> {
        let mut warnings = Vec::new();
        let known_hosts = match non_empty(get(SETTING_KNOWN_HOSTS)) {
            None => None,
            Some(p) => Some(normalize_abs_path(&p).map_err(|e| {
                TransportError::Invalid(format!(
                    "{SETTING_KNOWN_HOSTS}={p:?} is unusable ({e}); name the known_hosts file by an absolute path or a path relative to the working directory"
                ))
            })?),
        };
        let accept_new = match non_empty(get(SETTING_ACCEPT_NEW)).as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(TransportError::Invalid(format!(
                    "{SETTING_ACCEPT_NEW}={other:?} must be 0 or 1"
                )))
            }
        };
        let control_dir = match non_empty(get(SETTING_CONTROL_DIR)) {
            None => None,
            Some(d) => {
                let d = normalize_abs_path(&d).map_err(|e| {
                    TransportError::Invalid(format!("{SETTING_CONTROL_DIR}={d:?} is unusable: {e}"))
                })?;
                if d.len() > MAX_CONTROL_DIR_LEN {
                    warnings.push(format!(
                        "ssh connection sharing is off: the control directory {d} is longer than {MAX_CONTROL_DIR_LEN} bytes (unix socket paths are limited); run wfhost from a shorter path to share connections"
                    ));
                    None
                } else {
                    Some(d)
                }
            }
        };
        let identity_handle = match non_empty(get(SETTING_IDENTITY_HANDLE)) {
            None => None,
            Some(h) if h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => Some(h),
            Some(h) => {
                return Err(TransportError::Invalid(format!(
                    "{SETTING_IDENTITY_HANDLE}={h:?} is not a secret handle name"
                )))
            }
        };
        let extra = match get(SETTING_OPTIONS) {
            None => Vec::new(),
            Some(text) => check_extra_options(&text)?,
        };
        Ok(SshSettings {
            known_hosts,
            accept_new,
            control_dir,
            identity_handle,
            extra,
            default_host: non_empty(get(SETTING_DEFAULT_HOST)),
            warnings,
        })
    }
}

/// Split WF_SSH_OPTIONS on whitespace and check every word.
///
/// Accepted: `-o Key=Value` (or `-oKey=Value`) for any key but [`FORBIDDEN_KEYS`], `-J host`,
/// and the flags `-4`, `-6`, `-C`, `-q`, `-v`, `-vv`, `-vvv`. Everything else is refused, so
/// the options can neither start a terminal, a background session or a local command, nor
/// weaken the host key check.
pub fn check_extra_options(text: &str) -> Result<Vec<String>, TransportError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let bad = |w: &str, why: &str| {
        TransportError::Invalid(format!(
            "{SETTING_OPTIONS}: {w:?} is refused: {why}; use -o Key=Value options"
        ))
    };
    let check_o = |kv: &str| -> Result<(), TransportError> {
        let key = kv.split('=').next().unwrap_or("");
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) || !kv.contains('=') {
            return Err(bad(kv, "an -o option must read Key=Value"));
        }
        if FORBIDDEN_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
            return Err(bad(
                kv,
                "the ssh transport sets this itself (host keys are always checked, no prompts or terminals, the identity comes from WF_SSH_IDENTITY)",
            ));
        }
        Ok(())
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        match w {
            "-o" | "-J" => {
                let arg = words
                    .get(i + 1)
                    .ok_or_else(|| bad(w, "it needs a value after it"))?;
                if w == "-o" {
                    check_o(arg)?;
                } else if arg.starts_with('-') {
                    return Err(bad(arg, "a jump host cannot start with -"));
                }
                out.push(w.to_string());
                out.push(arg.to_string());
                i += 2;
            }
            "-4" | "-6" | "-C" | "-q" | "-v" | "-vv" | "-vvv" => {
                out.push(w.to_string());
                i += 1;
            }
            _ => {
                if let Some(kv) = w.strip_prefix("-o") {
                    check_o(kv)?;
                    out.push(w.to_string());
                    i += 1;
                } else {
                    return Err(bad(w, "only -o, -J, -4, -6, -C, -q and -v are accepted"));
                }
            }
        }
    }
    Ok(out)
}

/// A path as an ssh option value: `%` escaped (ssh expands `%` tokens), wrapped in double
/// quotes when it holds whitespace. Paths with `"` cannot be expressed and are refused.
pub fn option_path(what: &str, path: &str) -> Result<String, TransportError> {
    if path.contains('"') {
        return Err(TransportError::Invalid(format!(
            "{what} {path:?} contains a double quote, which ssh options cannot carry; use another path"
        )));
    }
    let escaped = path.replace('%', "%%");
    if escaped.chars().any(char::is_whitespace) {
        Ok(format!("\"{escaped}\""))
    } else {
        Ok(escaped)
    }
}

/// How ssh's stdin is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdin {
    /// `-n`: stdin from /dev/null (the host also closes it).
    Closed,
    /// The host writes bytes to ssh's stdin (put-file).
    Data,
}

/// ssh's arguments for one call: options, `--`, destination, the remote command.
pub fn ssh_args(
    s: &SshSettings,
    target: &Target,
    stdin: Stdin,
    remote: &str,
) -> Result<Vec<String>, TransportError> {
    let mut a: Vec<String> = Vec::with_capacity(40);
    let mut o = |kv: String| {
        a.push("-o".into());
        a.push(kv);
    };
    // Safety options first: ssh keeps the first value of each option.
    o("BatchMode=yes".into());
    o(format!(
        "StrictHostKeyChecking={}",
        if s.accept_new { "accept-new" } else { "yes" }
    ));
    if let Some(kh) = &s.known_hosts {
        o(format!(
            "UserKnownHostsFile={}",
            option_path(SETTING_KNOWN_HOSTS, kh)?
        ));
    }
    o("RequestTTY=no".into());
    if s.identity_handle.is_some() {
        o("IdentitiesOnly=yes".into());
    }
    a.extend(s.extra.iter().cloned());
    let mut o = |kv: String| {
        a.push("-o".into());
        a.push(kv);
    };
    o(format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"));
    o(format!("ServerAliveInterval={SERVER_ALIVE_INTERVAL_SECS}"));
    o(format!("ServerAliveCountMax={SERVER_ALIVE_COUNT_MAX}"));
    o("LogLevel=ERROR".into());
    match &s.control_dir {
        Some(dir) => {
            o("ControlMaster=auto".into());
            o(format!(
                "ControlPath={}/%C",
                option_path(SETTING_CONTROL_DIR, dir)?
            ));
            o(format!("ControlPersist={CONTROL_PERSIST_SECS}"));
        }
        None => o("ControlMaster=no".into()),
    }
    a.push("-T".into());
    if stdin == Stdin::Closed {
        a.push("-n".into());
    }
    if let Some(port) = target.port {
        a.push("-p".into());
        a.push(port.to_string());
    }
    a.push("--".into());
    a.push(target.destination());
    a.push(remote.to_string());
    Ok(a)
}

/// The local `sh` script that injects the identity file: the path exists only in this child's
/// environment (from the host's secret), never in the plugin or on a command line.
pub const IDENTITY_WRAPPER: &str = r#"exec ssh -i "$WF_SSH_IDENTITY_FILE" "$@""#;

/// A program, its arguments and the secret environment it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `ssh` or `sh`.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// (variable, secret handle).
    pub secret_env: Vec<Kv>,
}

impl Invocation {
    /// As a request to the host: no working directory or extra environment.
    pub fn request(self, stdin: Option<Vec<u8>>, timeout_ms: u64) -> RunRequest {
        RunRequest {
            program: self.program,
            args: self.args,
            cwd: None,
            env: Vec::new(),
            secret_env: self.secret_env,
            stdin,
            timeout_ms,
        }
    }
}

/// Run ssh with `args`: directly, or through [`IDENTITY_WRAPPER`] with the identity secret.
pub fn invocation(s: &SshSettings, args: Vec<String>) -> Invocation {
    match &s.identity_handle {
        None => Invocation {
            program: "ssh".into(),
            args,
            secret_env: Vec::new(),
        },
        Some(h) => {
            let mut all = vec![
                "-c".to_string(),
                IDENTITY_WRAPPER.to_string(),
                "sh".to_string(),
            ];
            all.extend(args);
            Invocation {
                program: "sh".into(),
                args: all,
                secret_env: vec![(IDENTITY_ENV.to_string(), h.clone())],
            }
        }
    }
}

/// The string ssh sends to the remote login shell: `exec sh -c '<script>' sh '<arg>'...`.
/// Every part is single-quoted, so the remote shell sees the script and each argument as one
/// word whatever bytes they hold; the script reads its arguments as `$1`, `$2`, ...
pub fn remote_command(script: &str, args: &[&str]) -> String {
    let mut s = format!("exec sh -c {} sh", shell_quote(script));
    for a in args {
        s.push(' ');
        s.push_str(&shell_quote(a));
    }
    s
}

/// `status`: prove a shell starts; print the host's name.
pub const STATUS_SH: &str = concat!(preamble!(), r#"uname -n 2>/dev/null || echo unknown"#);

/// `exec`: `$1` the working directory (empty = the login directory), `$2` the remote time
/// limit in seconds ([`remote_limit_secs`]), then the command's argv.
///
/// The limit is enforced on the remote host itself, so a command whose local ssh was killed by
/// the timeout does not run on: sshd signals nothing when a session without a terminal loses
/// its client. Where coreutils `timeout` exists (GNU or uutils, recognised by `--version`), the
/// script runs `timeout -k 5 LIMIT argv...`: TERM to the command's whole process group at
/// the limit, KILL 5 s later if it is still running. Elsewhere a POSIX sh watchdog does the
/// same: the command runs in the background (so, as POSIX shells do for background jobs, it
/// starts with SIGINT and SIGQUIT ignored), a `sleep` subshell signals the script (USR1) at the
/// limit, and the script sends TERM, then KILL after 5 s, to its own process group when it
/// leads one (always under sshd, which starts every session in a new session and group; the
/// script is that group's leader because every layer `exec`s), otherwise to the command's
/// process alone. The script survives its own TERM (a trap) and exits 124 like `timeout`; the
/// group KILL ends it too. Processes the command detached into a session of their own
/// (`setsid`, as the sweep runner is) are never touched. A command that ends in time leaves
/// nothing behind: the watchdog and its `sleep` are stopped, and neither holds ssh's output
/// open (their stdio is /dev/null). Whichever way the command ends, the script's last words
/// are [`EXIT_MARK`] and the status on stderr, so a connection that breaks mid-command is told
/// from a command that failed.
pub const EXEC_SH: &str = concat!(preamble!(), r#"leave() { printf '\n%s %s\n' 'wfhost-ssh: exit' "$1" >&2; exit "$1"; }
if [ -n "$1" ]; then
  cd -- "$1" 2>/dev/null || { printf 'wfhost-ssh: no such directory: %s\n' "$1" >&2; leave 97; }
fi
limit=$2
shift 2
case $(timeout --version 2>/dev/null) in
  *coreutils*) timeout -k 5 "$limit" "$@"; leave "$?" ;;
esac
arm() {
  ( nap=
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep "$1" & nap=$!
    wait "$nap" && kill -s USR1 "$2" ) </dev/null >/dev/null 2>&1 &
  dog=$!
}
await() {
  while :; do
    wait "$cmd"; rc=$?
    [ -z "$fired" ] || return 1
    kill -s 0 "$cmd" 2>/dev/null || return 0
  done
}
"$@" &
cmd=$! fired=
trap 'fired=1' USR1
arm "$limit" "$$"
if await; then kill "$dog" 2>/dev/null; leave "$rc"; fi
if kill -s 0 -- "-$$" 2>/dev/null; then grp=-$$; else grp=$cmd; fi
trap : TERM
kill -s TERM -- "$grp" 2>/dev/null
trap - TERM
fired=
arm 5 "$$"
if await; then kill "$dog" 2>/dev/null; leave 124; fi
kill -s KILL -- "$grp" 2>/dev/null
leave 124"#);

/// The line [`EXEC_SH`] ends its stderr with, after a newline of its own: `wfhost-ssh: exit N`.
/// A result without it did not hear the end of the command: with ssh's exit 255 that is a
/// connection that broke (a remote command may exit 255 itself, and then the line is there).
pub const EXIT_MARK: &str = "wfhost-ssh: exit";

/// Seconds [`EXEC_SH`] waits after TERM before it sends KILL (the `5` written in the script).
pub const REMOTE_KILL_AFTER_SECS: u64 = 5;
/// Seconds the remote limit adds to the exec timeout: the local ssh is killed first (so the
/// caller sees `timed-out`, not the remote's exit 124), the remote limit is the backstop that
/// stops the command once its connection is gone.
pub const REMOTE_GRACE_SECS: u64 = 1;
/// The largest remote limit (about 68 years): every `sleep` and `timeout` accepts it.
pub const MAX_REMOTE_LIMIT_SECS: u64 = i32::MAX as u64;
/// The exit code of a command [`EXEC_SH`] stopped at its limit (as coreutils `timeout`).
pub const RC_REMOTE_TIMEOUT: i32 = 124;

/// The remote time limit, in whole seconds, of an exec with a local timeout of `timeout_ms`:
/// the timeout rounded up, plus [`REMOTE_GRACE_SECS`], at most [`MAX_REMOTE_LIMIT_SECS`].
pub fn remote_limit_secs(timeout_ms: u64) -> u64 {
    timeout_ms
        .div_ceil(1000)
        .saturating_add(REMOTE_GRACE_SECS)
        .min(MAX_REMOTE_LIMIT_SECS)
}

/// Exit code of [`EXEC_SH`] when the working directory is missing.
pub const RC_NO_CWD: i32 = 97;
/// The stderr line [`EXEC_SH`] prints then.
pub const NO_CWD_PREFIX: &str = "wfhost-ssh: no such directory: ";

/// `put-file`: `$1` parent directory, `$2` file, `$3` octal mode; stdin the contents.
pub const PUT_SH: &str = concat!(preamble!(), r#"mkdir -p -- "$1" || { cat >/dev/null; exit 1; }
tmp="$2.wfhost-tmp.$$"
if cat > "$tmp" && chmod "$3" "$tmp" && mv -f -- "$tmp" "$2"; then exit 0; fi
rm -f -- "$tmp"
exit 1"#);

/// `get-file`: `$1` file, `$2` max bytes.
pub const GET_SH: &str = concat!(preamble!(), r#"[ -f "$1" ] || { printf 'no such file: %s\n' "$1" >&2; exit 4; }
exec head -c "$2" -- "$1""#);

/// `fetch-dir` (remote half): `$1` directory; streams its contents as a tar archive.
pub const FETCH_REMOTE_SH: &str = concat!(preamble!(), r#"[ -d "$1" ] || { printf 'no such directory: %s\n' "$1" >&2; exit 4; }
cd -- "$1" && exec tar -cf - ."#);

/// Exit code of our remote scripts for a missing file or directory.
pub const RC_MISSING: i32 = 4;

/// An environment variable name a remote command may receive.
pub fn is_env_name(k: &str) -> bool {
    let mut b = k.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// The remote command of `exec`: [`EXEC_SH`] with the cwd and the remote limit of
/// `timeout_ms` ([`remote_limit_secs`]), then `env K=V ... sh -c <command>` (or `sh -c <command>`
/// without env). Every part is a quoted positional argument ([`remote_command`]), so the login
/// shell that receives the line and the `sh` that runs the script see each one unchanged.
pub fn exec_remote(
    command: &str,
    cwd: Option<&str>,
    env: &[Kv],
    timeout_ms: u64,
) -> Result<String, TransportError> {
    let cwd = match cwd {
        None => String::new(),
        Some(c) => normalize_abs_path(c).map_err(|e| {
            TransportError::Invalid(format!("working directory {c:?} refused: {e}"))
        })?,
    };
    let mut argv: Vec<String> = vec![cwd, remote_limit_secs(timeout_ms).to_string()];
    if !env.is_empty() {
        argv.push("env".into());
        for (k, v) in env {
            if !is_env_name(k) {
                return Err(TransportError::Invalid(format!(
                    "environment variable name {k:?} is refused (letters, digits and _ only, not starting with a digit)"
                )));
            }
            argv.push(format!("{k}={v}"));
        }
    }
    argv.push("sh".into());
    argv.push("-c".into());
    argv.push(command.to_string());
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    Ok(remote_command(EXEC_SH, &refs))
}

#[cfg(test)]
mod tests;
