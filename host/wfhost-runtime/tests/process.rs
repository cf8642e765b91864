//! The host process capability with real processes: allowlist, closed stdin, output cap, hard
//! timeout that kills the whole process group, and no hang on a detached grandchild.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wfhost_runtime::process::{
    NoSecrets, ProcessError, ProcessPolicy, ProcessRequest, ProcessRunner,
};

fn runner(programs: &[&str], cap: usize) -> ProcessRunner {
    let env: BTreeMap<String, String> =
        [("PATH", "/usr/bin:/bin"), ("HOME", "/tmp"), ("LANG", "C")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let mut policy = ProcessPolicy::new(programs.iter().copied(), &env);
    policy.max_output_bytes = cap;
    ProcessRunner::new(policy, Arc::new(NoSecrets))
}

fn request(program: &str, args: &[&str], timeout: Duration) -> ProcessRequest {
    ProcessRequest {
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        timeout,
        ..ProcessRequest::default()
    }
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().starts_with('Z'))
                == Some(false)
        }
        Err(_) => false,
    }
}

fn wait_dead(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Kill a leftover test process by its id (only processes this test started).
fn kill(pid: i32) {
    // SAFETY: kill(2) on a pid this test spawned; no memory involved.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
    let started = Instant::now();
    let out = runner(&["sh"], 1 << 20)
        .run(&request("sh", &["-c", &script], Duration::from_millis(500)))
        .expect("runs");
    assert!(out.timed_out);
    assert_eq!(out.exit_code, None);
    assert_eq!(out.signal, Some(libc::SIGKILL));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let dead = wait_dead(pid);
    if !dead {
        kill(pid);
    }
    assert!(dead, "the grandchild {pid} survived the group kill");
}

#[test]
fn stdin_is_closed_unless_bytes_are_given() {
    let started = Instant::now();
    let out = runner(&["cat"], 1 << 20)
        .run(&request("cat", &[], Duration::from_secs(30)))
        .expect("runs");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cat waited for input: {:?}",
        started.elapsed()
    );
    assert_eq!(out.exit_code, Some(0));
    assert!(out.stdout.is_empty());
    assert!(!out.timed_out);

    let mut with_input = request("cat", &[], Duration::from_secs(30));
    with_input.stdin = Some(b"fed through stdin".to_vec());
    let out = runner(&["cat"], 1 << 20).run(&with_input).expect("runs");
    assert_eq!(out.stdout, b"fed through stdin");
}

#[test]
fn programs_outside_the_allowlist_are_refused() {
    let r = runner(&["echo"], 1 << 20);
    let err = r
        .run(&request("cat", &[], Duration::from_secs(1)))
        .expect_err("refused");
    assert!(matches!(err, ProcessError::NotAllowed { .. }), "{err}");
    assert!(
        err.to_string().contains("echo"),
        "names what is allowed: {err}"
    );
    // An absolute path is not the same program as an allowlisted bare name.
    let err = r
        .run(&request("/bin/echo", &[], Duration::from_secs(1)))
        .expect_err("refused");
    assert!(matches!(err, ProcessError::NotAllowed { .. }), "{err}");
    // The plugin's PATH does not change which binary a bare name resolves to.
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = dir.path().join("echo");
    std::fs::write(&fake, "#!/bin/sh\necho fake\n").expect("write");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut hijack = request("echo", &["real"], Duration::from_secs(5));
    hijack.env = vec![("PATH".into(), dir.path().display().to_string())];
    let out = r.run(&hijack).expect("runs");
    assert_eq!(out.stdout, b"real\n");
    // No timeout, no run.
    assert!(matches!(
        r.run(&request("echo", &[], Duration::ZERO)),
        Err(ProcessError::NoTimeout)
    ));
    // Loader variables are refused.
    let mut preload = request("echo", &[], Duration::from_secs(1));
    preload.env = vec![("LD_PRELOAD".into(), "/tmp/x.so".into())];
    assert!(matches!(r.run(&preload), Err(ProcessError::BadEnv { .. })));
    assert!(matches!(
        r.run(&ProcessRequest {
            cwd: Some(Path::new("/nonexistent/dir").into()),
            ..request("echo", &[], Duration::from_secs(1))
        }),
        Err(ProcessError::BadCwd(_))
    ));
}

#[test]
fn a_detached_grandchild_does_not_make_run_hang() {
    let dir = tempfile::tempdir().expect("temp dir");
    let r = runner(&["sh"], 1 << 20);
    for (label, redirect) in [("redirected", ">/dev/null 2>&1"), ("holding the pipes", "")] {
        let pid_file = dir.path().join(format!("{}.pid", label.len()));
        let script = format!(
            "nohup sleep 30 {redirect} & echo $! > {}; echo started",
            pid_file.display()
        );
        let started = Instant::now();
        let out = r
            .run(&request("sh", &["-c", &script], Duration::from_secs(20)))
            .expect("runs");
        let took = started.elapsed();
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        let still_running = alive(pid);
        kill(pid);
        assert!(took < Duration::from_secs(3), "{label}: run took {took:?}");
        assert_eq!(out.exit_code, Some(0), "{label}");
        assert!(!out.timed_out, "{label}");
        assert_eq!(out.stdout, b"started\n", "{label}");
        assert!(
            still_running,
            "{label}: the detached grandchild is left alone on a normal exit"
        );
    }
}

#[test]
fn output_is_capped_and_flagged() {
    let r = runner(&["head", "sh"], 1000);
    let out = r
        .run(&request(
            "head",
            &["-c", "5000000", "/dev/zero"],
            Duration::from_secs(20),
        ))
        .expect("runs");
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.truncated);
    assert_eq!(
        out.exit_code,
        Some(0),
        "the rest was drained, the writer was not blocked"
    );
    // An endless writer is stopped by the timeout with bounded capture.
    let out = r
        .run(&request(
            "sh",
            &["-c", "while :; do echo yyyyyyyyyyyyyyyy; done"],
            Duration::from_millis(500),
        ))
        .expect("runs");
    assert!(out.timed_out);
    assert_eq!(out.stdout.len(), 1000);
    // stderr is captured and capped separately.
    let out = r
        .run(&request(
            "sh",
            &["-c", "echo out; echo err >&2; exit 7"],
            Duration::from_secs(5),
        ))
        .expect("runs");
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice(), out.exit_code),
        (&b"out\n"[..], &b"err\n"[..], Some(7))
    );
    assert!(!out.truncated);
    let result = out.into_command_result();
    assert_eq!(result.exit_code, Some(7));
    assert_eq!(result.stderr, "err\n");
}
