//! Hardening over the ssh transport, against the loopback OpenSSH server of [`crate::ssh`]:
//! hostile input files, login noise, a full evidence disk, and signals.

use crate::harness::Sandbox;
use crate::ssh::Sshd;
use std::time::Duration;
use wfhost_constitution::codes;

/// BOOTSTRAP_SCRIPT as a FIFO or a symlink to /dev/zero: refused at once in P40 over ssh, with
/// nothing sent to the host.
#[test]
fn a_bootstrap_script_that_is_a_fifo_or_a_device_is_refused_over_ssh() {
    let sshd = Sshd::start();
    for fifo in [true, false] {
        let mut s = Sandbox::new();
        sshd.configure(&mut s);
        s.set("BOOTSTRAP_SCRIPT", "boot.sh");
        crate::hardening::hostile_file(&s.root().join("boot.sh"), fifo);
        let t0 = std::time::Instant::now();
        let run = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "skip"], Duration::from_secs(60));
        assert!(t0.elapsed() < Duration::from_secs(45), "took {:?}", t0.elapsed());
        let last = run.statuses().last().cloned().unwrap_or_else(|| panic!("{}", run.explain()));
        assert_eq!(last, ("P40".to_string(), "fail".to_string(), codes::BOOTSTRAP_FAILED.get()), "{}", run.explain());
        assert!(run.stderr.contains("boot.sh") && run.stderr.contains("not a regular file"), "{}", run.explain());
        assert!(!s.root().join("remote/outputs/_control/bootstrap.sh").exists());
    }
}

/// A login shell that prints (an `echo` in a shell startup file, as conda init or a motd
/// script does) no longer breaks ssh flows: the noise is cut off every command's output, the
/// fetched archive included, and P30 says what prints.
#[test]
fn login_noise_from_the_shell_startup_files_is_ignored_and_named() {
    let rc = tempfile::Builder::new().prefix("wfrc").tempdir().expect("tempdir");
    let noise = rc.path().join("noisy_rc.sh");
    std::fs::write(&noise, "echo 'Welcome to the GPU pod'\nprintf 'conda: base activated'\n").unwrap();
    // bash, the login shell here, reads $BASH_ENV for every non-interactive command, like
    // ~/.bashrc on hosts that source it for ssh commands.
    let sshd = Sshd::start_with_session_env(&format!("BASH_ENV={}", noise.display()));
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    let run = s.run_with_limit(&["flow", "--provision", "skip", "--wait", "true", "--fetch", "all"], Duration::from_secs(180));
    assert_eq!(run.status, 0, "{}", run.explain());
    assert!(run.stderr.contains("prints \"Welcome to the GPU pod\\nconda: base activated\" before every command"), "{}", run.stderr);
    // The state file and the fetched files are the real ones.
    let fsm: serde_json::Value = serde_json::from_slice(&std::fs::read(run.flow_dir().join("fsm.json")).unwrap()).unwrap();
    assert_eq!(fsm["state"], "SWEEP_COMPLETED", "{fsm}");
    let fetched = s.root().join("artifacts/pod_logs").join(wfhost_flow::target_dir_name(&sshd.target()));
    for id in ["r1", "r2", "r3"] {
        let m = std::fs::read_to_string(fetched.join(id).join("metrics.json")).unwrap_or_else(|e| panic!("{id}: {e}\n{}", run.explain()));
        assert!(m.starts_with("{\"seed\""), "{m}");
    }
    assert_eq!(s.run(&["verify", &run.flow_dir().display().to_string()]).status, 0);
}

/// The evidence disk fills up during flows over ssh: every outcome is honest (see
/// [`crate::hardening::full_disk_flows`]).
#[test]
fn a_full_evidence_disk_during_an_ssh_flow_halts_with_the_internal_status() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    let disk = crate::hardening::Mount::tmpfs(&s.root().join("ev"), "2m");
    let fills: Vec<u64> = (0..13).map(|i| i * 160 * 1024).collect();
    let (passed, failed) = crate::hardening::full_disk_flows(&mut s, &disk.dir, &fills, &["flow", "--provision", "skip", "--sweep", "skip"]);
    assert!(passed > 0 && failed > 0, "passing ({passed}) and halted mid-way ({failed})");
}

/// Local processes running ssh for this sandbox's flows (the connection-sharing master, which
/// outlives every flow by design for ControlPersist seconds, is not one of them).
fn ssh_processes(root: &std::path::Path) -> Vec<(u32, String)> {
    let mark = format!("UserKnownHostsFile={}", root.join("known_hosts").display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmd = std::fs::read(e.path().join("cmdline")).map(|c| String::from_utf8_lossy(&c).replace('\0', " ")).unwrap_or_default();
        let zombie = std::fs::read_to_string(e.path().join("stat")).ok().and_then(|st| st.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('Z'))).unwrap_or(true);
        if cmd.contains(&mark) && !cmd.contains("[mux]") && !zombie {
            out.push((pid, cmd));
        }
    }
    out
}

/// SIGTERM while P70 waits over ssh: 143 with the interruption recorded and verified, no ssh
/// process of the flow left on this machine, and the sweep on the host goes on to its end.
#[test]
fn sigterm_during_an_ssh_flow_is_recorded_and_leaves_no_ssh_process() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.unset("SWEEP_RUN_TEMPLATE");
    s.manifest("run_id,command\ns1,echo ran >> $WF_RUN_DIR/ran.log; sleep 6\n");
    let flow = crate::hardening::Spawned::start(&s, &["flow", "--provision", "skip", "--wait", "true"]);
    let ran = s.root().join("remote/outputs/runs/s1/ran.log");
    crate::hardening::wait_for(&ran, Duration::from_secs(90));
    std::thread::sleep(Duration::from_millis(2000));
    let (_, stderr) = flow.interrupt("TERM", Duration::from_secs(60), Duration::from_secs(10));
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("interrupted by SIGTERM during P70") && last.contains("resume with: wfhost flow --provision skip --sweep resume"), "{last}");
    let t0 = std::time::Instant::now();
    loop {
        let left = ssh_processes(s.root());
        if left.is_empty() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "ssh processes left running: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let flow_dir = crate::hardening::only_flow_dir(&s);
    let (vs, report) = crate::hardening::verify_json(&s, &flow_dir);
    assert_eq!((vs, report["finished"].as_bool(), report["verdict"].as_str()), (0, Some(true), Some("halted")), "{report:#}");
    crate::hardening::wait_for(&s.root().join("remote/outputs/runs/s1/_wf/exit_code"), Duration::from_secs(30));
    let again = s.run(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true"]);
    assert_eq!(again.status, 0, "{}", again.explain());
    assert_eq!(std::fs::read_to_string(&ran).unwrap().lines().count(), 1, "the run ran once");
}
