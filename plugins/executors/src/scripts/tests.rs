//! The sweep scripts run for real with `sh`: a temp OUT tree, the runner launched detached,
//! status polled until the sweep completes.

use super::*;
use crate::status::{self, SweepStatus};
use std::path::Path;
use std::time::{Duration, Instant};
use wfhost_pack_sdk::testing::{run, RunSpec as Proc, TempDir};

/// Generous bound that only proves "no hang".
const NO_HANG: Duration = Duration::from_secs(60);

struct Sweep {
    _tmp: TempDir,
    out: String,
    repo: String,
}

fn sh(script: &str, args: &[&str]) -> wfhost_pack_sdk::testing::RunOutput {
    run(&Proc::sh(script, args))
}

fn spec(id: &str, cmd: &str) -> RunSpec {
    RunSpec {
        run_id: id.into(),
        command: cmd.into(),
    }
}

impl Sweep {
    fn new(runs: &[RunSpec]) -> Sweep {
        let tmp = TempDir::new("wfhost-sweep").unwrap();
        let out = tmp.join("root/mnt/outputs");
        let repo = tmp.join("root/mnt/repo");
        for d in ["_sweep", "runs", "_control", "_manifests"] {
            std::fs::create_dir_all(format!("{out}/{d}")).unwrap();
        }
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(format!("{out}/_sweep/runner.sh"), RUNNER_SH).unwrap();
        std::fs::write(format!("{out}/_sweep/status.sh"), STATUS_SH).unwrap();
        let s = Sweep {
            _tmp: tmp,
            out,
            repo,
        };
        s.prepare(runs);
        s
    }

    fn prepare(&self, runs: &[RunSpec]) -> String {
        let script = format!("{}/_sweep/prepare.sh", self.out);
        std::fs::write(&script, prepare_script(runs, &"ab".repeat(32), "flow-1")).unwrap();
        let r = sh("sh \"$1\" \"$2\"", &[&script, &self.out]);
        assert_eq!(r.exit_code, Some(0), "prepare failed: {}", r.stderr);
        r.stdout.trim().to_string()
    }

    fn launch(&self, maxp: u32) -> String {
        let t0 = Instant::now();
        let r = run(&Proc::sh(
            &launch_command(&self.out, &self.repo, maxp, "tok-1"),
            &[],
        ));
        assert_eq!(
            r.exit_code,
            Some(0),
            "launch failed: {} {}",
            r.stdout,
            r.stderr
        );
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "launch must return at once"
        );
        r.stdout.trim().to_string()
    }

    fn status(&self) -> SweepStatus {
        let r = run(&Proc::sh(&status_command(&self.out), &[]));
        assert_eq!(r.exit_code, Some(0), "status failed: {}", r.stderr);
        status::parse(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
    }

    fn wait_until(&self, what: &str, pred: impl Fn(&SweepStatus) -> bool) -> SweepStatus {
        let t0 = Instant::now();
        loop {
            let s = self.status();
            if pred(&s) {
                return s;
            }
            assert!(t0.elapsed() < NO_HANG, "{what} did not happen: {s:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_complete(&self) -> SweepStatus {
        self.wait_until("completion", SweepStatus::complete)
    }

    fn wf(&self, id: &str, file: &str) -> String {
        format!("{}/runs/{id}/_wf/{file}", self.out)
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn state_of<'a>(s: &'a SweepStatus, id: &str) -> &'a status::RunState {
        s.runs.iter().find(|r| r.run_id == id).unwrap()
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        // Stop a runner this test started, if it is still alive (checked by its command line).
        if let Ok(pid) = std::fs::read_to_string(format!("{}/_sweep/runner.pid", self.out)) {
            let pid = pid.trim();
            if let Ok(cmdline) = std::fs::read_to_string(format!("/proc/{pid}/cmdline")) {
                if cmdline.contains(&self.out) {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", pid])
                        .status();
                }
            }
        }
    }
}

#[test]
fn runner_runs_every_run_and_status_reports_each_state() {
    let s = Sweep::new(&[
        spec("ok", "echo out; echo err >&2"),
        spec("fail", "exit 3"),
        spec("badsummary", "printf '{\"loss\": 1, \"ok\": false}' > \"$WF_RUN_DIR/summary.json\""),
        spec("goodsummary", "printf '{\"ok\": true}' > \"$WF_RUN_DIR/summary.json\""),
        spec("sleeper", "sleep 1"),
        spec("env", "printf '%s|%s|%s' \"$WF_RUN_ID\" \"$WF_RUN_DIR\" \"$(pwd)\" > \"$WF_RUN_DIR/env.txt\"; cat"),
    ]);
    let before = s.status();
    assert_eq!(
        (before.total, before.pending, before.runner_alive),
        (6, 6, false)
    );

    let launched = s.launch(2);
    assert!(launched.starts_with("runner=started pid="), "{launched}");
    s.wait_until("a run to be running", |st| st.running > 0 || st.done() > 0);

    let done = s.wait_complete();
    assert_eq!(
        (
            done.total,
            done.ok,
            done.failed,
            done.running,
            done.pending,
            done.lost
        ),
        (6, 4, 2, 0, 0, 0),
        "{done:#?}"
    );
    assert_eq!(Sweep::state_of(&done, "fail").state, "failed");
    assert_eq!(Sweep::state_of(&done, "fail").exit_code, Some(3));
    assert_eq!(Sweep::state_of(&done, "badsummary").state, "failed");
    assert_eq!(Sweep::state_of(&done, "badsummary").exit_code, Some(0));
    assert_eq!(Sweep::state_of(&done, "goodsummary").state, "ok");
    assert_eq!(Sweep::state_of(&done, "sleeper").state, "ok");

    assert_eq!(s.read(&s.wf("ok", "stdout.log")), "out\n");
    assert_eq!(s.read(&s.wf("ok", "stderr.log")), "err\n");
    assert_eq!(s.read(&s.wf("fail", "exit_code")), "3\n");
    for f in ["pid", "started_at", "ended_at"] {
        assert!(Path::new(&s.wf("sleeper", f)).is_file(), "{f}");
    }
    assert!(s.read(&s.wf("sleeper", "started_at")).trim().ends_with('Z'));
    let env = s.read(&format!("{}/runs/env/env.txt", s.out));
    assert_eq!(
        env,
        format!("env|{}/runs/env|{}", s.out, s.repo),
        "env, run dir and cwd of a run"
    );
    assert!(
        !Path::new(&format!("{}/_sweep/runner.pid", s.out)).exists(),
        "a finished runner hands over its pid file"
    );
    assert!(s
        .read(&format!("{}/_sweep/runner.log", s.out))
        .contains("every run is claimed and finished"));
}

#[test]
fn max_parallel_is_respected() {
    // Each run registers itself in OUT/active, records how many runs it sees, then leaves.
    let cmd = "a=\"$WF_RUN_DIR/../../active\"; mkdir -p \"$a\"; : > \"$a/$WF_RUN_ID\"; \
               ls \"$a\" | wc -l > \"$WF_RUN_DIR/seen\"; sleep 1; \
               ls \"$a\" | wc -l >> \"$WF_RUN_DIR/seen\"; rm -f \"$a/$WF_RUN_ID\"";
    for maxp in [1u32, 3] {
        let n = 2 * maxp as usize;
        let runs: Vec<RunSpec> = (0..n).map(|i| spec(&format!("c{i}"), cmd)).collect();
        let s = Sweep::new(&runs);
        s.launch(maxp);
        let done = s.wait_complete();
        assert_eq!(done.ok, n as u64, "{done:#?}");
        let max_seen = (0..n)
            .flat_map(|i| {
                s.read(&format!("{}/runs/c{i}/seen", s.out))
                    .lines()
                    .map(|l| l.trim().parse::<u32>().unwrap())
                    .collect::<Vec<_>>()
            })
            .max()
            .unwrap();
        assert!(max_seen <= maxp, "max parallel {maxp} exceeded: {max_seen}");
        assert_eq!(max_seen, maxp, "the runner should fill its {maxp} slots");
    }
}

#[test]
fn a_second_launch_does_not_start_a_second_runner() {
    let runs: Vec<RunSpec> = (0..3)
        .map(|i| spec(&format!("r{i}"), "echo x >> \"$WF_RUN_DIR/count\"; sleep 1"))
        .collect();
    let s = Sweep::new(&runs);
    let first = s.launch(1);
    let pid = first
        .strip_prefix("runner=started pid=")
        .unwrap()
        .to_string();
    let second = s.launch(1);
    assert_eq!(second, format!("runner=already-running pid={pid}"));
    // Starting the loop directly while one is alive defers too.
    let direct = sh(
        "sh \"$1/_sweep/runner.sh\" run \"$1\" \"$2\" 1 tok-2; cat \"$1/_sweep/runner.started\"",
        &[&s.out, &s.repo],
    );
    let lines: Vec<&str> = direct.stdout.lines().collect();
    assert!(
        lines[0].ends_with(&format!("runner {pid} is alive; not starting a second one")),
        "{lines:?}"
    );
    assert_eq!(lines[1], format!("tok-2 deferred {pid}"));
    let done = s.wait_complete();
    assert_eq!(done.ok, 3);
    for i in 0..3 {
        assert_eq!(
            s.read(&format!("{}/runs/r{i}/count", s.out)),
            "x\n",
            "run r{i} ran once"
        );
    }
}

#[test]
fn a_claimed_run_is_never_run_twice_after_a_relaunch() {
    let count = "echo x >> \"$WF_RUN_DIR/count\"";
    let s = Sweep::new(&[spec("r1", count), spec("r2", count)]);
    s.launch(2);
    s.wait_complete();
    // Relaunch on a finished sweep: the runner starts, finds nothing, leaves.
    assert!(s.launch(2).starts_with("runner=started"));
    s.wait_complete();
    // A new manifest revision changes r1's command and adds r3: only r3 runs.
    let out = s.prepare(&[
        spec("r1", "echo changed >> \"$WF_RUN_DIR/count\""),
        spec("r2", count),
        spec("r3", count),
    ]);
    assert_eq!(out, "pending=1 claimed=2");
    assert_eq!(
        s.read(&s.wf("r1", "cmd.sh")),
        format!("{count}\n"),
        "a claimed run's cmd.sh is never rewritten"
    );
    s.launch(2);
    let done = s.wait_complete();
    assert_eq!((done.total, done.ok), (3, 3));
    for id in ["r1", "r2", "r3"] {
        assert_eq!(s.read(&format!("{}/runs/{id}/count", s.out)), "x\n", "{id}");
    }
}

#[test]
fn a_killed_run_is_reported_lost() {
    let s = Sweep::new(&[
        spec("victim", "echo $$ > \"$WF_RUN_DIR/cmdpid\"; exec sleep 30"),
        spec("after", "true"),
    ]);
    s.launch(1);
    s.wait_until("the victim to run", |st| {
        Sweep::state_of(st, "victim").state == "running"
    });
    let t0 = Instant::now();
    while !Path::new(&format!("{}/runs/victim/cmdpid", s.out)).exists() {
        assert!(t0.elapsed() < NO_HANG);
        std::thread::sleep(Duration::from_millis(20));
    }
    let wrapper = s.read(&s.wf("victim", "pid")).trim().to_string();
    let cmd = s
        .read(&format!("{}/runs/victim/cmdpid", s.out))
        .trim()
        .to_string();
    assert!(std::process::Command::new("kill")
        .args(["-9", &wrapper])
        .status()
        .unwrap()
        .success());
    assert!(std::process::Command::new("kill")
        .args(["-9", &cmd])
        .status()
        .unwrap()
        .success());
    let done = s.wait_complete();
    assert_eq!(Sweep::state_of(&done, "victim").state, "lost", "{done:#?}");
    assert_eq!(Sweep::state_of(&done, "victim").exit_code, None);
    assert_eq!(
        Sweep::state_of(&done, "after").state,
        "ok",
        "the runner goes on after a lost run"
    );
    assert_eq!((done.lost, done.ok, done.failed), (1, 1, 0));
}

#[test]
fn a_run_without_checkout_fails_with_a_clear_message() {
    let s = Sweep::new(&[spec("r1", "true")]);
    std::fs::remove_dir(&s.repo).unwrap();
    s.launch(1);
    let done = s.wait_complete();
    assert_eq!(Sweep::state_of(&done, "r1").exit_code, Some(127));
    assert!(s
        .read(&s.wf("r1", "stderr.log"))
        .contains("run the checkout phase (P50) first"));
}

#[test]
fn status_without_a_sweep_exits_3() {
    let tmp = TempDir::new("wfhost-nosweep").unwrap();
    let r = sh(&status_command(&tmp.path()), &[]);
    assert_eq!(r.exit_code, Some(NO_SWEEP_RC));
    assert!(r.stdout.is_empty());
    std::fs::create_dir_all(tmp.join("_sweep")).unwrap();
    std::fs::write(tmp.join("_sweep/status.sh"), STATUS_SH).unwrap();
    let r = sh(&status_command(&tmp.path()), &[]);
    assert_eq!(r.exit_code, Some(NO_SWEEP_RC));
    assert!(r.stderr.contains("runs.tsv does not exist"));
    let r = sh(&inspect_command(&tmp.path()), &[]);
    assert_eq!(r.stdout.trim(), "none");
}

#[test]
fn inspect_reports_the_manifest_sha_and_status() {
    let s = Sweep::new(&[spec("r1", "true")]);
    let r = sh(&inspect_command(&s.out), &[]);
    let (first, rest) = r.stdout.split_once('\n').unwrap();
    assert_eq!(first, format!("sha={}", "ab".repeat(32)));
    assert_eq!(status::parse(rest).unwrap().pending, 1);
}

#[test]
fn prepare_writes_hostile_commands_verbatim_and_a_clean_tsv() {
    let cmd =
        "python train.py --name 'it'\"'\"'s' --x \"$(echo hi)\" `id` ; echo $HOME\nsecond line\\";
    let s = Sweep::new(&[spec("r-1.a", cmd), spec("r_2", "true")]);
    assert_eq!(s.read(&s.wf("r-1.a", "cmd.sh")), format!("{cmd}\n"));
    assert_eq!(
        s.read(&format!("{}/_sweep/runs.tsv", s.out)),
        "r-1.a\truns/r-1.a/_wf/cmd.sh\nr_2\truns/r_2/_wf/cmd.sh\n"
    );
    assert_eq!(
        s.read(&format!("{}/_sweep/manifest.sha256", s.out)),
        format!("{}\n", "ab".repeat(32))
    );
    let names: Vec<_> = std::fs::read_dir(format!("{}/_sweep", s.out))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(names.is_empty(), "temp files left: {names:?}");
}

#[test]
fn status_ignores_unsafe_ids_in_a_tampered_tsv() {
    let s = Sweep::new(&[spec("r1", "true")]);
    std::fs::write(
        format!("{}/_sweep/runs.tsv", s.out),
        "r1\tx\n../evil\tx\nbad\"id\tx\n\nlast",
    )
    .unwrap();
    let st = s.status();
    let ids: Vec<&str> = st.runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, vec!["r1", "last"]);
}

#[test]
fn scripts_share_one_copy_of_the_common_functions() {
    for (name, text) in [("runner.sh", RUNNER_SH), ("status.sh", STATUS_SH)] {
        assert!(
            text.starts_with(COMMON_SH),
            "{name} does not start with common.sh"
        );
        assert!(text.starts_with("#!/bin/sh\n"), "{name} lost its shebang");
        for f in ["valid_id() {", "alive() {"] {
            assert_eq!(
                text.matches(f).count(),
                1,
                "{name} defines {f} more than once"
            );
        }
    }
}

#[test]
fn scripts_are_posix_sh() {
    for (name, text) in [("runner.sh", RUNNER_SH), ("status.sh", STATUS_SH)] {
        let r = sh("printf '%s' \"$1\" | sh -n", &[text]);
        assert_eq!(r.exit_code, Some(0), "{name}: {}", r.stderr);
        assert!(!text.contains("[[ "), "{name} uses [[");
        assert!(!text.contains("local "), "{name} uses local");
        assert!(
            !text.contains("$BASHPID") && !text.contains("wait -n"),
            "{name} uses bash features"
        );
    }
}
