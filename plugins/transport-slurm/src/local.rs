//! The submit host when it is this machine (`slurm://local`): the ssh client's operations, with
//! the hop to the remote shell taken out.
//!
//! [`wfhost_ssh_client::ssh::Ssh`] turns every operation into a remote script handed to the
//! login shell of the host (`ssh ... -- DEST 'exec sh -c SCRIPT sh ARGS'`), and reads the
//! script's marks from the result. [`LocalShell`] is the [`Host`] such an `Ssh` runs on when
//! the submit host is this machine: it hands the same remote command line to the local `sh`
//! instead of to ssh ([`HOP_SH`], which skips ssh's options and runs the command as sshd's login
//! shell would), so exec (with its time limit enforced by the same script), put-file, get-file
//! and fetch-dir behave exactly as they do over ssh, from one implementation.
//!
//! What it answers: only `ssh` runs (rewritten to `sh -c HOP_SH` by [`rewrite`], which the
//! transport also applies to the fetch command the wfhost host runs itself); every other request
//! is refused. The ssh settings read as unset (no identity, no options, no known_hosts,
//! no connection sharing), so no ssh option or secret ever reaches a local run.

use wfhost_pack_sdk::transport::{CommandResult, Host, Level, RunRequest};
use wfhost_ssh_client::command::{
    SETTING_ACCEPT_NEW, SETTING_CONTROL_DIR, SETTING_IDENTITY_HANDLE,
    SETTING_KNOWN_HOSTS, SETTING_OPTIONS,
};

/// The destination name the ssh client is given for this machine (never contacted).
pub const DESTINATION: &str = "localhost";

/// The ssh hop, as a shell function: skip ssh's options (`-o K=V`, `-p PORT`, `-J HOST`, flags)
/// up to `--`, then run the remote command line (the word after the destination) with `sh -c`,
/// as sshd hands it to the login shell.
pub const HOP_FN: &str = r#"ssh() {
  while [ $# -gt 0 ]; do
    case $1 in
      --) shift; break ;;
      -o|-p|-i|-J|-l|-F) shift 2 ;;
      *) shift ;;
    esac
  done
  [ $# -ge 2 ] || { echo 'wfhost-slurm: no command for the local submit host' >&2; return 255; }
  sh -c "$2"
}"#;

/// `sh -c HOP_SH ssh ARGS...`: the hop for one ssh invocation.
pub fn hop_sh() -> String {
    format!("{HOP_FN}\nssh \"$@\"")
}

/// The settings the ssh client reads, all unset for this machine.
const SSH_SETTINGS: [&str; 5] = [
    SETTING_KNOWN_HOSTS,
    SETTING_OPTIONS,
    SETTING_ACCEPT_NEW,
    SETTING_CONTROL_DIR,
    SETTING_IDENTITY_HANDLE,
];

/// A [`Host`] on which the ssh client's operations run on this machine (see the module docs).
pub struct LocalShell<'h, H: Host> {
    host: &'h H,
}

impl<'h, H: Host> LocalShell<'h, H> {
    /// Wrap the transport's host.
    pub fn new(host: &'h H) -> Self {
        LocalShell { host }
    }
}

/// The ssh invocation `r` as the local hop: `sh -c HOP_SH ssh ARGS...`, with no secret in its
/// environment; anything but `ssh` is refused.
pub fn rewrite(r: &RunRequest) -> Result<RunRequest, String> {
    if r.program != "ssh" {
        return Err(format!(
            "the local submit host runs only the ssh client's scripts, not {}",
            r.program
        ));
    }
    let mut args = vec!["-c".to_string(), hop_sh(), "ssh".to_string()];
    args.extend(r.args.iter().cloned());
    Ok(RunRequest {
        program: "sh".into(),
        args,
        secret_env: Vec::new(),
        ..r.clone()
    })
}

impl<H: Host> Host for LocalShell<'_, H> {
    fn run(&self, r: &RunRequest) -> Result<CommandResult, String> {
        self.host.run(&rewrite(r)?)
    }

    fn setting(&self, key: &str) -> Option<String> {
        if SSH_SETTINGS.contains(&key) {
            None
        } else {
            self.host.setting(key)
        }
    }

    fn log(&self, level: Level, message: &str) {
        self.host.log(level, message);
    }

    fn now_secs(&self) -> i64 {
        self.host.now_secs()
    }
}
