//! Hardening: what bad input files, a full disk, a concurrent flow, a signal or a hostile value
//! does to the real binary on the local transport. Each test names the defect it guards.

use crate::harness::Sandbox;
use std::time::Duration;
use wfhost_constitution::codes;

fn last_status(run: &crate::harness::Run) -> (String, String, u16) {
    run.statuses().last().cloned().unwrap_or_else(|| panic!("no status line\n{}", run.explain()))
}

/// A P70 that runs out of its budget halts with the sweep family's PHASE_TIMEOUT, whatever
/// stopped it (here the executor's deadline while it waits), never with another code's advice.
#[test]
fn a_monitor_past_its_phase_budget_halts_with_phase_timeout() {
    let mut s = Sandbox::new();
    s.manifest("run_id,command\nt1,sh train.sh --seed 1 --sleep 8\n");
    s.set("WF_PHASE_TIMEOUT_P70", "2");
    let run = s.run_with_limit(&["flow", "--yes", "--wait", "true"], Duration::from_secs(90));
    assert_eq!(last_status(&run), ("P70".to_string(), "fail".to_string(), codes::PHASE_TIMEOUT_4XX.get()), "{}", run.explain());
    assert_eq!(run.status, 40, "{}", run.explain());
    let reason = run.verdict("P70")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("over its 2s budget") && reason.contains("WF_PHASE_TIMEOUT_P70"), "{reason}");
    assert!(!reason.to_lowercase().contains("manifest"), "{reason}");
}

/// The contract lines a flow may print on stdout: the header keys and the two PHASE lines.
fn contract_line(line: &str) -> bool {
    const HEADER: [&str; 10] = [
        "WF_CONSTITUTION_VERSION=", "active_config_path=", "active_config_sha256=", "override_enabled=", "resolved_target=",
        "target_source=", "transport=", "remote_env_path=", "fsm_state_file=", "flow_id=",
    ];
    HEADER.iter().any(|h| line.starts_with(h)) || line.starts_with("PHASE=") || line.starts_with("FLOW=")
}

/// A newline in WF_FLOW_EVIDENCE_DIR or in the working directory cannot forge a stdout line,
/// and an ESC/OSC sequence in a bad config line never reaches the terminal raw.
#[test]
fn values_cannot_forge_contract_lines_or_drive_the_terminal() {
    let forged = "PHASE=P99 COURT=pass DET=pass CONST=pass VERDICT=/forged";
    // The evidence directory.
    let mut s = Sandbox::new();
    s.set("WF_FLOW_EVIDENCE_DIR", &format!("\"ev\\n{forged}\""));
    let run = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    assert!(run.stdout.lines().all(contract_line), "{}", run.explain());
    assert!(!run.stdout.lines().any(|l| l.starts_with("PHASE=P99 COURT=pass DET=pass CONST=pass VERDICT=/forged")), "{}", run.explain());
    // Two lines per phase, P00..P99, and not one more.
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("PHASE=")).count(), 22, "{}", run.explain());
    assert!(run.stdout.contains("ev\\nPHASE=P99"), "the value is shown escaped: {}", run.explain());
    assert!(!run.stderr.lines().any(|l| l.starts_with("PHASE=")), "{}", run.explain());

    // The working directory.
    let s = Sandbox::new();
    let weird = s.root().join(format!("w\n{forged}"));
    std::fs::create_dir_all(weird.join("infra_scripts")).unwrap();
    std::fs::write(weird.join("infra_scripts/workflow.env"), "WF_CONSTITUTION_VERSION=1\nWF_TRANSPORT=local\n").unwrap();
    let run = s.run(&["-C", &weird.display().to_string(), "flow", "--sweep", "skip"]);
    assert_eq!(last_status(&run), ("P00".to_string(), "fail".to_string(), codes::CONSENT_MISSING.get()), "{}", run.explain());
    assert!(run.stdout.lines().all(contract_line), "{}", run.explain());
    assert!(!run.stdout.lines().any(|l| l.starts_with("PHASE=P99")), "{}", run.explain());
    assert!(!run.stderr.lines().any(|l| l.starts_with("PHASE=")), "{}", run.explain());

    // A config line holding terminal escapes: the error names it, escaped.
    let s = Sandbox::new();
    s.run(&["--help"]);
    let config = s.root().join("infra_scripts/workflow.env");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("oops \u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mred\n");
    std::fs::write(&config, &text).unwrap();
    for args in [&["flow", "--yes"][..], &["doctor"][..]] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wfhost"));
        let out = cmd.args(args).current_dir(s.root()).stdin(std::process::Stdio::null()).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_ne!(out.status.code(), Some(0), "{args:?}\n{stdout}\n{stderr}");
        for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{args:?}: raw escape on {name}:\n{text:?}");
        }
        assert!(stderr.contains("\\x1b]0;pwned\\x07") || stdout.contains("\\x1b]0;pwned\\x07"), "{args:?}: the line is shown escaped\n{stdout}\n{stderr}");
    }
}

/// Replace `path` with a FIFO nobody writes to, or with a symlink to /dev/zero.
pub fn hostile_file(path: &std::path::Path, fifo: bool) {
    let _ = std::fs::remove_file(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if fifo {
        let st = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
        assert!(st.success(), "mkfifo {}", path.display());
    } else {
        std::os::unix::fs::symlink("/dev/zero", path).unwrap();
    }
}

/// A config, manifest, BOOTSTRAP_SCRIPT, signing key or `verify --key` that is a FIFO or a
/// symlink to /dev/zero is refused at once, naming the file and what it is; nothing hangs and
/// nothing grows.
#[test]
fn input_files_that_are_fifos_or_devices_are_refused_at_once() {
    let limit = Duration::from_secs(30);
    for fifo in [true, false] {
        let what = if fifo { "a FIFO (named pipe)" } else { "a character device" };
        // The config itself (written by the harness, then replaced).
        let s = Sandbox::new();
        s.run(&["--help"]);
        hostile_file(&s.root().join("infra_scripts/workflow.env"), fifo);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wfhost"));
        let t0 = std::time::Instant::now();
        let out = cmd.args(["flow", "--yes"]).current_dir(s.root()).stdin(std::process::Stdio::null()).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(t0.elapsed() < Duration::from_secs(20), "the config took {:?}", t0.elapsed());
        assert_eq!(out.status.code(), Some(10), "{stdout}\n{stderr}");
        assert!(stdout.contains(&format!("PHASE=P00 STATUS=fail CODE={}", codes::CONFIG_MISSING)), "{stdout}");
        assert!(stderr.contains("workflow.env") && stderr.contains(what) && stderr.contains("not a regular file"), "{stderr}");

        // SWEEP_MANIFEST: P00 reads it (before a pod is created).
        let s = Sandbox::new();
        hostile_file(&s.root().join("sweep.csv"), fifo);
        let run = s.run_with_limit(&["flow", "--yes"], limit);
        assert_eq!(run.status, 10, "{}", run.explain());
        assert_eq!(last_status(&run), ("P00".to_string(), "fail".to_string(), codes::INPUT_INVALID.get()), "{}", run.explain());
        assert!(s.pods().is_empty(), "{}", run.explain());
        assert!(run.stderr.contains("sweep.csv") && run.stderr.contains(what), "{}", run.explain());

        // BOOTSTRAP_SCRIPT.
        let mut s = Sandbox::new();
        s.set("BOOTSTRAP_SCRIPT", "boot.sh");
        hostile_file(&s.root().join("boot.sh"), fifo);
        let run = s.run_with_limit(&["flow", "--yes", "--sweep", "skip"], limit);
        assert_eq!(last_status(&run), ("P40".to_string(), "fail".to_string(), codes::BOOTSTRAP_FAILED.get()), "{}", run.explain());
        assert!(run.stderr.contains("BOOTSTRAP_SCRIPT") && run.stderr.contains("boot.sh") && run.stderr.contains(what), "{}", run.explain());

        // WF_SIGNING_KEY.
        let mut s = Sandbox::new();
        s.set("WF_SIGNING_KEY", "signing.pem");
        hostile_file(&s.root().join("signing.pem"), fifo);
        let run = s.run_with_limit(&["flow", "--yes", "--sweep", "skip"], limit);
        assert_eq!(last_status(&run), ("P00".to_string(), "fail".to_string(), codes::CONFIG_INVALID.get()), "{}", run.explain());
        assert!(run.stderr.contains("signing.pem") && run.stderr.contains(what), "{}", run.explain());

        // verify --key, on a real flow's evidence.
        let s = Sandbox::new();
        let flow = s.run(&["flow", "--yes", "--sweep", "skip"]);
        assert_eq!(flow.status, 0, "{}", flow.explain());
        hostile_file(&s.root().join("key.pub"), fifo);
        let run = s.run_with_limit(&["verify", &flow.flow_dir().display().to_string(), "--key", "key.pub"], limit);
        assert_eq!(run.status, 64, "{}", run.explain());
        assert!(run.stderr.contains("key.pub") && run.stderr.contains(what), "{}", run.explain());
    }
    // A file over its cap: a 2 MiB config.
    let s = Sandbox::new();
    s.run(&["--help"]);
    let config = s.root().join("infra_scripts/workflow.env");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&"# padding\n".repeat(200_000));
    std::fs::write(&config, text).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wfhost"));
    let out = cmd.args(["flow", "--yes"]).current_dir(s.root()).stdin(std::process::Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("over the 1 MiB limit"), "{stderr}");
}

/// Inputs that can be checked on this machine are checked in P00, before a pod exists: an
/// invalid manifest, a SWEEP_MATCH or SWEEP_START_AT that selects nothing, a remote path with a
/// newline or `..`, and flags a new pod cannot satisfy. `doctor` finds the sweep problems too.
#[test]
fn local_inputs_are_checked_in_p00_before_any_pod_exists() {
    let cases: Vec<(&str, Box<dyn Fn(&mut Sandbox)>, Vec<&str>, u16, &str)> = vec![
        ("a manifest without run_id", Box::new(|s: &mut Sandbox| { s.manifest("seed,extra\n1,\n"); }), vec![], codes::INPUT_INVALID.get(), "run_id"),
        ("a SWEEP_MATCH that selects nothing", Box::new(|s: &mut Sandbox| { s.set("SWEEP_MATCH", "zzz*"); }), vec![], codes::INPUT_INVALID.get(), "SWEEP_MATCH"),
        ("a SWEEP_START_AT that names no run", Box::new(|s: &mut Sandbox| { s.set("SWEEP_START_AT", "nope"); }), vec![], codes::INPUT_INVALID.get(), "nope"),
        ("a remote path with a newline", Box::new(|s: &mut Sandbox| { s.set("OPS_REMOTE_OUTPUTS_DIR", "\"/mnt/out\\nx\""); }), vec![], codes::CONFIG_INVALID.get(), "OPS_REMOTE_OUTPUTS_DIR"),
        ("a remote path with ..", Box::new(|s: &mut Sandbox| { s.set("REMOTE_ENV_PATH", "/mnt/../etc/project.env"); }), vec![], codes::CONFIG_INVALID.get(), "REMOTE_ENV_PATH"),
        ("--fetch all with --sweep skip on a new pod", Box::new(|_: &mut Sandbox| {}), vec!["--sweep", "skip", "--fetch", "all"], codes::FLAGS_ILLEGAL.get(), "no runs to fetch"),
        ("--sweep resume on a new pod", Box::new(|_: &mut Sandbox| {}), vec!["--sweep", "resume"], codes::FLAGS_ILLEGAL.get(), "no sweep to resume"),
    ];
    for (what, setup, flags, code, says) in cases {
        let mut s = Sandbox::new();
        setup(&mut s);
        let mut args = vec!["flow", "--yes", "--wait", "true"];
        args.extend(flags);
        let run = s.run(&args);
        assert_eq!(last_status(&run), ("P00".to_string(), "fail".to_string(), code), "{what}\n{}", run.explain());
        assert_eq!(run.status, 10, "{what}\n{}", run.explain());
        assert!(run.stderr.contains(says), "{what}: the halt names {says:?}\n{}", run.explain());
        assert!(s.pods().is_empty(), "{what}: a pod was created: {:?}", s.pods());
        if code == codes::INPUT_INVALID.get() {
            let doctor = s.run(&["doctor"]);
            assert_eq!(doctor.status, 10, "{what}\n{}", doctor.explain());
            assert!(doctor.stdout.lines().any(|l| l.starts_with("FAIL sweep") && l.contains(says)), "{what}\n{}", doctor.explain());
        }
    }
    // A good sweep: doctor says how many runs it plans.
    let s = Sandbox::new();
    let doctor = s.run(&["doctor"]);
    assert!(doctor.stdout.lines().any(|l| l.starts_with("ok   sweep") && l.contains("3 run(s) planned")), "{}", doctor.explain());
}

/// Item by item, what users met: capped unknown-key warnings whose names (never values) are
/// kept in evidence; `-C <file>` is a usage error; an unreadable config is not told to be
/// created; `verify --key` on a file that is no key says so; every phase a flow skips is one
/// the guide says can be skipped; the halt names the pod it tells you to delete; an overlong
/// evidence path is not called a permissions problem.
#[test]
fn what_users_meet_says_what_happened() {
    // Unknown keys: 5000 of them, one holding a credential-looking value.
    let mut s = Sandbox::new();
    for i in 0..5000 {
        s.set(&format!("ZZ_UNKNOWN_{i:05}"), "x");
    }
    s.set("ZZ_MY_TOKEN", "sk-not-for-evidence-42");
    let run = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let shown = run.stderr.lines().filter(|l| l.contains("unknown key ZZ_")).count();
    assert_eq!(shown, 20, "{}", &run.stderr[..run.stderr.len().min(4000)]);
    assert!(run.stderr.contains("4981 more unknown key(s) not shown"), "{}", &run.stderr[..run.stderr.len().min(4000)]);
    assert!(run.stderr.len() < 20_000, "{} bytes of stderr", run.stderr.len());
    let p00: serde_json::Value = serde_json::from_slice(&std::fs::read(run.flow_dir().join("phase/phase.P00.json")).unwrap()).unwrap();
    let kept = p00["details"]["unknown_keys"].as_array().cloned().unwrap_or_default();
    assert_eq!(kept.len(), 5001, "{}", p00["details"]);
    assert!(kept.iter().any(|k| k["key"] == "ZZ_MY_TOKEN" && k["line"].as_u64().is_some()));
    for f in std::fs::read_dir(run.flow_dir().join("phase")).unwrap().flatten().map(|e| e.path()).chain([run.flow_dir().join("events.jsonl")]) {
        assert!(!std::fs::read_to_string(&f).unwrap().contains("sk-not-for-evidence-42"), "a value reached {}", f.display());
    }
    assert_eq!(s.run(&["verify", &run.flow_dir().display().to_string()]).status, 0);

    // -C naming a file.
    let s = Sandbox::new();
    let run = s.run(&["-C", "sweep.csv", "doctor"]);
    assert_eq!(run.status, 64, "{}", run.explain());
    assert!(run.stderr.contains("not a directory"), "{}", run.explain());

    // A config that exists but cannot be read (here: a directory).
    let s = Sandbox::new();
    s.run(&["--help"]);
    let config = s.root().join("infra_scripts/workflow.env");
    std::fs::remove_file(&config).unwrap();
    std::fs::create_dir(&config).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wfhost"));
    let out = cmd.args(["flow", "--yes"]).current_dir(s.root()).stdin(std::process::Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("a directory") && !stderr.contains("Create "), "{stderr}");

    // verify --key on a text file that holds no key.
    let s = Sandbox::new();
    let flow = s.run(&["flow", "--yes", "--sweep", "skip"]);
    s.write("passwd", "root:x:0:0:root:/root:/bin/bash\n");
    let run = s.run(&["verify", &flow.flow_dir().display().to_string(), "--key", "passwd"]);
    assert_eq!(run.status, 64, "{}", run.explain());
    assert!(run.stderr.contains("no PEM public key") && !run.stderr.contains("NUL"), "{}", run.explain());

    // Every phase this flow skipped is one the guide says can be skipped.
    let guide = s.run(&["docs", "guide"]).stdout;
    for (phase, status, _) in flow.statuses() {
        if status == "skip" {
            let row = guide.lines().find(|l| l.starts_with(&format!("| {phase} |"))).unwrap_or_else(|| panic!("no guide row for {phase}"));
            assert!(!row.contains("| never |"), "{phase} was skipped, but the guide says it never is: {row}");
        }
    }

    // A pod created in P10 whose court then halts the flow: the last line names it.
    let mut s = Sandbox::new();
    s.write("court.sh", "case \"$*\" in *P10*) echo '{\"status\": \"fail\", \"violated_laws\": [\"L5\"], \"remediation\": \"test\"}' ;; *) echo '{\"status\": \"pass\"}' ;; esac\n");
    s.set("WF_SUBAGENT_VALIDATOR_CMD", &format!("sh {}", s.root().join("court.sh").display()));
    let run = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(last_status(&run).0, "P10", "{}", run.explain());
    let pods = s.pods();
    assert_eq!(pods.len(), 1, "{}", run.explain());
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.contains(&format!("pod {} is running", pods[0])) && !last.contains("pod  is"), "{last}");
    assert!(last.contains(&format!("wfhost pod-delete --target {} --yes", pods[0])), "{last}");

    // An evidence directory whose name is too long for the file system.
    let mut s = Sandbox::new();
    s.set("WF_FLOW_EVIDENCE_DIR", &"e".repeat(300));
    let run = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(run.status, 70, "{}", run.explain());
    assert!(run.stderr.contains("too long") && !run.stderr.to_lowercase().contains("permission"), "{}", run.explain());
}

/// A mount this test made (a tmpfs, a read-only bind), unmounted when dropped.
pub struct Mount {
    pub dir: std::path::PathBuf,
}

impl Mount {
    fn mount(args: &[&str], dir: &std::path::Path) -> Mount {
        let out = std::process::Command::new("mount").args(args).arg(dir).stdin(std::process::Stdio::null()).output().expect("mount runs");
        assert!(out.status.success(), "mount {args:?} {} failed (these tests run as root and need it): {}", dir.display(), String::from_utf8_lossy(&out.stderr));
        Mount { dir: dir.to_path_buf() }
    }

    /// A tmpfs of `size` (as `mount -o size=` takes it) at `dir`.
    pub fn tmpfs(dir: &std::path::Path, size: &str) -> Mount {
        std::fs::create_dir_all(dir).unwrap();
        Mount::mount(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"], dir)
    }

    /// `dir` made read-only in place (a read-only bind mount of itself).
    pub fn read_only(dir: &std::path::Path) -> Mount {
        let bind = Mount::mount(&["--bind", &dir.display().to_string()], dir);
        let out = std::process::Command::new("mount").args(["-o", "remount,bind,ro"]).arg(dir).output().expect("mount runs");
        assert!(out.status.success(), "remount ro {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
        bind
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Whatever an evidence write met, the flow's record is honest: a flow that exits 0 verifies
/// as passed; one that could not write halts with 70, its last stdout line says so (never a
/// `COURT=pass`), its last stderr line names the write that failed (never "flow passed"), and
/// `verify` accepts its evidence and reports the failed write — never a tamper. `fill` is the
/// list of bytes taken from the evidence file system before each flow.
pub fn full_disk_flows(s: &mut Sandbox, evidence: &std::path::Path, fills: &[u64], args: &[&str]) -> (usize, usize) {
    let (mut passed, mut failed_mid_flow) = (0, 0);
    s.set("WF_FLOW_EVIDENCE_DIR", &evidence.display().to_string());
    for &fill in fills {
        for e in std::fs::read_dir(evidence).unwrap().flatten() {
            let p = e.path();
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
        if fill > 0 {
            // Fill with a file, then top up byte-exactly (a write that hits ENOSPC writes what fits).
            let _ = std::fs::write(evidence.join("fill"), vec![0u8; fill as usize]);
        }
        let run = s.run_with_limit(args, Duration::from_secs(120));
        let last_out = run.stdout.lines().last().unwrap_or_default().to_string();
        let last_err = run.stderr.lines().last().unwrap_or_default().to_string();
        let flows: Vec<std::path::PathBuf> = std::fs::read_dir(evidence).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        match run.status {
            0 => {
                passed += 1;
                assert!(last_out.starts_with("PHASE=P99 COURT=pass"), "fill {fill}: {}", run.explain());
                let (st, report) = verify_json(s, &flows[0]);
                assert_eq!((st, report["finished"].as_bool(), report["verdict"].as_str()), (0, Some(true), Some("pass")), "fill {fill}: {report:#}");
                assert_eq!(report["write_failures"].as_array().map(Vec::len), Some(0), "{report:#}");
            }
            70 => {
                assert_eq!(last_out, "FLOW=halted CAUSE=internal EXIT=70", "fill {fill}: {}", run.explain());
                assert!(!last_err.contains("flow passed"), "fill {fill}: {last_err}");
                assert!(last_err.contains("No space left") || last_err.contains("disk is full"), "fill {fill}: {last_err}");
                assert!(flows.len() <= 1, "{flows:?}");
                if let Some(flow) = flows.first() {
                    failed_mid_flow += 1;
                    let (st, report) = verify_json(s, flow);
                    assert_eq!((st, report["ok"].as_bool()), (0, Some(true)), "fill {fill}: a failed write is not a tamper: {report:#}\n{}", run.explain());
                    let failures = report["write_failures"].as_array().cloned().unwrap_or_default();
                    assert!(!failures.is_empty(), "fill {fill}: {report:#}");
                    assert!(failures.iter().all(|f| f["error"].as_str().unwrap_or_default().contains("No space left")), "{report:#}");
                    if report["finished"] == true {
                        assert_eq!(report["verdict"], "halted", "{report:#}");
                        let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(flow.join("flow.summary.json")).unwrap()).unwrap();
                        assert_eq!(summary["exit_status"], 70, "{summary:#}");
                    }
                    let text = s.run(&["verify", &flow.display().to_string()]);
                    assert!(text.stdout.contains("write failed: the flow could not write"), "{}", text.explain());
                } else {
                    assert!(run.stderr.contains("cannot write evidence under"), "fill {fill}: {}", run.explain());
                }
            }
            other => panic!("fill {fill}: exit {other}\n{}", run.explain()),
        }
    }
    (passed, failed_mid_flow)
}

/// `wfhost verify --json DIR`: (exit status, report).
pub fn verify_json(s: &Sandbox, flow_dir: &std::path::Path) -> (i32, serde_json::Value) {
    let run = s.run(&["verify", "--json", &flow_dir.display().to_string()]);
    let report = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("verify printed no JSON ({e})\n{}", run.explain()));
    (run.status, report)
}

/// The evidence directory on a small tmpfs at many fill levels: every outcome is honest.
#[test]
fn a_full_evidence_disk_halts_with_the_internal_status_and_verifies_as_a_failed_write() {
    let mut s = Sandbox::new();
    let first = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(first.status, 0, "{}", first.explain());
    let pod = s.pods().pop().expect("a pod");
    s.set("LIUM_TARGET", &pod);
    let disk = Mount::tmpfs(&s.root().join("ev"), "2m");
    let fills: Vec<u64> = (0..32).map(|i| i * 64 * 1024).collect();
    let (passed, failed) = full_disk_flows(&mut s, &disk.dir, &fills, &["flow", "--provision", "skip", "--sweep", "skip"]);
    assert!(passed > 0 && failed > 0, "the fill levels cover a passing flow ({passed}) and a flow halted mid-way ({failed})");
}

/// The phase directory made read-only while a flow runs: the flow halts with 70 at once,
/// records that status consistently (the summary says 70, verify agrees) and names the write.
#[test]
fn a_phase_directory_made_read_only_mid_flow_halts_with_the_internal_status() {
    let mut s = Sandbox::new();
    let gate = s.root().join("gate");
    let reached = s.root().join("reached");
    s.write("boot.sh", &format!("touch {}\nwhile [ ! -f {} ]; do sleep 0.1; done\n", reached.display(), gate.display()));
    s.set("BOOTSTRAP_SCRIPT", "boot.sh");
    s.set("WF_FLOW_EVIDENCE_DIR", "ev");
    s.run(&["--help"]);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wfhost"))
        .args(["flow", "--yes", "--sweep", "skip"])
        .current_dir(s.root())
        .env("WFHOST_CACHE_DIR", std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wfhost-component-cache"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !reached.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "the bootstrap never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let flow = std::fs::read_dir(s.root().join("ev")).unwrap().flatten().map(|e| e.path()).next().unwrap();
    let ro = Mount::read_only(&flow.join("phase"));
    std::fs::write(&gate, "").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(ro);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(70), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().last(), Some("FLOW=halted CAUSE=internal EXIT=70"), "{stdout}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("halted: internal error") && last.contains("phase/phase.P40.json") && last.contains("Read-only file system"), "{last}");
    assert!(last.contains("delete it with: wfhost pod-delete"), "the pod line is there: {last}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(flow.join("flow.summary.json")).unwrap()).unwrap();
    assert_eq!((summary["verdict"].as_str(), summary["exit_status"].as_i64()), (Some("halted"), Some(70)), "{summary:#}");
    let (status, report) = verify_json(&s, &flow);
    assert_eq!(status, 0, "{report:#}");
    assert_eq!(report["write_failures"][0]["file"], "phase/phase.P40.json", "{report:#}");
}

/// `wfhost ARGS` started in the sandbox with stdin closed; its output read as it goes.
pub struct Spawned {
    pub child: std::process::Child,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Spawned {
    pub fn start(s: &Sandbox, args: &[&str]) -> Spawned {
        s.run(&["--help"]); // writes the sandbox's config
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wfhost"));
        cmd.args(args).current_dir(s.root()).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        for k in ["LIUM_YES", "LIUM_TARGET", "WORKFLOW_CONFIG", "WF_ALLOW_OVERRIDE"] {
            cmd.env_remove(k);
        }
        cmd.env("WFHOST_CACHE_DIR", std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wfhost-component-cache"));
        let mut child = cmd.spawn().expect("wfhost spawns");
        let read = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = r.read_to_string(&mut s);
                s
            })
        };
        let stdout = Some(read(Box::new(child.stdout.take().unwrap())));
        let stderr = Some(read(Box::new(child.stderr.take().unwrap())));
        Spawned { child, stdout, stderr }
    }

    /// Send `signal` (a `kill` name: INT, TERM) to the wfhost process.
    pub fn signal(&self, signal: &str) {
        let st = std::process::Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status().unwrap();
        assert!(st.success(), "kill -{signal}");
    }

    /// Send `signal` (INT, TERM) once, wait for the exit (at most `limit`), and check what an
    /// interrupted flow must do: exit 128 + the signal's number within `within`, last stdout
    /// line `FLOW=halted CAUSE=interrupted`. Returns (stdout, stderr).
    pub fn interrupt(self, signal: &str, limit: Duration, within: Duration) -> (String, String) {
        let expected = match signal {
            "INT" => 130,
            "TERM" => 143,
            other => panic!("no exit status known for SIG{other}"),
        };
        self.signal(signal);
        let (status, stdout, stderr, took) = self.finish(limit);
        assert_eq!(status, expected, "{stdout}\n{stderr}");
        assert!(took < within, "it took {took:?} to stop");
        assert_eq!(stdout.lines().last(), Some(format!("FLOW=halted CAUSE=interrupted EXIT={expected}").as_str()), "{stdout}");
        (stdout, stderr)
    }

    /// Wait for the exit (at most `limit`): (status, stdout, stderr, how long it took).
    pub fn finish(mut self, limit: Duration) -> (i32, String, String, Duration) {
        let t0 = std::time::Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.code().unwrap_or(-1);
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("wfhost did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = t0.elapsed();
        let out = self.stdout.take().unwrap().join().unwrap();
        let err = self.stderr.take().unwrap().join().unwrap();
        (status, out, err, took)
    }
}

/// The sandbox's one flow evidence directory.
pub fn only_flow_dir(s: &Sandbox) -> std::path::PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(s.root().join("artifacts/pod_logs/_flows")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

/// Wait until `path` exists (at most `limit`).
pub fn wait_for(path: &std::path::Path, limit: Duration) {
    let t0 = std::time::Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < limit, "{} did not appear within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|st| st.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z'))).unwrap_or(false)
}

/// Ctrl-C while P70 waits: the flow records the interruption (flow.halted, the summary with
/// exit 130), prints the pod line and the commands to resume and to delete, and exits 130;
/// verify accepts it; the detached sweep goes on, and the printed resume command finishes it
/// without running anything twice.
#[test]
fn sigint_while_waiting_records_the_interruption_and_says_how_to_resume() {
    let mut s = Sandbox::new();
    s.manifest("run_id,command\ni1,echo ran >> $WF_RUN_DIR/ran.log; sleep 5\n");
    let flow = Spawned::start(&s, &["flow", "--yes", "--wait", "true"]);
    let pods = s.root().join(".wfhost/pods");
    let t0 = std::time::Instant::now();
    let claimed = loop {
        let found = std::fs::read_dir(&pods).into_iter().flatten().flatten().map(|e| e.path().join("root/mnt/outputs/runs/i1/ran.log")).find(|p| p.exists());
        if let Some(p) = found {
            break p;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // P60 ends once the runner checked in; by now P70 waits.
    std::thread::sleep(Duration::from_millis(1500));
    let (_, stderr) = flow.interrupt("INT", Duration::from_secs(30), Duration::from_secs(5));
    let pod = s.pods().pop().unwrap();
    let last = stderr.lines().last().unwrap_or_default().to_string();
    assert!(last.contains("interrupted by SIGINT during P70"), "{last}");
    assert!(last.contains(&format!("pod {pod} is running")) && last.contains(&format!("wfhost pod-delete --target {pod} --yes")), "{last}");
    let resume = format!("set LIUM_TARGET={pod} in the config, then: wfhost flow --provision skip --sweep resume --wait true --fetch none --teardown keep");
    assert!(last.contains(&resume), "{last}");
    let flow_dir = only_flow_dir(&s);
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(flow_dir.join("flow.summary.json")).unwrap()).unwrap();
    assert_eq!((summary["verdict"].as_str(), summary["exit_status"].as_i64()), (Some("halted"), Some(130)), "{summary:#}");
    let (vs, report) = verify_json(&s, &flow_dir);
    assert_eq!((vs, report["finished"].as_bool()), (0, Some(true)), "{report:#}");
    let explain = s.run(&["explain", &flow_dir.display().to_string()]);
    assert!(explain.stdout.contains("INTERRUPTED by SIGINT"), "{}", explain.stdout);
    // The detached runner was not touched: the run ends by itself.
    wait_for(&claimed.parent().unwrap().join("_wf/exit_code"), Duration::from_secs(30));
    // The printed command takes it up: nothing runs twice.
    s.set("LIUM_TARGET", &pod);
    let again = s.run(&["flow", "--provision", "skip", "--sweep", "resume", "--wait", "true", "--fetch", "none", "--teardown", "keep"]);
    assert_eq!(again.status, 0, "{}", again.explain());
    assert_eq!(std::fs::read_to_string(&claimed).unwrap().lines().count(), 1);
}

/// SIGTERM while a bootstrap script runs: 143, and the script (a process the host started for
/// the flow) is stopped with it; a second signal during a slow stop exits at once.
#[test]
fn sigterm_stops_the_processes_the_flow_started_and_a_second_signal_exits_at_once() {
    let mut s = Sandbox::new();
    let pid_file = s.root().join("boot.pid");
    s.write("boot.sh", &format!("echo $$ > {}\nsleep 60\n", pid_file.display()));
    s.set("BOOTSTRAP_SCRIPT", "boot.sh");
    let flow = Spawned::start(&s, &["flow", "--yes", "--sweep", "skip"]);
    wait_for(&pid_file, Duration::from_secs(60));
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let (_, stderr) = flow.interrupt("TERM", Duration::from_secs(30), Duration::from_secs(5));
    assert!(stderr.lines().last().unwrap_or_default().contains("interrupted by SIGTERM during P40"), "{stderr}");
    let t0 = std::time::Instant::now();
    while alive(pid) {
        assert!(t0.elapsed() < Duration::from_secs(5), "the bootstrap script (pid {pid}) outlived the flow");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A stop that waits (the monitor sleeps between polls): the second Ctrl-C ends it now.
    let mut s = Sandbox::new();
    s.manifest("run_id,command\nw1,sleep 30\n");
    s.set("WF_MONITOR_POLL_SECS", "60");
    let flow = Spawned::start(&s, &["flow", "--yes", "--wait", "true"]);
    let out = s.root().join(".wfhost/pods");
    let t0 = std::time::Instant::now();
    while !std::fs::read_dir(&out).into_iter().flatten().flatten().any(|e| e.path().join("root/mnt/outputs/runs/w1/_wf/pid").exists()) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    flow.signal("INT");
    std::thread::sleep(Duration::from_millis(500));
    flow.signal("INT");
    let (status, _, _, took) = flow.finish(Duration::from_secs(30));
    assert_eq!(status, 130);
    assert!(took < Duration::from_secs(3), "the second signal took {took:?}");
}

/// Two flows on one target: the second stops in P20 with 207, naming the first (its pid),
/// before it touches the target, and the first goes on unharmed. A flow killed with SIGKILL
/// leaves no stale lock, even while a process it started lives on.
#[test]
fn a_second_flow_on_a_busy_target_refuses_at_once_naming_the_first() {
    let mut s = Sandbox::new();
    let setup = s.run(&["flow", "--yes", "--sweep", "skip"]);
    assert_eq!(setup.status, 0, "{}", setup.explain());
    let pod = s.pods().pop().unwrap();
    s.set("LIUM_TARGET", &pod);
    s.manifest("run_id,command\nb1,echo ran >> $WF_RUN_DIR/ran.log; sleep 6\n");
    let first = Spawned::start(&s, &["flow", "--provision", "skip", "--wait", "true"]);
    let ran = s.root().join(".wfhost/pods").join(&pod).join("root/mnt/outputs/runs/b1/ran.log");
    wait_for(&ran, Duration::from_secs(60));
    let second = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "skip"], Duration::from_secs(60));
    assert_eq!(last_status(&second), ("P20".to_string(), "fail".to_string(), codes::TARGET_BUSY.get()), "{}", second.explain());
    assert_eq!(second.status, 20, "{}", second.explain());
    let reason = second.verdict("P20")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains(&format!("target {pod} is in use by flow ")) && reason.contains(&format!("pid {}", first.child.id())), "{reason}");
    let (status, stdout, stderr, _) = first.finish(Duration::from_secs(90));
    assert_eq!(status, 0, "{stdout}\n{stderr}");
    assert_eq!(std::fs::read_to_string(&ran).unwrap().lines().count(), 1);

    // SIGKILL while P40 runs a bootstrap script that outlives it: the next flow binds.
    let pid_file = s.root().join("boot.pid");
    s.write("boot.sh", &format!("echo $$ > {}\nsleep 60\n", pid_file.display()));
    s.set("BOOTSTRAP_SCRIPT", "boot.sh");
    let killed = Spawned::start(&s, &["flow", "--provision", "skip", "--sweep", "skip"]);
    wait_for(&pid_file, Duration::from_secs(60));
    killed.signal("KILL");
    let _ = killed.finish(Duration::from_secs(10));
    let boot: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(alive(boot), "the bootstrap script should outlive a SIGKILLed wfhost");
    s.unset("BOOTSTRAP_SCRIPT");
    let next = s.run(&["flow", "--provision", "skip", "--sweep", "skip"]);
    // `--` before the group: without it procps' kill reads `-<pgid>` as an option and signals
    // every process it may (kill(-1)), the whole machine for root.
    assert!(boot > 1, "a bootstrap pid of {boot}");
    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{boot}")]).status();
    let _ = std::process::Command::new("kill").args(["-KILL", &boot.to_string()]).status();
    assert_eq!(next.status, 0, "{}", next.explain());
}
