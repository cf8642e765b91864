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
        self.launch_with(maxp, false)
    }

    fn launch_with(&self, maxp: u32, retry_lost: bool) -> String {
        let t0 = Instant::now();
        let r = run(&Proc::sh(
            &launch_command(&self.out, &self.repo, maxp, "tok-1", retry_lost),
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
    assert_eq!(lines[1], format!("tok-2 deferred {pid} -"));
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

/// Wait until `path` exists.
fn wait_file(path: &str) {
    let t0 = Instant::now();
    while !Path::new(path).exists() {
        assert!(t0.elapsed() < NO_HANG, "{path} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill9(target: &str) {
    let st = std::process::Command::new("kill")
        .args(["-9", "--", target])
        .status()
        .unwrap();
    assert!(st.success(), "kill -9 {target}");
}

#[test]
fn a_run_whose_wrapper_dies_while_its_command_goes_on_is_running_then_lost() {
    // The command waits for a gate file; the wrapper (`runner.sh one`) is killed under it.
    let s = Sweep::new(&[spec(
        "orphan",
        "while [ ! -f \"$WF_RUN_DIR/gate\" ]; do sleep 0.05; done",
    )]);
    s.launch(1);
    wait_file(&s.wf("orphan", "pid"));
    let wrapper = s.read(&s.wf("orphan", "pid")).trim().to_string();
    assert_eq!(
        s.read(&s.wf("orphan", "pgid")).trim(),
        wrapper,
        "the wrapper leads its own process group"
    );
    assert!(Path::new(&s.wf("orphan", "boot_id")).is_file());
    kill9(&wrapper);
    // The runner sees its wrapper gone and leaves; the command itself still runs.
    let st = s.wait_until("the runner to leave", |st| !st.runner_alive);
    assert_eq!(Sweep::state_of(&st, "orphan").state, "running", "{st:#?}");
    assert!(!st.complete());
    std::fs::write(format!("{}/runs/orphan/gate", s.out), "").unwrap();
    let done = s.wait_complete();
    assert_eq!(Sweep::state_of(&done, "orphan").state, "lost", "{done:#?}");
}

#[test]
fn a_run_recorded_in_another_boot_is_lost_whatever_holds_its_pid() {
    let s = Sweep::new(&[spec("rebooted", "exec sleep 30")]);
    s.launch(1);
    wait_file(&s.wf("rebooted", "pid"));
    s.wait_until("the run to be running", |st| st.running == 1);
    // As after a restart of the machine: the recorded boot is not this one, the pid may be
    // anybody's now (here it is still our sleeping run).
    std::fs::write(s.wf("rebooted", "boot_id"), "another-boot\n").unwrap();
    let st = s.status();
    assert_eq!(Sweep::state_of(&st, "rebooted").state, "lost", "{st:#?}");
    let pgid = s.read(&s.wf("rebooted", "pgid")).trim().to_string();
    kill9(&format!("-{pgid}"));
}

#[test]
fn lost_runs_run_again_only_when_asked_and_their_first_attempt_is_kept() {
    // The first attempt of `victim` hangs and is killed with its whole process group; any
    // later attempt finishes.
    let victim = "echo attempt >> \"$WF_RUN_DIR/count\"; echo first-out; \
                  if [ ! -f \"$WF_RUN_DIR/once\" ]; then : > \"$WF_RUN_DIR/once\"; exec sleep 30; fi";
    let s = Sweep::new(&[
        spec("victim", victim),
        spec("fine", "echo x >> \"$WF_RUN_DIR/count\""),
    ]);
    s.launch(1);
    wait_file(&format!("{}/runs/victim/once", s.out));
    let pgid = s.read(&s.wf("victim", "pgid")).trim().to_string();
    kill9(&format!("-{pgid}"));
    let done = s.wait_complete();
    assert_eq!((done.lost, done.ok), (1, 1), "{done:#?}");

    // Without retry-lost a new runner leaves the lost run alone.
    assert!(s.launch(1).starts_with("runner=started pid="));
    let done = s.wait_complete();
    assert_eq!(Sweep::state_of(&done, "victim").state, "lost");
    assert_eq!(s.read(&format!("{}/runs/victim/count", s.out)), "attempt\n");

    // With it, the runner hands the lost run back to the queue before it checks in.
    let launched = s.launch_with(1, true);
    let parsed = Launched::parse(&launched).unwrap_or_else(|| panic!("{launched}"));
    assert_eq!(parsed.runner, "started");
    assert_eq!(
        parsed.requeued,
        Some(vec!["victim".to_string()]),
        "{launched}"
    );
    let done = s.wait_complete();
    assert_eq!((done.ok, done.lost, done.failed), (2, 0, 0), "{done:#?}");
    assert_eq!(
        s.read(&format!("{}/runs/victim/count", s.out)),
        "attempt\nattempt\n",
        "victim ran exactly twice: its first attempt and its restart"
    );
    assert_eq!(
        s.read(&format!("{}/runs/fine/count", s.out)),
        "x\n",
        "fine ran once"
    );
    let first = format!("{}/runs/victim/_wf/attempts/1", s.out);
    assert_eq!(s.read(&format!("{first}/stdout.log")), "first-out\n");
    assert_eq!(s.read(&format!("{first}/pid")).trim(), pgid);
    for f in ["started_at", "requeued_at", "boot_id", "pgid"] {
        assert!(
            Path::new(&format!("{first}/{f}")).is_file(),
            "attempts/1/{f}"
        );
    }
    assert_eq!(s.read(&s.wf("victim", "exit_code")), "0\n");
    assert!(s.read(&format!("{}/_sweep/runner.log", s.out)).contains(
        "requeued lost run victim (its attempt 1 is kept in runs/victim/_wf/attempts/1)"
    ));

    // Nothing is lost any more: asking again requeues nothing.
    let again = Launched::parse(&s.launch_with(1, true)).unwrap();
    assert_eq!(again.requeued, Some(vec![]));
    s.wait_complete();
    assert_eq!(
        s.read(&format!("{}/runs/victim/count", s.out)),
        "attempt\nattempt\n"
    );
}

#[test]
fn a_live_runner_is_never_replaced_to_retry_lost_runs() {
    let s = Sweep::new(&[spec(
        "slow",
        "while [ ! -f \"$WF_RUN_DIR/gate\" ]; do sleep 0.05; done",
    )]);
    let first = Launched::parse(&s.launch(1)).unwrap();
    let second = s.launch_with(1, true);
    assert_eq!(
        second,
        format!("runner=already-running pid={} requeued=-", first.pid)
    );
    std::fs::write(format!("{}/runs/slow/gate", s.out), "").unwrap();
    assert_eq!(s.wait_complete().ok, 1);
}

#[test]
fn the_runner_lock_keeps_a_second_runner_out_even_without_a_pid_file() {
    let s = Sweep::new(&[spec(
        "slow",
        "while [ ! -f \"$WF_RUN_DIR/gate\" ]; do sleep 0.05; done",
    )]);
    assert!(s.launch(1).starts_with("runner=started"));
    // The pid file is gone (as between a runner's hand-over and its last look): the lock
    // still tells a new runner that one is working.
    std::fs::remove_file(format!("{}/_sweep/runner.pid", s.out)).unwrap();
    let direct = sh(
        "sh \"$1/_sweep/runner.sh\" run \"$1\" \"$2\" 1 tok-3; cat \"$1/_sweep/runner.started\"",
        &[&s.out, &s.repo],
    );
    assert!(
        direct.stdout.contains("not starting a second one")
            && direct.stdout.contains("tok-3 deferred"),
        "{}",
        direct.stdout
    );
    std::fs::write(format!("{}/runs/slow/gate", s.out), "").unwrap();
    let done = s.wait_complete();
    assert_eq!(done.ok, 1);
}

#[test]
fn a_new_runner_counts_the_live_runs_of_a_dead_one_against_max_parallel() {
    let gate = "while [ ! -f \"$WF_RUN_DIR/gate\" ]; do sleep 0.05; done";
    let s = Sweep::new(&[spec("hold", gate), spec("next", "true")]);
    let first = Launched::parse(&s.launch(1)).unwrap();
    wait_file(&s.wf("hold", "pid"));
    kill9(&first.pid);
    s.wait_until("the runner to die", |st| !st.runner_alive);
    // A resume starts a new runner: `hold` still runs, so with one slot `next` must wait.
    let second = Launched::parse(&s.launch(1)).unwrap();
    assert_ne!(second.pid, first.pid);
    std::thread::sleep(Duration::from_millis(800));
    let st = s.status();
    assert_eq!(Sweep::state_of(&st, "hold").state, "running", "{st:#?}");
    assert_eq!(Sweep::state_of(&st, "next").state, "pending", "{st:#?}");
    assert!(s
        .read(&format!("{}/_sweep/runner.log", s.out))
        .contains("runs of an earlier runner still take slots"));
    std::fs::write(format!("{}/runs/hold/gate", s.out), "").unwrap();
    let done = s.wait_complete();
    assert_eq!((done.ok, done.lost), (2, 0), "{done:#?}");
}

#[test]
fn launch_answers_are_parsed_strictly() {
    let p = |s: &str| Launched::parse(s);
    assert_eq!(
        p("noise\nrunner=started pid=42\n"),
        Some(Launched {
            runner: "started".into(),
            pid: "42".into(),
            requeued: Some(vec![])
        })
    );
    assert_eq!(
        p("runner=already-running pid=7 requeued=a,b")
            .unwrap()
            .requeued,
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(
        p("runner=started pid=7 requeued=-").unwrap().requeued,
        Some(vec![])
    );
    assert_eq!(
        p("runner=started pid=7 requeued=noflock").unwrap().requeued,
        None
    );
    for bad in [
        "",
        "runner=started",
        "runner=maybe pid=1",
        "runner=started pid=",
        "runner=started pid=x1",
        "runner=started pid=1 extra",
        "runner=started pid=1 requeued=a tail",
    ] {
        assert_eq!(p(bad), None, "{bad:?}");
    }
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
        for f in [
            "\nvalid_id() {",
            "\nalive() {",
            "\nrun_alive() {",
            "\nBOOT=",
        ] {
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
