//! Test support (host target only): a stand-in `ssh` program that behaves like OpenSSH from
//! the caller's point of view without a network.
//!
//! The script records its arguments in `<bin>/argv`, skips ssh's options up to `--`, and then,
//! by destination host name, fails the way real ssh fails (`refused`, `badkey`, `changedkey`,
//! `denied`, `slow` = never connects, `dropper` = runs the command, then reports a dropped
//! connection) or runs the remote command with `sh -c`, exactly as sshd hands it to the login
//! shell. `session` runs it as sshd really does, in a session of its own (`setsid`): killing
//! the local "ssh" then leaves the remote command running, as killing a real ssh client does.
//! Real OpenSSH is exercised by the end-to-end tests against a real sshd.

use std::os::unix::fs::PermissionsExt;
use wfhost_pack_sdk::testing::{RunSpec, TempDir};

const FAKE_SSH: &str = r#"#!/bin/sh
here=$(dirname "$0")
for a in "$@"; do printf '%s\n' "$a"; done > "$here/argv"
echo x >> "$here/calls"
while [ $# -gt 0 ]; do
  case $1 in
    --) shift; break ;;
    -o|-p|-i|-J) shift 2 ;;
    *) shift ;;
  esac
done
host=${1#*@}
case $host in
  refused) echo "ssh: connect to host refused port 22: Connection refused" >&2; exit 255 ;;
  badkey) echo "Host key verification failed." >&2; exit 255 ;;
  changedkey) printf '%s\n' '@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@' 'Host key verification failed.' >&2; exit 255 ;;
  denied) echo "$1: Permission denied (publickey)." >&2; exit 255 ;;
  slow) exec sleep 30 ;;
  dropper) sh -c "$2"; echo "Connection to dropper closed by remote host." >&2; exit 255 ;;
  session) exec setsid -w sh -c "$2" ;;
esac
exec sh -c "$2"
"#;

/// Install the stand-in `ssh` in `<dir>/bin`; returns that directory.
pub fn fake_ssh(dir: &TempDir) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("create bin dir");
    let path = format!("{bin}/ssh");
    std::fs::write(&path, FAKE_SSH).expect("write fake ssh");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("chmod fake ssh");
    bin
}

/// `PATH` with `bin` first.
pub fn path_with(bin: &str) -> String {
    format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())
}

/// `spec` with `bin` first on its `PATH`.
pub fn with_path(bin: &str, mut spec: RunSpec) -> RunSpec {
    spec.env.push(("PATH".into(), path_with(bin)));
    spec
}

/// The arguments the stand-in ssh received last.
pub fn last_argv(bin: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{bin}/argv"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// How many times the stand-in ssh ran.
pub fn calls(bin: &str) -> usize {
    std::fs::read_to_string(format!("{bin}/calls"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}
