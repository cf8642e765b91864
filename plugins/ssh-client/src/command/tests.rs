//! Tests of settings, option checks and command building. The remote scripts and the local
//! wrappers are run with a real `sh` (standing in for the remote login shell) so quoting and
//! exit codes are checked by execution, not by string comparison alone.

use super::*;
use crate::testsupport::{fake_ssh, last_argv, with_path};
use std::collections::BTreeMap;
use std::time::Duration;
use wfhost_pack_sdk::testing::{RunOutput, RunSpec, TempDir};

/// Run a spec; a remote script's stdout is returned without its [`BEGIN_MARK`] line, which
/// must come first (no login shell prints anything here), so tests see the script's own output.
fn run(spec: &RunSpec) -> RunOutput {
    let mut out = wfhost_pack_sdk::testing::run(spec);
    if let Some((noise, ours)) = crate::errors::split_login_noise(&out.stdout) {
        assert_eq!(noise, "", "nothing comes before the begin mark: {out:?}");
        out.stdout = ours.to_string();
    }
    out
}

fn settings(pairs: &[(&str, &str)]) -> Result<SshSettings, TransportError> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    SshSettings::from_lookup(|k| map.get(k).cloned())
}

fn target(s: &str) -> Target {
    Target::parse(s).unwrap()
}

/// Run `sh -c <line>` the way sshd hands a command to the login shell.
fn remote_sh(line: &str, cwd: Option<&str>) -> wfhost_pack_sdk::testing::RunOutput {
    run(&RunSpec {
        program: "sh".into(),
        args: vec!["-c".into(), line.into()],
        cwd: cwd.map(str::to_string),
        env: vec![],
        stdin: None,
        timeout: Duration::from_secs(20),
    })
}

const HOSTILE: &[&str] = &[
    "plain",
    "with space",
    "it's",
    "$(touch /tmp/wfhost-ssh-pwned)",
    "`id`",
    "a;b|c&d",
    "*",
    "line1\nline2",
    "\"dq\"",
    "-n",
    "",
];

// ---------------------------------------------------------------- settings

#[test]
fn defaults_without_settings() {
    let s = settings(&[]).unwrap();
    assert_eq!(s, SshSettings::default());
}

#[test]
fn settings_are_read_and_checked() {
    let s = settings(&[
        (SETTING_KNOWN_HOSTS, "/w/known_hosts"),
        (SETTING_ACCEPT_NEW, "1"),
        (SETTING_CONTROL_DIR, "/w/.wfhost/ssh-control/"),
        (SETTING_IDENTITY_HANDLE, "ssh_identity"),
        (SETTING_OPTIONS, " -o ConnectTimeout=3  -C "),
        (SETTING_DEFAULT_HOST, " root@gpu "),
    ])
    .unwrap();
    assert_eq!(s.known_hosts.as_deref(), Some("/w/known_hosts"));
    assert!(s.accept_new);
    assert_eq!(s.control_dir.as_deref(), Some("/w/.wfhost/ssh-control"));
    assert_eq!(s.identity_handle.as_deref(), Some("ssh_identity"));
    assert_eq!(s.extra, ["-o", "ConnectTimeout=3", "-C"]);
    assert_eq!(s.default_host.as_deref(), Some("root@gpu"));
    assert!(s.warnings.is_empty());
    assert!(!settings(&[(SETTING_ACCEPT_NEW, "0")]).unwrap().accept_new);
}

#[test]
fn bad_settings_are_invalid() {
    for pairs in [
        vec![(SETTING_KNOWN_HOSTS, "relative/known_hosts")],
        vec![(SETTING_KNOWN_HOSTS, "/a/../b")],
        vec![(SETTING_ACCEPT_NEW, "yes")],
        vec![(SETTING_CONTROL_DIR, "ctl")],
        vec![(SETTING_IDENTITY_HANDLE, "$(x)")],
        vec![(SETTING_OPTIONS, "-t")],
    ] {
        assert!(
            matches!(settings(&pairs), Err(TransportError::Invalid(_))),
            "{pairs:?}"
        );
    }
}

#[test]
fn a_long_control_dir_turns_sharing_off_with_a_warning() {
    let long = format!("/{}", "d".repeat(MAX_CONTROL_DIR_LEN));
    let s = settings(&[(SETTING_CONTROL_DIR, &long)]).unwrap();
    assert_eq!(s.control_dir, None);
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].contains("sharing is off"), "{:?}", s.warnings);
    let args = ssh_args(&s, &target("h"), Stdin::Closed, "true").unwrap();
    assert!(args.contains(&"ControlMaster=no".to_string()), "{args:?}");
    assert!(
        !args.iter().any(|a| a.starts_with("ControlPath")),
        "{args:?}"
    );
    let ok = format!("/{}", "d".repeat(MAX_CONTROL_DIR_LEN - 1));
    assert!(settings(&[(SETTING_CONTROL_DIR, &ok)])
        .unwrap()
        .control_dir
        .is_some());
}

#[test]
fn extra_options_accept_only_safe_forms() {
    assert_eq!(
        check_extra_options("-o ServerAliveInterval=5 -oCompression=yes -J bastion -4 -q").unwrap(),
        [
            "-o",
            "ServerAliveInterval=5",
            "-oCompression=yes",
            "-J",
            "bastion",
            "-4",
            "-q"
        ]
    );
    assert!(check_extra_options("").unwrap().is_empty());
    for bad in [
        "-t",
        "-tt",
        "-N",
        "-f",
        "-M",
        "-A",
        "-i /k",
        "-F /cfg",
        "-o",
        "-o BatchMode=no",
        "-o batchmode=no",
        "-o StrictHostKeyChecking=no",
        "-oUserKnownHostsFile=/dev/null",
        "-o RequestTTY=force",
        "-o LocalCommand=id",
        "-o PermitLocalCommand=yes",
        "-o IdentityFile=/k",
        "-o ConnectTimeout",
        "-o Bad-Key=1",
        "-J -oProxyCommand=x",
        "user@host",
        "ConnectTimeout=5",
    ] {
        assert!(
            matches!(check_extra_options(bad), Err(TransportError::Invalid(_))),
            "{bad:?} was accepted"
        );
    }
    let e = check_extra_options("-o StrictHostKeyChecking=no")
        .unwrap_err()
        .to_string();
    assert!(e.contains("host keys are always checked"), "{e}");
}

#[test]
fn option_paths_escape_tokens_and_quote_spaces() {
    assert_eq!(option_path("x", "/a/b").unwrap(), "/a/b");
    assert_eq!(option_path("x", "/a/100%").unwrap(), "/a/100%%");
    assert_eq!(option_path("x", "/my dir/kh").unwrap(), "\"/my dir/kh\"");
    assert!(option_path("x", "/a\"b").is_err());
}

// ---------------------------------------------------------------- ssh arguments

fn pos(args: &[String], needle: &str) -> usize {
    args.iter()
        .position(|a| a == needle)
        .unwrap_or_else(|| panic!("{needle} not in {args:?}"))
}

#[test]
fn safety_options_come_first_and_defaults_after_user_options() {
    let s = settings(&[
        (SETTING_KNOWN_HOSTS, "/w/kh"),
        (SETTING_CONTROL_DIR, "/w/ctl"),
        (SETTING_OPTIONS, "-o ConnectTimeout=3"),
    ])
    .unwrap();
    let a = ssh_args(
        &s,
        &target("ssh://root@127.0.0.1:2222"),
        Stdin::Closed,
        "REMOTE",
    )
    .unwrap();
    assert_eq!(&a[..2], ["-o", "BatchMode=yes"]);
    assert_eq!(a[3], "StrictHostKeyChecking=yes");
    assert_eq!(a[5], "UserKnownHostsFile=/w/kh");
    let user = pos(&a, "ConnectTimeout=3");
    let ours = pos(&a, &format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"));
    assert!(
        pos(&a, "StrictHostKeyChecking=yes") < user && user < ours,
        "{a:?}"
    );
    assert!(a.contains(&"ControlMaster=auto".to_string()));
    assert!(a.contains(&"ControlPath=/w/ctl/%C".to_string()));
    assert!(a.contains(&format!("ControlPersist={CONTROL_PERSIST_SECS}")));
    assert!(a.contains(&"LogLevel=ERROR".to_string()));
    assert!(a.contains(&"-T".to_string()) && a.contains(&"-n".to_string()));
    assert_eq!(a[pos(&a, "-p") + 1], "2222");
    // The destination follows `--`, the remote command is last and whole.
    let dd = pos(&a, "--");
    assert_eq!(&a[dd + 1..], ["root@127.0.0.1", "REMOTE"]);
    assert!(!a.contains(&"IdentitiesOnly=yes".to_string()));
}

#[test]
fn accept_new_identity_and_stdin_data() {
    let s = settings(&[
        (SETTING_ACCEPT_NEW, "1"),
        (SETTING_IDENTITY_HANDLE, "ssh_identity"),
    ])
    .unwrap();
    let a = ssh_args(&s, &target("box"), Stdin::Data, "x").unwrap();
    assert!(
        a.contains(&"StrictHostKeyChecking=accept-new".to_string()),
        "{a:?}"
    );
    assert!(a.contains(&"IdentitiesOnly=yes".to_string()), "{a:?}");
    assert!(
        !a.contains(&"-n".to_string()),
        "put-file needs stdin: {a:?}"
    );
    assert!(!a.contains(&"-p".to_string()));
    assert!(!a.iter().any(|x| x.starts_with("UserKnownHostsFile")));
}

#[test]
fn invocation_injects_the_identity_only_through_secret_env() {
    let plain = settings(&[]).unwrap();
    let inv = invocation(&plain, vec!["a".into()]);
    assert_eq!(
        (inv.program.as_str(), inv.args.as_slice()),
        ("ssh", &["a".to_string()][..])
    );
    assert!(inv.secret_env.is_empty());

    let s = settings(&[(SETTING_IDENTITY_HANDLE, "ssh_identity")]).unwrap();
    let inv = invocation(&s, vec!["-o".into(), "BatchMode=yes".into()]);
    assert_eq!(inv.program, "sh");
    assert_eq!(inv.args[..3], ["-c", IDENTITY_WRAPPER, "sh"]);
    assert_eq!(inv.args[3..], ["-o", "BatchMode=yes"]);
    assert_eq!(
        inv.secret_env,
        [(IDENTITY_ENV.to_string(), "ssh_identity".to_string())]
    );
    let r = inv.clone().request(None, 1234);
    assert_eq!((r.program, r.args, r.secret_env), (inv.program, inv.args, inv.secret_env));
    assert_eq!((r.cwd, r.env.len(), r.stdin, r.timeout_ms), (None, 0, None, 1234));
}

// ---------------------------------------------------------------- remote commands, executed

#[test]
fn remote_command_hands_every_argument_over_unchanged() {
    let line = remote_command(r#"for a in "$@"; do printf '[%s]' "$a"; done"#, HOSTILE);
    let out = remote_sh(&line, None);
    assert_eq!(out.exit_code, Some(0), "{}", out.stderr);
    let expected: String = HOSTILE.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(out.stdout, expected);
    assert!(!std::path::Path::new("/tmp/wfhost-ssh-pwned").exists());
}

#[test]
fn exec_remote_sets_cwd_env_and_runs_the_command_with_sh() {
    let tmp = TempDir::new("wfhost-ssh-cmd").unwrap();
    std::fs::create_dir(tmp.join("work dir")).unwrap();
    let env = vec![
        ("A".to_string(), "it's $HOME `x`".to_string()),
        ("_B2".to_string(), String::new()),
    ];
    let line = exec_remote(
        r#"pwd; printf '%s|%s|%s\n' "$A" "${_B2-unset}" "$0"; echo err >&2; exit 7"#,
        Some(&tmp.join("work dir")),
        &env,
        20_000,
    )
    .unwrap();
    let out = remote_sh(&line, None);
    assert_eq!(out.exit_code, Some(7), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("{}\nit's $HOME `x`||sh\n", tmp.join("work dir"))
    );
    assert_eq!(
        out.stderr,
        format!("{CONNECTED_MARK}\nerr\n\n{EXIT_MARK} 7\n")
    );
    // What the caller gets back: the command's own stderr, its status heard.
    let (_, rest) = crate::errors::strip_mark(&out.stderr);
    assert_eq!(
        crate::errors::strip_exit_mark(&rest),
        (Some(7), "err\n".to_string())
    );
}

#[test]
fn exec_remote_without_cwd_runs_in_the_login_directory() {
    let tmp = TempDir::new("wfhost-ssh-cmd").unwrap();
    let line = exec_remote("pwd", None, &[], 20_000).unwrap();
    let out = remote_sh(&line, Some(&tmp.path()));
    assert_eq!(out.stdout.trim(), tmp.path());
}

#[test]
fn exec_remote_reports_a_missing_cwd_distinctly() {
    let line = exec_remote("echo ran", Some("/nonexistent/wfhost/dir"), &[], 20_000).unwrap();
    let out = remote_sh(&line, None);
    assert_eq!(out.exit_code, Some(RC_NO_CWD));
    assert_eq!(out.stdout, "", "the command must not run");
    assert_eq!(
        out.stderr,
        format!(
            "{CONNECTED_MARK}\n{NO_CWD_PREFIX}/nonexistent/wfhost/dir\n\n{EXIT_MARK} {RC_NO_CWD}\n"
        )
    );
}

#[test]
fn exec_remote_refuses_bad_env_names_and_cwds() {
    for k in ["", "1A", "A-B", "A B", "A=B", "$X"] {
        let env = vec![(k.to_string(), "v".to_string())];
        assert!(
            matches!(
                exec_remote("true", None, &env, 20_000),
                Err(TransportError::Invalid(_))
            ),
            "{k:?}"
        );
    }
    for cwd in ["relative", "/a/../b", "/a//b"] {
        assert!(matches!(
            exec_remote("true", Some(cwd), &[], 20_000),
            Err(TransportError::Invalid(_))
        ));
    }
}

#[test]
fn exec_remote_closes_stdin_for_prompts() {
    // `read` gets end-of-file at once instead of waiting for an answer.
    let line = exec_remote(
        "if read x; then echo got; else echo eof; fi",
        None,
        &[],
        20_000,
    )
    .unwrap();
    let out = remote_sh(&line, None);
    assert_eq!(out.stdout, "eof\n");
}

// ---------------------------------------------------------------- the remote time limit

#[test]
fn the_remote_limit_rounds_up_adds_the_grace_and_is_capped() {
    assert_eq!(remote_limit_secs(0), REMOTE_GRACE_SECS);
    assert_eq!(remote_limit_secs(1), 1 + REMOTE_GRACE_SECS);
    assert_eq!(remote_limit_secs(1000), 1 + REMOTE_GRACE_SECS);
    assert_eq!(remote_limit_secs(1001), 2 + REMOTE_GRACE_SECS);
    assert_eq!(remote_limit_secs(1_800_000), 1800 + REMOTE_GRACE_SECS);
    assert_eq!(remote_limit_secs(u64::MAX), MAX_REMOTE_LIMIT_SECS);
}

#[test]
fn exec_line_carries_cwd_limit_env_and_command_as_quoted_arguments() {
    let env = vec![("A".to_string(), "x y".to_string())];
    let line = exec_remote("echo 'hi'; exit 3", Some("/w d"), &env, 1500).unwrap();
    assert_eq!(
        line,
        remote_command(
            EXEC_SH,
            &["/w d", "3", "env", "A=x y", "sh", "-c", "echo 'hi'; exit 3"]
        )
    );
    assert!(line.starts_with("exec sh -c '"), "{line}");
    let plain = exec_remote("true", None, &[], 60_000).unwrap();
    assert_eq!(
        plain,
        remote_command(EXEC_SH, &["", "61", "sh", "-c", "true"])
    );
    // The script's constants are the ones documented here.
    assert!(EXEC_SH.contains(&format!(
        r#"timeout -k {REMOTE_KILL_AFTER_SECS} "$limit" "$@"; leave "$?""#
    )));
    assert!(EXEC_SH.contains(&format!(r#"arm {REMOTE_KILL_AFTER_SECS} "$$""#)));
    assert!(EXEC_SH.contains(&format!("leave {RC_REMOTE_TIMEOUT}")));
    assert!(EXEC_SH.contains(&format!("'{EXIT_MARK}'")));
}

/// The full path of `tool` on this machine's `PATH`.
fn which(tool: &str) -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|d| format!("{d}/{tool}"))
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or_else(|| panic!("{tool} is not on PATH ({path}); these tests need it"))
}

/// A `bin` directory holding only what the test commands use, and no `timeout`: [`EXEC_SH`]
/// must then fall back to its shell watchdog.
fn bin_without_timeout(tmp: &TempDir) -> String {
    let bin = tmp.join("plain-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["sh", "sleep", "touch", "cat", "env"] {
        std::os::unix::fs::symlink(which(tool), format!("{bin}/{tool}")).unwrap();
    }
    assert!(!std::path::Path::new(&format!("{bin}/timeout")).exists());
    bin
}

/// How the remote line is started.
#[derive(Clone, Copy, PartialEq)]
enum Shell {
    /// `sh -c LINE` leading its own process group (as under sshd), coreutils on PATH.
    Leader,
    /// The same without `timeout` on PATH.
    LeaderNoTimeout,
    /// Without `timeout`, started by another shell so it leads no process group.
    MemberNoTimeout,
}

fn run_line(shell: Shell, tmp: &TempDir, line: &str) -> wfhost_pack_sdk::testing::RunOutput {
    let mut spec = match shell {
        Shell::Leader | Shell::LeaderNoTimeout => RunSpec::sh(line, &[]),
        // `; exit` keeps the outer shell from exec-ing the inner one.
        Shell::MemberNoTimeout => RunSpec::sh(r#"sh -c "$1"; exit $?"#, &[line]),
    };
    spec.timeout = Duration::from_secs(30);
    if shell != Shell::Leader {
        spec.env.push(("PATH".into(), bin_without_timeout(tmp)));
    }
    run(&spec)
}

fn coreutils_timeout_is_installed() {
    let v = run(&RunSpec {
        program: "timeout".into(),
        args: vec!["--version".into()],
        cwd: None,
        env: vec![],
        stdin: None,
        timeout: Duration::from_secs(10),
    });
    assert!(
        v.stdout.contains("coreutils"),
        "this test needs coreutils `timeout` on PATH (install coreutils); `timeout --version` said {:?} {:?}",
        v.stdout,
        v.stderr
    );
}

/// Wait until `since` + `secs`.
fn sleep_until(since: std::time::Instant, secs: u64) {
    let at = since + Duration::from_secs(secs);
    let now = std::time::Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Processes whose argv is exactly `argv`.
fn processes_with_argv(argv: &[&str]) -> Vec<String> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Assert that no process runs `argv` soon (signals and reaping take a moment, longer on a loaded
/// machine; the processes watched would otherwise live for hours).
fn gone_soon(argv: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut left = processes_with_argv(argv);
    while !left.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = processes_with_argv(argv);
    }
    assert!(left.is_empty(), "{argv:?} is still running: pids {left:?}");
}

/// A command that forks a child and then sleeps (each `sleep` with a duration no other test
/// uses, so it can be recognised). With a 1 s timeout (remote limit 2 s) the remote bound must
/// stop the command, its child and their `sleep`s, and report 124; `who` is the name of the
/// command's parent (`timeout`, or `sh` for the watchdog).
fn a_timed_out_command_is_stopped_with_its_children(shell: Shell, who: &str, nap: &str) {
    if shell == Shell::Leader {
        coreutils_timeout_is_installed();
    }
    let tmp = TempDir::new("wfhost-ssh-limit").unwrap();
    let marker = tmp.join("late");
    let env = vec![("M".to_string(), marker.clone())];
    let command = format!(
        r#"cat "/proc/$PPID/comm"; (sleep {nap}1; touch "$M.child") & sleep {nap}2; touch "$M""#
    );
    let line = exec_remote(&command, None, &env, 1000).unwrap();
    let out = run_line(shell, &tmp, &line);
    assert!(
        !out.timed_out,
        "the remote limit did not stop the command: {out:?}"
    );
    assert_eq!(out.exit_code, Some(RC_REMOTE_TIMEOUT), "{out:?}");
    assert_eq!(out.stdout.trim(), who, "{out:?}");
    gone_soon(&["sh", "-c", &command]);
    gone_soon(&["sleep", &format!("{nap}1")]);
    gone_soon(&["sleep", &format!("{nap}2")]);
    assert!(
        !std::path::Path::new(&marker).exists(),
        "the command ran on"
    );
    assert!(
        !std::path::Path::new(&format!("{marker}.child")).exists(),
        "its child ran on"
    );
}

#[test]
fn a_timed_out_command_is_stopped_by_coreutils_timeout() {
    a_timed_out_command_is_stopped_with_its_children(Shell::Leader, "timeout", "13.1");
}

#[test]
fn a_timed_out_command_is_stopped_by_the_shell_watchdog() {
    a_timed_out_command_is_stopped_with_its_children(Shell::LeaderNoTimeout, "sh", "13.2");
}

#[test]
fn outside_a_process_group_of_its_own_the_watchdog_stops_the_command() {
    // Only the command's own process can be signalled then: its `sleep` lives on, the rest of
    // the command does not run.
    let tmp = TempDir::new("wfhost-ssh-limit").unwrap();
    let marker = tmp.join("late");
    let env = vec![("M".to_string(), marker.clone())];
    let command = r#"sleep 3; touch "$M""#;
    let line = exec_remote(command, None, &env, 1000).unwrap();
    let t0 = std::time::Instant::now();
    let out = run_line(Shell::MemberNoTimeout, &tmp, &line);
    assert_eq!(out.exit_code, Some(RC_REMOTE_TIMEOUT), "{out:?}");
    gone_soon(&["sh", "-c", command]);
    sleep_until(t0, 4);
    assert!(
        !std::path::Path::new(&marker).exists(),
        "the command ran on"
    );
}

/// A command that ignores TERM is killed 5 s after the limit, with its `sleep`.
fn a_command_ignoring_term_is_killed(shell: Shell, nap: &str) {
    if shell == Shell::Leader {
        coreutils_timeout_is_installed();
    }
    let tmp = TempDir::new("wfhost-ssh-limit").unwrap();
    let marker = tmp.join("late");
    let env = vec![("M".to_string(), marker.clone())];
    let command = format!(r#"trap '' TERM; sleep {nap}; touch "$M""#);
    let line = exec_remote(&command, None, &env, 1000).unwrap();
    let out = run_line(shell, &tmp, &line);
    assert!(
        !out.timed_out,
        "TERM was ignored and nothing followed it: {out:?}"
    );
    gone_soon(&["sh", "-c", &command]);
    gone_soon(&["sleep", nap]);
    assert!(
        !std::path::Path::new(&marker).exists(),
        "the command ran on"
    );
}

#[test]
fn a_command_ignoring_term_is_killed_by_coreutils_timeout() {
    a_command_ignoring_term_is_killed(Shell::Leader, "14.1");
}

#[test]
fn a_command_ignoring_term_is_killed_by_the_shell_watchdog() {
    a_command_ignoring_term_is_killed(Shell::LeaderNoTimeout, "14.2");
}

#[test]
fn under_the_watchdog_a_quick_command_keeps_its_result_and_leaves_nothing_behind() {
    let tmp = TempDir::new("wfhost-ssh-limit").unwrap();
    // An unusual limit, so its watchdog `sleep` can be recognised.
    let timeout_ms = 27_182_000;
    let nap = remote_limit_secs(timeout_ms).to_string();
    let env = vec![("A".to_string(), "it's $x".to_string())];
    let line = exec_remote(
        r#"printf '%s|%s\n' "$A" "$0"; echo err >&2; exit 7"#,
        Some(&tmp.path()),
        &env,
        timeout_ms,
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let out = run_line(Shell::LeaderNoTimeout, &tmp, &line);
    assert_eq!(out.exit_code, Some(7), "{out:?}");
    assert_eq!(out.stdout, "it's $x|sh\n");
    assert_eq!(
        out.stderr,
        format!("{CONNECTED_MARK}\nerr\n\n{EXIT_MARK} 7\n")
    );
    // The watchdog's sleep would hold the output open for hours had it kept it.
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    gone_soon(&["sleep", &nap]);
}

#[test]
fn put_get_and_fetch_scripts_work_on_a_real_shell() {
    let tmp = TempDir::new("wfhost-ssh-cmd").unwrap();
    let file = tmp.join("a/b/file.txt");
    let parent = tmp.join("a/b");
    let put = run(&RunSpec {
        stdin: Some(b"hello\nworld\n".to_vec()),
        ..RunSpec {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                remote_command(PUT_SH, &[&parent, &file, "640"]),
            ],
            cwd: None,
            env: vec![],
            stdin: None,
            timeout: Duration::from_secs(20),
        }
    });
    assert_eq!(put.exit_code, Some(0), "{}", put.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello\nworld\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(
        std::fs::read_dir(&parent).unwrap().count(),
        1,
        "no temp file left"
    );

    let get = remote_sh(&remote_command(GET_SH, &[&file, "7"]), None);
    assert_eq!((get.exit_code, get.stdout.as_str()), (Some(0), "hello\nw"));
    let missing = remote_sh(&remote_command(GET_SH, &[&tmp.join("nope"), "7"]), None);
    assert_eq!(missing.exit_code, Some(RC_MISSING));
    assert!(
        missing.stderr.contains("no such file"),
        "{}",
        missing.stderr
    );

    let nodir = remote_sh(&remote_command(FETCH_REMOTE_SH, &[&tmp.join("nope")]), None);
    assert_eq!(nodir.exit_code, Some(RC_MISSING));
}

// ---------------------------------------------------------------- local wrappers, executed

#[test]
fn identity_wrapper_puts_the_key_first_from_the_environment() {
    let tmp = TempDir::new("wfhost-ssh-cmd").unwrap();
    let bin = fake_ssh(&tmp);
    let mut spec = RunSpec::sh(
        IDENTITY_WRAPPER,
        &["-o", "BatchMode=yes", "--", "h", "echo hi"],
    );
    spec.env.push((IDENTITY_ENV.into(), "/keys/my key".into()));
    let out = run(&with_path(&bin, spec));
    assert_eq!(out.exit_code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "hi\n");
    assert_eq!(
        last_argv(&bin),
        [
            "-i",
            "/keys/my key",
            "-o",
            "BatchMode=yes",
            "--",
            "h",
            "echo hi"
        ]
    );
}

#[test]
fn the_fetch_script_streams_a_tree_as_tar_and_keeps_ssh_failures() {
    let tmp = TempDir::new("wfhost-ssh-cmd").unwrap();
    let bin = fake_ssh(&tmp);
    let src = tmp.join("src");
    std::fs::create_dir_all(format!("{src}/sub/deep")).unwrap();
    std::fs::write(format!("{src}/a.txt"), "A").unwrap();
    std::fs::write(format!("{src}/.hidden"), "H").unwrap();
    std::fs::write(format!("{src}/sub/deep/b.json"), "{}").unwrap();
    let remote = remote_command(FETCH_REMOTE_SH, &[&src]);
    let out = run(&with_path(&bin, RunSpec { program: "ssh".into(), args: ["-n", "--", "host", &remote].map(String::from).to_vec(), ..RunSpec::sh("", &[]) }));
    assert_eq!(out.exit_code, Some(0), "{}", out.stderr);
    // stdout is the archive (its headers name every entry).
    for name in ["./a.txt", "./.hidden", "./sub/deep/b.json"] {
        assert!(out.stdout.contains(name), "{name} missing");
    }

    // ssh's own failure comes back as its exit code and message.
    let out = run(&with_path(&bin, RunSpec { program: "ssh".into(), args: ["--", "refused", &remote].map(String::from).to_vec(), ..RunSpec::sh("", &[]) }));
    assert_eq!(out.exit_code, Some(255));
    assert!(out.stderr.contains("Connection refused"), "{}", out.stderr);

    // A missing remote directory: the remote script's code.
    let gone = remote_command(FETCH_REMOTE_SH, &[&tmp.join("gone")]);
    let out = run(&with_path(&bin, RunSpec { program: "ssh".into(), args: ["--", "h", &gone].map(String::from).to_vec(), ..RunSpec::sh("", &[]) }));
    assert_eq!(out.exit_code, Some(RC_MISSING), "{}", out.stderr);
}
