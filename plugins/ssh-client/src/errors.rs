//! Reading what an ssh run produced: did the connection happen, and if not, why.
//!
//! Every remote script prints [`CONNECTED_MARK`] to stderr first. [`interpret`] looks for it:
//! - no mark and exit 255 (or any exit): ssh itself failed; [`classify`] maps its stderr to
//!   `unreachable` (refused, timed out, no route, unknown name, dropped), or `failed` with a
//!   message saying what to fix (host key unknown or changed, login refused, bad options);
//! - mark present and exit 255 with a dropped-connection message after it, or without the
//!   end of the command heard (our scripts never exit 255; `exec` ends with
//!   [`EXIT_MARK`](crate::command::EXIT_MARK), see [`Ending`]): `unreachable` (the connection
//!   broke while the command ran);
//! - mark present otherwise: the command ran; its result is returned with the mark removed.
//!
//! A timeout before the mark is `timeout` (nothing answered); after it, the result is returned
//! with `timed-out` set and the caller decides.

use crate::command::{CONNECTED_MARK, EXIT_MARK};
use wfhost_pack_sdk::text::last_line;
use wfhost_pack_sdk::transport::{CommandResult, TransportError};

/// What the messages need to know about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The normalised target.
    pub target: String,
    /// The login user, when the target names one.
    pub user: Option<String>,
    /// The host (for `ssh-keyscan` / `ssh-keygen -R` advice).
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// The known_hosts file in use, when configured.
    pub known_hosts: Option<String>,
    /// accept-new is on.
    pub accept_new: bool,
    /// An identity file is configured.
    pub identity: bool,
}

/// ssh messages meaning the host could not be reached at all.
const UNREACHABLE: &[&str] = &[
    "Connection refused",
    "Connection timed out",
    "Operation timed out",
    "No route to host",
    "Network is unreachable",
    "Could not resolve hostname",
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname",
    "kex_exchange_identification",
    "Connection closed by",
    "Connection reset",
];

/// ssh messages meaning an established connection broke.
const DROPPED: &[&str] = &[
    "closed by remote host",
    "Broken pipe",
    "Connection reset",
    "Timeout, server",
    "client_loop: send disconnect",
    "mux_client_read_packet",
    "mux_client_request_session: read from master failed",
];

/// Host key problems.
const HOST_KEY_CHANGED: &[&str] = &[
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "Host key for",
    "key for this host has changed",
];
const HOST_KEY: &[&str] = &[
    "Host key verification failed",
    "No matching host key",
    "host key is not known",
];

/// Authentication problems.
const AUTH: &[&str] = &[
    "Permission denied",
    "Too many authentication failures",
    "no mutual signature",
    "Authentication failed",
];

/// Option or configuration problems.
const CONFIG: &[&str] = &[
    "Bad configuration option",
    "command-line line",
    "Bad owner or permissions",
    "garbage at end of line",
    "unsupported option",
    "Unsupported option",
    "Bad port",
    "ControlPath too long",
    "too long for Unix domain socket",
];

fn any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Split `stderr` into (was the mark there, stderr without the mark line).
pub fn strip_mark(stderr: &str) -> (bool, String) {
    let mut found = false;
    let mut out = String::with_capacity(stderr.len());
    for line in stderr.split_inclusive('\n') {
        if !found && line.trim_end_matches(['\n', '\r']) == CONNECTED_MARK {
            found = true;
            continue;
        }
        out.push_str(line);
    }
    (found, out)
}

fn first_meaningful(stderr: &str, needles: &[&str]) -> String {
    stderr
        .lines()
        .map(str::trim)
        .find(|l| any(l, needles))
        .unwrap_or_else(|| last_line(stderr))
        .to_string()
}

fn keyscan_hint(c: &CallContext) -> String {
    let file = c.known_hosts.as_deref().unwrap_or("~/.ssh/known_hosts");
    match c.port {
        Some(p) => format!("ssh-keyscan -p {p} {} >> {file}", c.host),
        None => format!("ssh-keyscan {} >> {file}", c.host),
    }
}

fn known_hosts_name(c: &CallContext) -> String {
    match c.port {
        Some(p) if p != 22 => format!("[{}]:{p}", c.host),
        _ => c.host.clone(),
    }
}

/// Map the stderr of an ssh run that never reached the remote shell to an error.
pub fn classify(c: &CallContext, what: &str, exit: Option<i32>, stderr: &str) -> TransportError {
    let t = &c.target;
    let file = c.known_hosts.as_deref().unwrap_or("~/.ssh/known_hosts");
    if any(stderr, HOST_KEY_CHANGED) {
        return TransportError::Failed(format!(
            "{what}: the host key of {t} has CHANGED since it was recorded in {file}; the connection was refused because someone may be intercepting it (or the host was reinstalled). Verify the new key out of band, then remove the old entry with `ssh-keygen -R '{}' -f {file}`",
            known_hosts_name(c)
        ));
    }
    if any(stderr, HOST_KEY) {
        let accept = if c.accept_new {
            String::new()
        } else {
            " or set WF_SSH_ACCEPT_NEW=1 to accept a new host's key on first use".to_string()
        };
        return TransportError::Failed(format!(
            "{what}: host key verification of {t} failed: its key is not in {file}. Verify the host's key and add it (`{}`){accept}",
            keyscan_hint(c)
        ));
    }
    if any(stderr, AUTH) {
        let user = c.user.as_deref().unwrap_or("the login user");
        let fix = if c.identity {
            format!("check that WF_SSH_IDENTITY names a private key whose public key is in ~{}/.ssh/authorized_keys on the host", c.user.as_deref().unwrap_or(""))
        } else {
            "no WF_SSH_IDENTITY is set, so ssh only tried its default keys; set WF_SSH_IDENTITY to a private key authorized on the host".to_string()
        };
        return TransportError::Failed(format!(
            "{what}: {t} refused the login as {user} ({}); {fix}",
            first_meaningful(stderr, AUTH)
        ));
    }
    if any(stderr, CONFIG) {
        return TransportError::Failed(format!(
            "{what}: ssh rejected its configuration ({}); check WF_SSH_OPTIONS and your ssh config for {t}",
            first_meaningful(stderr, CONFIG)
        ));
    }
    if any(stderr, UNREACHABLE) || any(stderr, DROPPED) {
        let mut needles = UNREACHABLE.to_vec();
        needles.extend_from_slice(DROPPED);
        return TransportError::Unreachable(format!(
            "{what}: cannot reach {t} ({}); check that the host is up and sshd listens, then rerun",
            first_meaningful(stderr, &needles)
        ));
    }
    let shown = last_line(stderr);
    let exit = exit
        .map(|e| e.to_string())
        .unwrap_or_else(|| "signal".into());
    TransportError::Failed(format!(
        "{what}: ssh to {t} failed before the remote shell started (exit {exit}): {}",
        if shown.is_empty() {
            "no error output"
        } else {
            shown
        }
    ))
}

/// How the remote side of a call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// One of our scripts, which never exits 255 itself: after the connected mark, exit 255 is
    /// ssh's own failure.
    Script,
    /// [`crate::command::EXEC_SH`], which prints [`EXIT_MARK`] last: a result without it did not
    /// hear the command end.
    ExitMark,
}

/// Split `stderr` into (the status of a final [`EXIT_MARK`] line, stderr without that line and
/// the newline the script printed before it).
pub fn strip_exit_mark(stderr: &str) -> (Option<i32>, String) {
    let body = stderr.strip_suffix('\n').unwrap_or(stderr);
    let body = body.strip_suffix('\r').unwrap_or(body);
    let (before, last) = match body.rfind('\n') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => ("", body),
    };
    let status = last
        .strip_prefix(EXIT_MARK)
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|n| n.trim().parse::<i32>().ok());
    match status {
        // `before` ends just before the newline the script printed ahead of the mark.
        Some(rc) if body.len() > last.len() => (Some(rc), before.to_string()),
        _ => (None, stderr.to_string()),
    }
}

/// Split a remote script's stdout at the [`BEGIN_MARK`](crate::command::BEGIN_MARK) line:
/// (what the login shell printed before the script started, what the script printed). `None`
/// when the mark is not there. A mark on a line of its own is found; so is one that follows
/// login output without a final newline.
pub fn split_login_noise(stdout: &str) -> Option<(&str, &str)> {
    let mark = crate::command::BEGIN_MARK;
    let mut at = 0;
    while let Some(i) = stdout[at..].find(mark) {
        let start = at + i;
        let end = start + mark.len();
        let rest = &stdout[end..];
        let rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n'));
        if let Some(rest) = rest {
            return Some((&stdout[..start], rest));
        }
        at = end;
    }
    None
}

/// Read the result of an ssh run (see the module documentation). `Ok` = the remote shell ran;
/// the returned result has the marks removed from stderr, and from stdout everything up to
/// and including the begin mark (the login shell's noise: [`split_login_noise`]).
pub fn interpret(
    c: &CallContext,
    what: &str,
    res: CommandResult,
    timeout_ms: u64,
    ending: Ending,
) -> Result<CommandResult, TransportError> {
    let (connected, stderr) = strip_mark(&res.stderr);
    let (ended, stderr) = match ending {
        Ending::ExitMark => strip_exit_mark(&stderr),
        Ending::Script => (None, stderr),
    };
    let stdout = match split_login_noise(&res.stdout) {
        Some((_, ours)) => ours.to_string(),
        None => res.stdout.clone(),
    };
    let res = CommandResult { stderr, stdout, ..res };
    if !connected {
        if res.timed_out {
            return Err(TransportError::Timeout(format!(
                "{what}: no answer from {} within {} s (the connection or login did not complete); check the host and rerun",
                c.target,
                timeout_ms / 1000
            )));
        }
        return Err(classify(c, what, res.exit_code, &res.stderr));
    }
    if res.exit_code == Some(255) && !res.timed_out {
        // The end of the command was not heard: our script never exits 255, and the exec
        // script would have said so. A cut capture may have lost the mark: then only ssh's own
        // words count.
        let unheard = match ending {
            Ending::Script => true,
            Ending::ExitMark => ended.is_none() && !res.truncated,
        };
        if unheard || any(last_line(&res.stderr), DROPPED) {
            let said = last_line(&res.stderr);
            return Err(TransportError::Unreachable(format!(
                "{what}: the connection to {} dropped while the command ran ({}); the command may still be running there: check it, then rerun",
                c.target,
                if said.is_empty() { "no exit status came back" } else { said }
            )));
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> CallContext {
        CallContext {
            target: "ssh://root@127.0.0.1:2222".into(),
            user: Some("root".into()),
            host: "127.0.0.1".into(),
            port: Some(2222),
            known_hosts: Some("/w/known_hosts".into()),
            accept_new: false,
            identity: true,
        }
    }

    fn res(exit: Option<i32>, stderr: &str) -> CommandResult {
        CommandResult {
            exit_code: exit,
            stderr: stderr.into(),
            ..Default::default()
        }
    }

    fn run(exit: Option<i32>, stderr: &str) -> Result<CommandResult, TransportError> {
        interpret(&ctx(), "exec", res(exit, stderr), 30_000, Ending::Script)
    }

    // Real OpenSSH 9 messages.
    #[test]
    fn unreachable_hosts() {
        for msg in [
            "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n",
            "ssh: connect to host 10.255.255.1 port 22: Connection timed out\n",
            "ssh: connect to host 10.0.0.9 port 22: No route to host\n",
            "ssh: Could not resolve hostname nosuch.invalid: Name or service not known\n",
            "ssh: Could not resolve hostname x: Temporary failure in name resolution\n",
            "kex_exchange_identification: read: Connection reset by peer\n",
            "Connection closed by 127.0.0.1 port 2222\n",
            "ssh: connect to host ::1 port 22: Network is unreachable\n",
        ] {
            match run(Some(255), msg) {
                Err(TransportError::Unreachable(m)) => {
                    assert!(m.contains("ssh://root@127.0.0.1:2222"), "{m}");
                    assert!(m.contains(msg.trim()), "{m}");
                }
                other => panic!("{msg:?} -> {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_host_key_says_how_to_fix() {
        let e = run(Some(255), "Host key verification failed.\n").unwrap_err();
        let TransportError::Failed(m) = e else {
            panic!("{e:?}")
        };
        assert!(m.contains("not in /w/known_hosts"), "{m}");
        assert!(
            m.contains("ssh-keyscan -p 2222 127.0.0.1 >> /w/known_hosts"),
            "{m}"
        );
        assert!(m.contains("WF_SSH_ACCEPT_NEW=1"), "{m}");
        let mut c = ctx();
        c.accept_new = true;
        let TransportError::Failed(m) =
            classify(&c, "x", Some(255), "Host key verification failed.\n")
        else {
            panic!()
        };
        assert!(
            !m.contains("WF_SSH_ACCEPT_NEW"),
            "accept-new is already on: {m}"
        );
    }

    #[test]
    fn changed_host_key_is_not_advised_to_be_accepted() {
        let stderr = "@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@\nHost key verification failed.\n";
        let TransportError::Failed(m) = run(Some(255), stderr).unwrap_err() else {
            panic!()
        };
        assert!(m.contains("CHANGED"), "{m}");
        assert!(
            m.contains("ssh-keygen -R '[127.0.0.1]:2222' -f /w/known_hosts"),
            "{m}"
        );
        assert!(!m.contains("ACCEPT_NEW"), "{m}");
    }

    #[test]
    fn refused_login_names_the_identity_setting() {
        let TransportError::Failed(m) = run(
            Some(255),
            "root@127.0.0.1: Permission denied (publickey).\n",
        )
        .unwrap_err() else {
            panic!()
        };
        assert!(m.contains("refused the login as root"), "{m}");
        assert!(m.contains("Permission denied (publickey)"), "{m}");
        assert!(m.contains("WF_SSH_IDENTITY names a private key"), "{m}");
        let mut c = ctx();
        c.identity = false;
        let TransportError::Failed(m) =
            classify(&c, "x", Some(255), "Permission denied (publickey).")
        else {
            panic!()
        };
        assert!(m.contains("no WF_SSH_IDENTITY is set"), "{m}");
    }

    #[test]
    fn bad_options_are_failed_not_unreachable() {
        let e = run(
            Some(255),
            "command-line line 0: Bad configuration option: nosuch\n",
        )
        .unwrap_err();
        assert!(
            matches!(&e, TransportError::Failed(m) if m.contains("WF_SSH_OPTIONS")),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_failures_before_the_shell_are_failed_with_the_last_line() {
        let e = run(Some(1), "This account is currently not available.\n").unwrap_err();
        assert!(
            matches!(&e, TransportError::Failed(m) if m.contains("exit 1") && m.contains("not available")),
            "{e:?}"
        );
    }

    fn exec(r: CommandResult) -> Result<CommandResult, TransportError> {
        interpret(&ctx(), "exec", r, 30_000, Ending::ExitMark)
    }

    #[test]
    fn the_commands_own_255_is_a_result() {
        let r = exec(res(
            Some(255),
            "wfhost-ssh: connected\ncurl: (7) Connection refused\n\nwfhost-ssh: exit 255\n",
        ))
        .unwrap();
        assert_eq!(r.exit_code, Some(255));
        assert_eq!(r.stderr, "curl: (7) Connection refused\n");
    }

    #[test]
    fn exit_255_without_the_end_of_the_command_is_a_dropped_connection() {
        // A ControlMaster client whose master died says nothing at all.
        for stderr in [
            "wfhost-ssh: connected\n",
            "wfhost-ssh: connected\npartial output\n",
        ] {
            match exec(res(Some(255), stderr)) {
                Err(TransportError::Unreachable(m)) => {
                    assert!(m.contains("dropped while the command ran"), "{m}")
                }
                other => panic!("{stderr:?} -> {other:?}"),
            }
        }
        // Our own scripts never exit 255: after the mark it is ssh's failure.
        let e = run(Some(255), "wfhost-ssh: connected\n").unwrap_err();
        assert!(
            matches!(&e, TransportError::Unreachable(m) if m.contains("no exit status came back")),
            "{e:?}"
        );
        // A capture cut at its limit may have lost the mark: the exit is the command's then.
        let mut cut = res(Some(255), "wfhost-ssh: connected\nlots of output");
        cut.truncated = true;
        assert_eq!(exec(cut).unwrap().exit_code, Some(255));
        // Any other exit without the mark is still the command's result.
        assert_eq!(
            exec(res(Some(3), "wfhost-ssh: connected\n"))
                .unwrap()
                .exit_code,
            Some(3)
        );
    }

    #[test]
    fn the_exit_mark_is_stripped_only_as_the_last_line() {
        let cases = [
            ("\nwfhost-ssh: exit 0\n", Some(0), ""),
            ("err\n\nwfhost-ssh: exit 7\n", Some(7), "err\n"),
            ("no newline\nwfhost-ssh: exit 1\n", Some(1), "no newline"),
            ("x\r\n\nwfhost-ssh: exit 2\r\n", Some(2), "x\r\n"),
            ("wfhost-ssh: exit 1\n", None, "wfhost-ssh: exit 1\n"),
            (
                "\nwfhost-ssh: exit 1\nmore\n",
                None,
                "\nwfhost-ssh: exit 1\nmore\n",
            ),
            ("\nwfhost-ssh: exit x\n", None, "\nwfhost-ssh: exit x\n"),
            ("", None, ""),
        ];
        for (input, status, rest) in cases {
            assert_eq!(
                strip_exit_mark(input),
                (status, rest.to_string()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_dropped_connection_after_the_mark_is_unreachable() {
        for msg in [
            "Connection to 127.0.0.1 closed by remote host.\n",
            "client_loop: send disconnect: Broken pipe\n",
            "Timeout, server 127.0.0.1 not responding.\n",
        ] {
            let e = run(Some(255), &format!("wfhost-ssh: connected\npartial\n{msg}")).unwrap_err();
            assert!(
                matches!(&e, TransportError::Unreachable(m) if m.contains("dropped")),
                "{msg:?} -> {e:?}"
            );
        }
    }

    #[test]
    fn timeouts_before_and_after_the_connection() {
        let mut r = res(None, "");
        r.timed_out = true;
        let e = interpret(&ctx(), "exec", r.clone(), 5_000, Ending::Script).unwrap_err();
        assert!(
            matches!(&e, TransportError::Timeout(m) if m.contains("within 5 s")),
            "{e:?}"
        );
        r.stderr = "wfhost-ssh: connected\n".into();
        let ok = interpret(&ctx(), "exec", r, 5_000, Ending::Script).unwrap();
        assert!(ok.timed_out);
        assert_eq!(ok.stderr, "");
    }

    #[test]
    fn login_noise_before_the_begin_mark_is_cut_off() {
        let begin = crate::command::BEGIN_MARK;
        assert_eq!(split_login_noise(&format!("{begin}\n{{\"a\":1}}\n")), Some(("", "{\"a\":1}\n")));
        let noisy = format!("Welcome to the pod\nconda init done\n{begin}\n{{\"state\":\"INIT\"}}");
        assert_eq!(split_login_noise(&noisy), Some(("Welcome to the pod\nconda init done\n", "{\"state\":\"INIT\"}")));
        // Login output without a final newline runs into the mark's line.
        assert_eq!(split_login_noise(&format!("motd{begin}\r\nx")), Some(("motd", "x")));
        // The command's own output may repeat the mark text: only the first counts.
        assert_eq!(split_login_noise(&format!("{begin}\n{begin}\n")), Some(("", &*format!("{begin}\n"))));
        assert_eq!(split_login_noise("no mark here\n"), None);
        let r = interpret(
            &ctx(),
            "get-file",
            CommandResult { exit_code: Some(0), stdout: noisy, stderr: "wfhost-ssh: connected\n".into(), ..Default::default() },
            30_000,
            Ending::Script,
        )
        .unwrap();
        assert_eq!(r.stdout, "{\"state\":\"INIT\"}");
    }

    #[test]
    fn only_the_first_mark_line_is_removed() {
        let (found, rest) = strip_mark("warn\nwfhost-ssh: connected\nx\nwfhost-ssh: connected\n");
        assert!(found);
        assert_eq!(rest, "warn\nx\nwfhost-ssh: connected\n");
        let (found, rest) = strip_mark("wfhost-ssh: connected-not\n");
        assert!(!found);
        assert_eq!(rest, "wfhost-ssh: connected-not\n");
        // CRLF from odd remote shells.
        assert!(strip_mark("wfhost-ssh: connected\r\n").0);
    }
}
