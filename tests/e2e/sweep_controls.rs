//! The sweep controls of the original workflow, end to end with the real binary: the per-run
//! time limit (`RUN_TIMEOUT_SECS`) and GPU slices (`WF_GPUS_PER_RUN`, `{gpus}`/`{nproc}`) on a
//! real OpenSSH host on 127.0.0.1 (the loopback sshd of [`crate::ssh`]), whose sessions get a
//! stand-in `nvidia-smi` on their PATH where a test needs GPUs.

use crate::harness::Sandbox;
use crate::ssh::{alive, facts, last_status, processes_working_in, verify, Sshd};
use std::path::{Path, PathBuf};
use wfhost_constitution::codes;

/// A directory holding a stand-in `nvidia-smi` whose `-L` lists `n` GPUs (as the real one
/// does: `GPU <i>: <name> (UUID: GPU-<i>)`), and the session PATH that puts it first.
fn stand_in_nvidia_smi(dir: &Path, n: usize) -> String {
    let bin = dir.join("gpu-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let smi = bin.join("nvidia-smi");
    std::fs::write(
        &smi,
        format!("#!/bin/sh\n[ \"${{1:-}}\" = -L ] || exit 2\ni=0\nwhile [ $i -lt {n} ]; do echo \"GPU $i: Stand-in GPU (UUID: GPU-0000000$i)\"; i=$((i + 1)); done\n"),
    )
    .unwrap();
    std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    format!("PATH={}:{path}", bin.display())
}

/// `wfhost verify` accepts the evidence of every flow in `runs`.
fn assert_verifies(s: &Sandbox, runs: &[&crate::harness::Run]) {
    for run in runs {
        let (code, report) = verify(s, &run.flow_dir());
        assert_eq!(code, 0, "{report:#}");
    }
}

fn remote_run(s: &Sandbox, id: &str) -> PathBuf {
    s.root().join("remote/outputs/runs").join(id)
}

#[test]
fn a_run_past_run_timeout_secs_is_stopped_on_the_host_and_its_sibling_passes() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.unset("SWEEP_RUN_TEMPLATE");
    s.set("RUN_TIMEOUT_SECS", "2");
    s.manifest(
        "run_id,command\n\
         slow,sleep 300 & echo $! > $WF_RUN_DIR/child; wait\n\
         quick,echo done > $WF_RUN_DIR/done\n",
    );
    let run = s.run(&["flow", "--provision", "skip", "--wait", "true"]);
    assert_eq!(last_status(&run), ("P70".to_string(), "fail".to_string(), codes::RUNS_FAILED.get()), "{}", run.explain());
    let reason = run.verdict("P70")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("1 of 2 runs failed: slow"), "{reason}");
    assert!(reason.contains("1 of them timed out (stopped at RUN_TIMEOUT_SECS): slow"), "{reason}");
    let f = facts(&run, "P70");
    assert_eq!((f["timed_out"].as_str(), f["timed_out_runs"].as_str(), f["ok"].as_str()), (Some("1"), Some("slow"), Some("1")), "{f:#}");
    assert_eq!(facts(&run, "P60")["run_timeout_secs"].as_str(), Some("2"));
    // The sibling finished; the slow run's whole group is gone (its backgrounded sleep too).
    assert_eq!(std::fs::read_to_string(remote_run(&s, "quick").join("done")).unwrap(), "done\n");
    let wf = remote_run(&s, "slow").join("_wf");
    assert!(wf.join("timed_out").is_file());
    assert_eq!(std::fs::read_to_string(wf.join("exit_code")).unwrap().trim(), "143");
    let child = std::fs::read_to_string(remote_run(&s, "slow").join("child")).unwrap();
    assert!(!alive(child.trim().parse().unwrap()), "the timed-out run's child {} lives on", child.trim());
    let left = processes_working_in(&s.root().join("remote"));
    assert!(left.iter().all(|(_, cmd)| !cmd.contains("sleep 300")), "{left:?}");
    // The status read later says the same.
    let status = s.run(&["flow", "--provision", "skip", "--sweep", "skip", "--wait", "false"]);
    assert_eq!(status.status, 0, "{}", status.explain());
    assert_eq!(facts(&status, "P70")["timed_out_runs"].as_str(), Some("slow"));
    let json = s.run(&["sweep-status", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{}", json.explain()));
    assert_eq!(doc["sweep"]["timed_out_runs"], serde_json::json!(["slow"]), "{doc:#}");
    assert_eq!(doc["sweep"]["failed_runs"], serde_json::json!(["slow"]), "{doc:#}");
    assert_verifies(&s, &[&run, &status]);
}

#[test]
fn with_four_gpus_and_two_per_run_at_most_two_runs_run_at_once_on_disjoint_gpus() {
    let bins = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_with_session_env(&stand_in_nvidia_smi(bins.path(), 4));
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.set("WF_GPUS_PER_RUN", "2");
    s.set("SWEEP_MAX_PARALLEL", "4");
    // Each run records its placeholders, its CUDA_VISIBLE_DEVICES and when it ran (ns).
    s.set(
        "SWEEP_RUN_TEMPLATE",
        "sh -c 'b=$(date +%s%N); sleep 1; printf \"%s|%s|%s|%s|%s\\n\" \"$1\" \"$2\" \"$CUDA_VISIBLE_DEVICES\" \"$b\" \"$(date +%s%N)\" > \"$WF_RUN_DIR/gpus.txt\"' run {gpus} {nproc}",
    );
    s.manifest("run_id,seed\ng1,1\ng2,2\ng3,3\ng4,4\ng5,5\n");
    let run = s.run(&["flow", "--provision", "skip", "--wait", "true"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    // The GPUs were found and recorded in P30, P40 and P60.
    for phase in ["P30", "P40", "P60"] {
        let f = facts(&run, phase);
        assert_eq!((f["gpus"].as_str(), f["gpu_count"].as_str(), f["gpus_source"].as_str()), (Some("0,1,2,3"), Some("4"), Some("nvidia-smi")), "{phase}: {f:#}");
    }
    let p60 = facts(&run, "P60");
    assert_eq!((p60["gpus_per_run"].as_str(), p60["gpu_slots"].as_str()), (Some("2"), Some("2")), "{p60:#}");
    let mut seen: Vec<(String, u128, u128)> = Vec::new();
    for id in ["g1", "g2", "g3", "g4", "g5"] {
        let text = std::fs::read_to_string(remote_run(&s, id).join("gpus.txt")).unwrap();
        let f: Vec<&str> = text.trim().split('|').collect();
        assert_eq!(f.len(), 5, "{id}: {text}");
        assert!(["0,1", "2,3"].contains(&f[2]), "{id} got CUDA_VISIBLE_DEVICES={}", f[2]);
        assert_eq!((f[0], f[1]), (f[2], "2"), "{id}: {{gpus}} and {{nproc}}");
        seen.push((f[2].to_string(), f[3].parse().unwrap(), f[4].parse().unwrap()));
    }
    let mut max_at_once = 0;
    for (a, (ga, sa, ea)) in seen.iter().enumerate() {
        max_at_once = max_at_once.max(seen.iter().filter(|(_, sb, eb)| sb <= sa && sa < eb).count());
        for (b, (gb, sb, eb)) in seen.iter().enumerate() {
            if a != b && sb < ea && sa < eb {
                assert_ne!(ga, gb, "runs {a} and {b} shared GPUs {ga}");
            }
        }
    }
    assert!(max_at_once <= 2, "four GPUs, two per run: {max_at_once} runs at once");

    // Five per run on four GPUs: nothing can start, and P60 says why before launching.
    s.set("WF_GPUS_PER_RUN", "5");
    let too_many = s.run(&["flow", "--provision", "skip", "--wait", "true"]);
    assert_eq!(last_status(&too_many), ("P60".to_string(), "fail".to_string(), codes::SWEEP_LAUNCH_FAILED.get()), "{}", too_many.explain());
    let reason = too_many.verdict("P60")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("WF_GPUS_PER_RUN=5 but the target has 4 GPU(s) (0,1,2,3, from nvidia-smi)"), "{reason}");
}

#[test]
fn the_new_sweep_keys_are_bounded_in_p00() {
    for (key, value, problem) in [
        ("RUN_TIMEOUT_SECS", "2592001", "at most 2592000"),
        ("RUN_TIMEOUT_SECS", "1h", "whole number"),
        ("WF_GPUS_PER_RUN", "65", "at most 64"),
        ("SWEEP_LIMIT", "1000001", "at most 1000000"),
        ("SWEEP_DRY_RUN", "yes", "must be 0 or 1"),
        ("SWEEP_FORCE", "2", "must be 0 or 1"),
        ("APT_PACKAGES", "rsync Bad_Pkg", "has the item \"Bad_Pkg\"; every item must be one of the Debian package names"),
        ("AUTO_INSTALL_PREREQS", "true", "must be 0 or 1"),
    ] {
        let mut s = Sandbox::new();
        s.set(key, value);
        let run = s.run(&["flow", "--yes"]);
        assert_eq!(run.status, 10, "{}", run.explain());
        assert_eq!(run.statuses(), vec![("P00".to_string(), "fail".to_string(), codes::CONFIG_INVALID.get())], "{}", run.explain());
        let reason = run.verdict("P00")["halt_reason"].as_str().unwrap_or_default().to_string();
        assert!(reason.contains(&format!("{key}={value:?}")) && reason.contains(problem), "{key}: {reason}");
        assert!(s.pods().is_empty(), "{key}: nothing may be created");
    }
}

/// The outputs tree of the sandbox's one local pod.
fn local_outputs(s: &Sandbox) -> PathBuf {
    let pods = s.pods();
    assert_eq!(pods.len(), 1, "{pods:?}");
    s.root().join(".wfhost/pods").join(&pods[0]).join("root/mnt/outputs")
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
fn a_dry_run_prints_and_records_each_command_and_starts_nothing() {
    let mut s = Sandbox::new();
    s.set("SWEEP_DRY_RUN", "1");
    s.set("SWEEP_LIMIT", "2");
    let run = s.run(&["flow", "--yes", "--wait", "true"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let statuses = run.statuses();
    let p60 = statuses.iter().find(|(p, _, _)| p == "P60").unwrap();
    let p70 = statuses.iter().find(|(p, _, _)| p == "P70").unwrap();
    assert_eq!((p60.1.as_str(), p70.1.as_str()), ("skip", "skip"), "{}", run.explain());
    // Each selected run's exact command, printed and in P60's evidence; r3 is past SWEEP_LIMIT.
    let pack = std::fs::read_to_string(run.flow_dir().join("phase/phase.P60.json")).unwrap();
    for (id, seed) in [("r1", 1), ("r2", 2)] {
        let command = format!("sh train.sh --seed {seed} ''");
        assert!(run.stderr.contains(&format!("dry run: {id}: {command}")), "{id}\n{}", run.explain());
        assert!(pack.contains(&serde_json::to_string(&command).unwrap()), "{id}: {pack}");
    }
    assert!(!run.stderr.contains("dry run: r3"), "{}", run.stderr);
    let f = facts(&run, "P60");
    assert_eq!((f["dry_run"].as_str(), f["runs_selected"].as_str()), (Some("true"), Some("2")), "{f:#}");
    // Nothing started or written for the sweep on the pod.
    let out = local_outputs(&s);
    assert!(!out.join("_sweep/runs.tsv").exists() && !out.join("_sweep/runner.sh").exists());
    assert_eq!(std::fs::read_dir(out.join("runs")).map(|d| d.count()).unwrap_or(0), 0);
    assert_verifies(&s, &[&run]);
}

#[test]
fn sweep_limit_runs_the_first_n_and_force_runs_finished_runs_again_with_consent() {
    let mut s = Sandbox::new();
    s.set("SWEEP_LIMIT", "2");
    let first = s.run(&["flow", "--yes", "--wait", "true"]);
    assert_eq!(first.status, 0, "{}", first.explain());
    assert_eq!(facts(&first, "P60")["runs_selected"].as_str(), Some("2"));
    let out = local_outputs(&s);
    assert_eq!([("r1"), ("r2"), ("r3")].map(|id| lines(&out.join("runs").join(id).join("train.log"))), [1, 1, 0]);
    let pod = s.pods()[0].clone();
    s.set("LIUM_TARGET", &pod);

    // Forcing without consent stops in P00; nothing runs again.
    s.set("SWEEP_FORCE", "1");
    let refused = s.run(&["flow", "--provision", "skip", "--wait", "true"]);
    assert_eq!(refused.status, 10, "{}", refused.explain());
    assert_eq!(refused.statuses(), vec![("P00".to_string(), "fail".to_string(), codes::RERUN_CONSENT_MISSING.get())], "{}", refused.explain());
    let reason = refused.verdict("P00")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("SWEEP_FORCE=1") && reason.contains("--yes"), "{reason}");

    // With --yes: the finished runs run again, the earlier attempt (and its outputs) kept.
    let forced = s.run(&["flow", "--provision", "skip", "--wait", "true", "--yes"]);
    assert_eq!(forced.status, 0, "{}", forced.explain());
    let p60 = facts(&forced, "P60");
    assert_eq!((p60["force"].as_str(), p60["restarted_runs"].as_str()), (Some("true"), Some("r1,r2")), "{p60:#}");
    assert_eq!([("r1"), ("r2"), ("r3")].map(|id| lines(&out.join("runs").join(id).join("train.log"))), [1, 1, 0], "each attempt writes a fresh train.log");
    for id in ["r1", "r2"] {
        let first_attempt = out.join("runs").join(id).join("_wf/attempts/1");
        assert_eq!(std::fs::read_to_string(first_attempt.join("exit_code")).unwrap().trim(), "0", "{id}");
        assert_eq!(lines(&first_attempt.join("outputs/train.log")), 1, "{id}: the first attempt's output is kept");
        assert_eq!(std::fs::read_to_string(first_attempt.join("requeued_why")).unwrap().trim(), "forced");
    }
    let consent: Vec<serde_json::Value> = std::fs::read_to_string(forced.flow_dir().join("events.jsonl")).unwrap().lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event_type"] == "consent.given" && e["payload"]["action"] == "rerun-finished-runs")
        .collect();
    assert_eq!(consent.len(), 1, "the consent to run finished runs again is recorded once");
    assert_eq!(consent[0]["actor"]["id"], "--yes", "{}", consent[0]);
    // A dry run needs no consent even with SWEEP_FORCE=1.
    s.set("SWEEP_DRY_RUN", "1");
    let dry = s.run(&["flow", "--provision", "skip", "--wait", "true"]);
    assert_eq!(dry.status, 0, "{}", dry.explain());
    assert_verifies(&s, &[&first, &refused, &forced, &dry]);
}

#[test]
fn apt_packages_the_target_lacks_are_installed_non_interactively_and_a_failed_install_halts_p40() {
    // A stand-in apt-get on the sessions' PATH records each call (its arguments and
    // DEBIAN_FRONTEND) and fails an install that names a package with "broken" in it.
    let bins = tempfile::tempdir().unwrap();
    let bin = bins.path().join("apt-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = bins.path().join("apt-calls.log");
    std::fs::write(
        bin.join("apt-get"),
        format!(
            "#!/bin/sh\nprintf '%s|%s\\n' \"${{DEBIAN_FRONTEND:-}}\" \"$*\" >> {calls}\ncase \"$*\" in *install*broken*) echo 'E: Unable to locate package' >&2; exit 100 ;; esac\nexit 0\n",
            calls = calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("apt-get"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let sshd = Sshd::start_with_session_env(&format!("PATH={}:{path}", bin.display()));
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    // coreutils is installed (dpkg says so); the other two are not.
    s.set("APT_PACKAGES", "coreutils wfhost-e2e-absent-a wfhost-e2e-absent-b");

    // Without AUTO_INSTALL_PREREQS: P40 names what is missing and installs nothing.
    let refused = s.run(&["flow", "--provision", "skip", "--sweep", "skip"]);
    assert_eq!(last_status(&refused), ("P40".to_string(), "fail".to_string(), codes::BOOTSTRAP_FAILED.get()), "{}", refused.explain());
    let reason = refused.verdict("P40")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("lacks wfhost-e2e-absent-a wfhost-e2e-absent-b") && reason.contains("AUTO_INSTALL_PREREQS=1"), "{reason}");
    assert!(!calls.exists(), "apt-get ran without AUTO_INSTALL_PREREQS");

    s.set("AUTO_INSTALL_PREREQS", "1");
    let run = s.run(&["flow", "--provision", "skip", "--sweep", "skip"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let log = std::fs::read_to_string(&calls).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(lines[0], "noninteractive|-q update", "{log}");
    assert!(lines[1].starts_with("noninteractive|-q install -y --no-install-recommends"), "{log}");
    assert!(lines[1].ends_with(" wfhost-e2e-absent-a wfhost-e2e-absent-b"), "only the missing packages: {log}");
    assert!(!lines[1].contains("coreutils"), "{log}");
    let f = facts(&run, "P40");
    assert_eq!((f["apt_missing"].as_str(), f["apt_installed"].as_str()), (Some("wfhost-e2e-absent-a wfhost-e2e-absent-b"), Some("wfhost-e2e-absent-a wfhost-e2e-absent-b")), "{f:#}");

    // A failing install halts P40 with 300 and apt-get's reason; nothing after it runs.
    std::fs::remove_file(&calls).unwrap();
    s.set("APT_PACKAGES", "coreutils wfhost-e2e-broken");
    let failed = s.run(&["flow", "--provision", "skip"]);
    assert_eq!(failed.status, 30, "{}", failed.explain());
    assert_eq!(last_status(&failed), ("P40".to_string(), "fail".to_string(), codes::BOOTSTRAP_FAILED.get()), "{}", failed.explain());
    let reason = failed.verdict("P40")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("installing wfhost-e2e-broken with apt-get failed (exit 100): E: Unable to locate package"), "{reason}");
    assert!(!failed.statuses().iter().any(|(p, _, _)| p == "P50"), "{}", failed.explain());
    assert_verifies(&s, &[&refused, &run, &failed]);
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    crate::ssh::files(dir)
        .into_iter()
        .filter(|f| std::fs::read(f).map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())).unwrap_or(false))
        .collect()
}

#[test]
fn a_run_secret_reaches_the_runs_environment_and_nothing_else() {
    let canary = format!("wfhost-canary-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.unset("SWEEP_RUN_TEMPLATE");
    s.set("WF_RUN_SECRETS", "WANDB_API_KEY");
    s.env.push(("WANDB_API_KEY".into(), canary.clone()));
    // The run proves it saw the value (its sha256, never the value) and the file's mode.
    s.manifest(
        "run_id,command\n\
         seen,printf %s \"$WANDB_API_KEY\" | sha256sum | cut -c1-64 > $WF_RUN_DIR/seen; stat -c %a $WF_RUN_DIR/../../_control/run-secrets.env > $WF_RUN_DIR/mode\n",
    );
    let run = s.run(&["flow", "--provision", "skip", "--wait", "true", "--fetch", "all"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let out = s.root().join("remote/outputs");
    let hashed = std::process::Command::new("sh").args(["-c", "printf %s \"$1\" | sha256sum | cut -c1-64", "sh", &canary]).output().unwrap();
    let expected = String::from_utf8_lossy(&hashed.stdout).trim().to_string();
    assert_eq!(expected.len(), 64);
    assert_eq!(std::fs::read_to_string(out.join("runs/seen/seen")).unwrap().trim(), expected, "the run saw the secret");
    assert_eq!(std::fs::read_to_string(out.join("runs/seen/mode")).unwrap().trim(), "600");
    assert!(!out.join("_control/run-secrets.env").exists(), "the secrets file outlived the sweep");
    // The value is nowhere else: not in the output, the evidence, the fetched files, the
    // remote tree (commands, runner log, config copy) or the host's own state.
    assert!(!run.stdout.contains(&canary) && !run.stderr.contains(&canary), "the secret leaked to wfhost's output");
    for dir in [s.root().join("artifacts"), out.clone(), s.root().join(".wfhost"), s.root().join("remote")] {
        let leaked = files_containing(&dir, &canary);
        assert!(leaked.is_empty(), "the secret leaked into {leaked:?}");
    }
    // Custody: the delivery is recorded by handle.
    let events = std::fs::read_to_string(run.flow_dir().join("events.jsonl")).unwrap();
    let issued: Vec<serde_json::Value> = events.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event_type"] == "secret.issued" && e["payload"]["handle"] == "WANDB_API_KEY").collect();
    assert_eq!(issued.len(), 1, "{events}");
    assert_eq!(issued[0]["payload"]["requester"], "host:P60");
    assert_eq!(facts(&run, "P90")["run_secrets"].as_str().map(|v| v == "removed" || v == "none"), Some(true));
    assert_verifies(&s, &[&run]);
}

#[test]
fn a_run_secret_unset_on_the_host_or_owned_by_wfhost_halts_p00() {
    let mut s = Sandbox::new();
    s.set("WF_RUN_SECRETS", "WFHOST_E2E_UNSET_SECRET");
    let unset = s.run(&["flow", "--yes"]);
    assert_eq!(unset.statuses(), vec![("P00".to_string(), "fail".to_string(), codes::REQUIRED_VAR_MISSING.get())], "{}", unset.explain());
    let reason = unset.verdict("P00")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("WF_RUN_SECRETS names WFHOST_E2E_UNSET_SECRET, unset in wfhost's environment"), "{reason}");
    assert!(s.pods().is_empty());
    for owned in ["PATH", "WF_RUN_ID", "LD_PRELOAD"] {
        s.set("WF_RUN_SECRETS", owned);
        let run = s.run(&["flow", "--yes"]);
        assert_eq!(run.statuses(), vec![("P00".to_string(), "fail".to_string(), codes::CONFIG_INVALID.get())], "{owned}: {}", run.explain());
    }
    // Not a variable name at all: the config check refuses it.
    s.set("WF_RUN_SECRETS", "wandb-key");
    let bad = s.run(&["flow", "--yes"]);
    let reason = bad.verdict("P00")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("environment variable names"), "{reason}");
    // A flow that starts no run does not need the value.
    s.set("WF_RUN_SECRETS", "WFHOST_E2E_UNSET_SECRET");
    let skip = s.run(&["flow", "--yes", "--sweep", "skip", "--teardown", "delete"]);
    assert_eq!(skip.status, 0, "{}", skip.explain());
}
