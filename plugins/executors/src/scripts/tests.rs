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
        Sweep::at(tmp, out, repo, runs)
    }

    /// A sweep whose OUT is `out` (the scripts installed there, `runs` prepared); `tmp` lives
    /// as long as the sweep.
    fn at(tmp: TempDir, out: String, repo: String, runs: &[RunSpec]) -> Sweep {
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
        std::fs::write(&script, prepare_script(runs, &"ab".repeat(32), "flow-1", false)).unwrap();
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
            &launch_command(&self.out, &self.repo, maxp, "tok-1", Requeue { lost: retry_lost, finished: false }),
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
    assert_eq!(
        done.ok,
        1,
        "{done:#?} {}",
        s.read(&format!("{}/_sweep/runner.log", s.out))
    );
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

// ============================================================ status at scale, two ways

/// A program found on this machine (`command -v`), or None.
fn which(program: &str) -> Option<String> {
    let r = sh("command -v \"$1\"", &[program]);
    (r.exit_code == Some(0)).then(|| r.stdout.trim().to_string())
}

/// A directory holding one `awk`: a link to `program` (busybox answers to the name it is
/// called by).
fn awk_dir(tmp: &TempDir, program: &str) -> String {
    let dir = tmp.join(&format!("awk-{}", program.replace('/', "_")));
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(program, format!("{dir}/awk")).unwrap();
    dir
}

/// Run `status.sh OUT` with `shell`, `PATH` led by `path_head` and the extra `env`.
fn status_with(s: &Sweep, shell: &str, path_head: Option<&str>, env: &[(&str, &str)]) -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut spec = Proc {
        program: shell.into(),
        args: vec![format!("{}/_sweep/status.sh", s.out), s.out.clone()],
        ..Proc::sh("", &[])
    };
    if let Some(head) = path_head {
        spec.env.push(("PATH".into(), format!("{head}:{path}")));
    }
    for (k, v) in env {
        spec.env.push((k.to_string(), v.to_string()));
    }
    let r = run(&spec);
    assert_eq!(r.exit_code, Some(0), "{shell} status.sh: {}", r.stderr);
    r.stdout
}

/// Lay out by hand one run in every state status.sh tells apart (no runner alive); returns
/// the expected (state, exit code, failed write) per run and a live process that must be
/// killed when done.
fn every_state(
    s: &Sweep,
) -> (
    Vec<(
        &'static str,
        &'static str,
        Option<i64>,
        Option<&'static str>,
    )>,
    std::process::Child,
) {
    let live = std::process::Command::new("sh")
        .args(["-c", "sleep 60; :", "runner.sh"])
        .spawn()
        .unwrap();
    let runs = &s.out;
    let claim = |id: &str| std::fs::create_dir_all(format!("{runs}/runs/{id}/_wf/claim")).unwrap();
    let put = |id: &str, file: &str, text: &str| {
        std::fs::write(format!("{runs}/runs/{id}/{file}"), text).unwrap()
    };
    let expected = vec![
        ("ok0", "ok", Some(0), None),
        ("lead", "failed", Some(7), None),
        ("zeros", "ok", Some(0), None),
        ("badsum", "failed", Some(0), None),
        ("goodsum", "ok", Some(0), None),
        ("junk", "failed", None, None),
        ("crlf", "failed", None, None),
        ("empty", "failed", None, None),
        ("pend", "pending", None, None),
        ("nodir", "pending", None, None),
        (".dot", "ok", Some(0), None),
        ("..dd", "failed", Some(3), None),
        ("dead", "lost", None, None),
        ("nopid", "lost", None, None),
        ("live", "running", None, None),
        ("full", "lost", None, Some("exit_code")),
        ("fullpid", "lost", None, Some("pid")),
        ("lead2", "pending", None, None),
        ("tail", "ok", Some(0), None),
    ];
    for (id, code) in [
        ("ok0", "0\n"),
        ("lead", "007\n"),
        ("zeros", "000\n"),
        ("badsum", "0\n"),
        ("goodsum", "0\n"),
        ("junk", "x1\n"),
        ("crlf", "0\r\n"),
        ("empty", ""),
        (".dot", "0\n"),
        ("..dd", "3\n"),
        ("tail", "0\n"),
    ] {
        claim(id);
        put(id, "_wf/exit_code", code);
    }
    put(
        "badsum",
        "summary.json",
        "{\"loss\": 1,\n \"ok\" :\tfalse}\n",
    );
    put("goodsum", "summary.json", "{\"ok\": true}");
    std::fs::create_dir_all(format!("{runs}/runs/pend/_wf")).unwrap();
    for id in ["dead", "nopid", "live", "full", "fullpid"] {
        claim(id);
    }
    put("dead", "_wf/pid", "99999999\n");
    put("live", "_wf/pid", &format!("{}\n", live.id()));
    put("full", "_wf/disk_full.exit_code", "");
    put("fullpid", "_wf/pid", &format!("{}\n", live.id()));
    put("fullpid", "_wf/disk_full.pid", "");
    let mut tsv = String::new();
    for (id, ..) in &expected {
        match *id {
            "lead2" => tsv.push_str("\tlead2\tx\n"),
            "tail" => tsv.push_str("../evil\tx\nbad id\tx\n\ntail"),
            id => tsv.push_str(&format!("{id}\truns/{id}/_wf/cmd.sh\n")),
        }
    }
    std::fs::write(format!("{runs}/_sweep/runs.tsv"), tsv).unwrap();
    (expected, live)
}

#[track_caller]
fn assert_states(text: &str, expected: &[(&str, &str, Option<i64>, Option<&str>)]) -> SweepStatus {
    let st = status::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let got: Vec<_> = st
        .runs
        .iter()
        .map(|r| {
            (
                r.run_id.as_str(),
                r.state.as_str(),
                r.exit_code,
                r.failed_write.as_deref(),
            )
        })
        .collect();
    assert_eq!(got, expected, "{text}");
    assert!(st
        .runs
        .iter()
        .all(|r| r.reason.is_some() == r.failed_write.is_some()));
    st
}

#[test]
fn status_answers_the_same_with_every_awk_and_shell_and_without_awk() {
    let s = Sweep::new(&[spec("placeholder", "true")]);
    let (expected, mut live) = every_state(&s);
    let bins = TempDir::new("wfhost-awks").unwrap();
    // The shell walk (no awk) is the reference; it lists the runs first.
    let reference = status_with(&s, "sh", None, &[("WFHOST_STATUS_NO_AWK", "1")]);
    assert!(
        reference.starts_with("{\"runs\":[{\"run_id\":\"ok0\""),
        "{reference}"
    );
    let reference = assert_states(&reference, &expected);
    assert_eq!(
        (
            reference.total,
            reference.ok,
            reference.failed,
            reference.running,
            reference.pending,
            reference.lost
        ),
        (19, 5, 6, 1, 3, 4)
    );
    let mut awks = vec![];
    for program in ["mawk", "gawk", "original-awk", "busybox"] {
        if let Some(path) = which(program) {
            awks.push((program, awk_dir(&bins, &path)));
        }
    }
    assert!(
        !awks.is_empty(),
        "no awk on this machine: the fast path is untested"
    );
    let mut shells = vec!["sh".to_string()];
    shells.extend(["dash", "bash"].iter().filter_map(|s| which(s)));
    let mut first: Option<String> = None;
    for shell in &shells {
        for (name, dir) in &awks {
            let text = status_with(&s, shell, Some(dir), &[]);
            // The awk pass answers in status.sh's historical layout, counts first.
            assert!(
                text.starts_with("{\"total\":19,\"ok\":5,\"failed\":6,\"running\":1,\"pending\":3,\"lost\":4,\"runner_alive\":false,\"runs\":[{\"run_id\":\"ok0\",\"state\":\"ok\",\"exit_code\":0},"),
                "{shell} with {name}: {text}"
            );
            assert!(text.contains(",{\"run_id\":\"full\",\"state\":\"lost\",\"exit_code\":null,\"reason\":\"disk_full\",\"failed_write\":\"exit_code\"},"), "{text}");
            assert_eq!(
                assert_states(&text, &expected),
                reference,
                "{shell} with {name}"
            );
            match &first {
                None => first = Some(text),
                Some(f) => assert_eq!(&text, f, "{shell} with {name}: byte for byte as the others"),
            }
        }
    }
    eprintln!(
        "status.sh checked with shells {shells:?} and awks {:?}",
        awks.iter().map(|a| a.0).collect::<Vec<_>>()
    );

    // Directories where files belong: mawk gives up on them (and the shell walk answers),
    // the others read nothing; either way the answer is the shell's.
    for file in ["goodsum/summary.json", "ok0/_wf/exit_code"] {
        std::fs::remove_file(format!("{}/runs/{file}", s.out)).unwrap();
        std::fs::create_dir_all(format!("{}/runs/{file}", s.out)).unwrap();
    }
    let mut odd = expected.clone();
    odd[0] = ("ok0", "lost", None, None);
    odd[4] = ("goodsum", "ok", Some(0), None);
    let reference = assert_states(
        &status_with(&s, "sh", None, &[("WFHOST_STATUS_NO_AWK", "1")]),
        &odd,
    );
    for (name, dir) in &awks {
        let text = status_with(&s, "sh", Some(dir), &[]);
        assert_eq!(assert_states(&text, &odd), reference, "{name}");
    }
    live.kill().unwrap();
    live.wait().unwrap();
}

#[test]
fn status_takes_the_shell_walk_where_awk_is_missing() {
    // A PATH whose awk always fails stands for a target where awk is broken; the shell walk
    // answers instead, with the same runs.
    let s = Sweep::new(&[spec("a", "true"), spec("b", "exit 4")]);
    s.launch(2);
    let done = s.wait_complete();
    let bins = TempDir::new("wfhost-noawk").unwrap();
    std::fs::write(bins.join("awk"), "#!/bin/sh\nexit 2\n").unwrap();
    std::fs::set_permissions(
        bins.join("awk"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let text = status_with(&s, "sh", Some(&bins.path()), &[]);
    assert!(text.starts_with("{\"runs\":["), "{text}");
    assert_eq!(status::parse(&text).unwrap(), done);
}

// ============================================================ prepare and the cursor

#[test]
fn prepare_stages_new_runs_in_batches_and_rewrites_only_changed_commands() {
    let runs: Vec<RunSpec> = (0..600)
        .map(|i| spec(&format!("p{i:03}"), &format!("echo {i}")))
        .collect();
    let s = Sweep::new(&runs);
    let tsv = s.read(&format!("{}/_sweep/runs.tsv", s.out));
    assert_eq!(tsv.lines().count(), 600);
    assert_eq!(tsv.lines().nth(599), Some("p599\truns/p599/_wf/cmd.sh"));
    for i in [0, 255, 256, 511, 599] {
        assert_eq!(
            s.read(&s.wf(&format!("p{i:03}"), "cmd.sh")),
            format!("echo {i}\n")
        );
    }
    let sweep_dir = || -> Vec<String> {
        std::fs::read_dir(format!("{}/_sweep", s.out))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("stage.") || n.contains(".tmp"))
            .collect()
    };
    assert!(sweep_dir().is_empty(), "{:?}", sweep_dir());

    // A resume: p005 is claimed (never touched), p007's command changed (replaced), p008's
    // did not (left as it is), three runs are new; a killed prepare's stage is cleared.
    use std::os::unix::fs::MetadataExt;
    std::fs::create_dir_all(s.wf("p005", "claim")).unwrap();
    std::fs::create_dir_all(format!("{}/_sweep/stage.99999999/x/_wf", s.out)).unwrap();
    let ino = |id: &str| std::fs::metadata(s.wf(id, "cmd.sh")).unwrap().ino();
    let (ino7, ino8) = (ino("p007"), ino("p008"));
    let mut next = runs.clone();
    next[5].command = "echo changed".into();
    next[7].command = "echo seven\nline two".into();
    for i in 600..603 {
        next.push(spec(&format!("p{i:03}"), "true"));
    }
    assert_eq!(s.prepare(&next), "pending=602 claimed=1");
    assert_eq!(s.read(&s.wf("p005", "cmd.sh")), "echo 5\n");
    assert_eq!(s.read(&s.wf("p007", "cmd.sh")), "echo seven\nline two\n");
    assert_ne!(
        ino("p007"),
        ino7,
        "a changed command is replaced by a rename"
    );
    assert_eq!(ino("p008"), ino8, "an unchanged command is left alone");
    assert_eq!(s.read(&s.wf("p602", "cmd.sh")), "true\n");
    assert_eq!(
        s.read(&format!("{}/_sweep/runs.tsv", s.out))
            .lines()
            .count(),
        603
    );
    assert!(sweep_dir().is_empty(), "{:?}", sweep_dir());
}

#[test]
fn a_working_runner_starts_runs_that_a_resume_adds_without_waiting_for_its_own() {
    let gate = "while [ ! -f \"$WF_RUN_DIR/gate\" ]; do sleep 0.05; done";
    let s = Sweep::new(&[spec("hold", gate), spec("first", "true")]);
    s.launch(2);
    s.wait_until("first to finish", |st| {
        Sweep::state_of(st, "first").state == "ok"
    });
    // The runner has read runs.tsv to its end; a resume replaces it with one more run.
    assert_eq!(
        s.prepare(&[
            spec("hold", gate),
            spec("first", "true"),
            spec("added", "true")
        ]),
        "pending=1 claimed=2"
    );
    let st = s.wait_until("the added run to finish", |st| {
        Sweep::state_of(st, "added").state == "ok"
    });
    assert_eq!(Sweep::state_of(&st, "hold").state, "running", "{st:#?}");
    assert!(st.runner_alive);
    std::fs::write(format!("{}/runs/hold/gate", s.out), "").unwrap();
    let done = s.wait_complete();
    assert_eq!((done.ok, done.total), (3, 3));
}

// ============================================================ a full disk

/// A tmpfs of a few hundred KiB mounted on a fresh directory for one test (the test runs as
/// root; if it cannot mount, it fails), unmounted when dropped.
pub(crate) struct SmallFs {
    pub(crate) dir: String,
    _tmp: TempDir,
}

impl SmallFs {
    pub(crate) fn mount(at: &str, kib: u32) -> SmallFs {
        let tmp = TempDir::new("wfhost-smallfs").unwrap();
        std::fs::create_dir_all(at).unwrap();
        let r = run(&Proc {
            program: "mount".into(),
            args: [
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0755"),
                "wfhost-test",
                at,
            ]
            .iter()
            .map(|a| a.to_string())
            .collect(),
            ..Proc::sh("", &[])
        });
        assert_eq!(
            r.exit_code,
            Some(0),
            "this test mounts a {kib} KiB tmpfs on {at} and needs root for it: {}",
            r.stderr
        );
        SmallFs {
            dir: at.to_string(),
            _tmp: tmp,
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazily: a process of the test may still hold a file open.
        let _ = std::process::Command::new("umount")
            .args(["-l", &self.dir])
            .status();
    }
}

/// A run that fills the disk the first time it runs (and still exits 0), then finishes.
const FILLS_THE_DISK: &str = "if [ ! -e \"$WF_RUN_DIR/once\" ]; then touch \"$WF_RUN_DIR/once\"; \
     head -c 64000000 /dev/zero > \"$WF_RUN_DIR/fill\" 2>/dev/null; fi; true";

#[test]
fn a_full_disk_is_reported_as_the_cause_and_no_further_run_starts() {
    let h = crate::phases::testhost::TestHost::new().real_time();
    let out = h.local("/mnt/outputs");
    let fs = SmallFs::mount(&out, 512);
    let tmp = TempDir::new("wfhost-sweep").unwrap();
    let s = Sweep::at(
        tmp,
        out.clone(),
        h.local("/mnt/repo"),
        &[
            spec("filler", FILLS_THE_DISK),
            spec("after", "echo ran > \"$WF_RUN_DIR/ran\""),
        ],
    );
    std::fs::create_dir_all(&s.repo).unwrap();
    s.launch(1);
    let st = s.wait_until("the runner to stop", |st| !st.runner_alive);
    let filler = Sweep::state_of(&st, "filler");
    assert_eq!(
        (
            filler.state.as_str(),
            filler.exit_code,
            filler.reason.as_deref(),
            filler.failed_write.as_deref()
        ),
        ("lost", None, Some("disk_full"), Some("exit_code")),
        "{st:#?}"
    );
    assert_eq!(
        Sweep::state_of(&st, "after").state,
        "pending",
        "no run starts on a full disk"
    );
    assert!(!Path::new(&format!("{out}/runs/after/ran")).exists());
    assert!(Path::new(&s.wf("filler", "disk_full.exit_code")).is_file());
    assert!(!Path::new(&s.wf("filler", "exit_code")).exists());
    let note = st.disk_full_note(&out).unwrap();
    assert!(
        note.starts_with(&format!("run filler: the target's disk is full (write of exit_code failed: No space left on device); free space on {out} then resume")),
        "{note}"
    );

    // P70 says so, not "lost (killed, or the pod restarted)".
    let mut ctx = h.ctx("P70");
    ctx.flow_flags.wait = true;
    crate::phases::testhost::set(&mut ctx.config, "WF_MONITOR_POLL_SECS", "1");
    let o = crate::phases::run_phase(&h, &ctx);
    assert_eq!(
        (o.status, o.code),
        (
            crate::outcome::Status::Fail,
            crate::outcome::code::SWEEP_LAUNCH_FAILED
        ),
        "{o:#?}"
    );
    assert!(
        o.message.contains("the runner stopped with 1 run(s) still pending: run filler: the target's disk is full (write of exit_code failed: No space left on device); free space on /mnt/outputs then resume"),
        "{}",
        o.message
    );
    assert!(
        !o.message.contains("killed, or the pod restarted"),
        "{}",
        o.message
    );

    // Space freed, a resume (P60) runs what was pending and says why filler stays lost.
    std::fs::remove_file(format!("{out}/runs/filler/fill")).unwrap();
    let mut ctx = h.ctx("P60");
    crate::phases::testhost::flag(&mut ctx, "sweep", "resume");
    ctx.inputs.push(("ts".into(), "20240101T000001Z".into()));
    let o = crate::phases::run_phase(&h, &ctx);
    assert_eq!(o.status, crate::outcome::Status::Ok, "{o:#?}");
    assert!(
        o.message.contains("1 lost run(s) (ended without an exit code) stay as they are; set SWEEP_RETRY_LOST=1")
            && o.message.contains("; run filler ended because the target's disk was full (write of exit_code failed: No space left on device)"),
        "{}",
        o.message
    );
    let st = s.wait_until("after to run", |st| !st.runner_alive);
    assert_eq!(Sweep::state_of(&st, "after").state, "ok", "{st:#?}");
    // With SWEEP_RETRY_LOST the lost run is requeued, its attempt (and the marker) kept.
    let again = Launched::parse(&s.launch_with(1, true)).unwrap();
    assert_eq!(again.requeued, Some(vec!["filler".to_string()]));
    let done = s.wait_complete();
    assert_eq!((done.ok, done.lost, done.pending), (2, 0, 0), "{done:#?}");
    assert!(done.disk_full_runs().is_empty());
    assert!(Path::new(&s.wf("filler", "attempts/1/disk_full.exit_code")).is_file());
    assert!(!Path::new(&s.wf("filler", "disk_full.exit_code")).exists());
    assert_eq!(s.read(&format!("{out}/runs/after/ran")), "ran\n");
    drop(s);
    drop(fs);
}

/// Fill the filesystem of `dir` to its last block (the file `dir/fill`).
fn fill(dir: &str) {
    use std::io::Write;
    let mut f = std::fs::File::create(format!("{dir}/fill")).unwrap();
    let chunk = vec![0u8; 65536];
    let err = loop {
        if let Err(e) = f.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(err.raw_os_error(), Some(28), "ENOSPC expected: {err}");
}

#[test]
fn a_run_that_cannot_record_its_start_on_a_full_disk_never_runs_its_command() {
    let tmp = TempDir::new("wfhost-sweep").unwrap();
    let out = tmp.join("outputs");
    let fs = SmallFs::mount(&out, 512);
    // The runner's log lives elsewhere: only the runs' own writes meet the full disk.
    std::fs::create_dir_all(format!("{out}/_sweep")).unwrap();
    std::os::unix::fs::symlink(tmp.join("runner.log"), format!("{out}/_sweep/runner.log")).unwrap();
    let log = tmp.join("runner.log");
    let s = Sweep::at(
        tmp,
        out.clone(),
        format!("{out}/repo"),
        &[
            spec(
                "first",
                "while [ ! -f \"$WF_RUN_DIR/gate\" ]; do sleep 0.05; done",
            ),
            spec("second", "touch \"$WF_RUN_DIR/ran\""),
        ],
    );
    std::fs::create_dir_all(&s.repo).unwrap();
    s.launch(1);
    wait_file(&s.wf("first", "started_at"));
    // Two free pages, exactly what `first` needs to record its end, then the disk is full
    // when `second` starts.
    std::fs::write(format!("{out}/reserve"), vec![1u8; 8192]).unwrap();
    fill(&out);
    std::fs::remove_file(format!("{out}/reserve")).unwrap();
    std::fs::write(format!("{out}/runs/first/gate"), "").unwrap();
    let st = s.wait_until("the runner to stop", |st| !st.runner_alive);
    assert_eq!(Sweep::state_of(&st, "first").state, "ok", "{st:#?}");
    let second = Sweep::state_of(&st, "second");
    assert_eq!(
        (
            second.state.as_str(),
            second.reason.as_deref(),
            second.failed_write.as_deref()
        ),
        ("lost", Some("disk_full"), Some("boot_id")),
        "{st:#?}"
    );
    assert!(
        !Path::new(&format!("{out}/runs/second/ran")).exists(),
        "the command of a run that could not record its start is not run"
    );
    assert!(!Path::new(&s.wf("second", "pid")).exists());
    assert!(
        s.read(&log).contains("run second found the disk full"),
        "{}",
        s.read(&log)
    );
    drop(s);
    drop(fs);
}

#[test]
fn a_run_that_ends_while_status_looks_at_it_is_finished_not_lost() {
    // The run's exit_code appears between status.sh's test for it and its liveness test (the
    // wrapper writes exit_code, then exits): status must read it, not call the run lost. The
    // race is made certain by a `run_alive` that records the exit code and answers "dead".
    let s = Sweep::new(&[spec("r1", "true")]);
    let wf = format!("{}/runs/r1/_wf", s.out);
    std::fs::create_dir_all(format!("{wf}/claim")).unwrap();
    std::fs::write(format!("{wf}/pid"), "999999\n").unwrap();
    let racing = STATUS_SH.replacen(
        "run_alive() {",
        "run_alive() { printf '0\\n' > \"$1/exit_code\"; return 1; }\nrun_alive_unused() {",
        1,
    );
    assert_ne!(racing, STATUS_SH, "status.sh defines run_alive");
    std::fs::write(format!("{}/_sweep/status.sh", s.out), racing).unwrap();
    let st = s.status();
    assert_eq!((st.ok, st.lost), (1, 0), "{st:?}");
}

impl Sweep {
    /// Write the runner's `_sweep/options`.
    fn options(&self, run_timeout_secs: u64, gpus: &str, gpus_per_run: u64) {
        std::fs::write(
            format!("{}/_sweep/options", self.out),
            options_text(run_timeout_secs, gpus, gpus_per_run),
        )
        .unwrap();
    }
}

/// Whether `pid` is alive (a zombie is not).
fn pid_alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| st.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[test]
fn a_run_past_its_time_limit_is_stopped_with_its_group_and_its_siblings_go_on() {
    // `slow` leaves a grandchild in its group; `stubborn` ignores TERM, so only the KILL after
    // the grace period stops it; `quick` ends well within the limit.
    let s = Sweep::new(&[
        spec("slow", "sleep 60 & echo $! > \"$WF_RUN_DIR/child\"; wait"),
        spec("stubborn", "trap '' TERM; echo $$ > \"$WF_RUN_DIR/self\"; sleep 60; sleep 60"),
        spec("quick", "echo fine"),
    ]);
    s.options(2, "", 0);
    let t0 = Instant::now();
    s.launch(3);
    let done = s.wait_complete();
    let took = t0.elapsed();
    assert_eq!((done.ok, done.failed, done.lost), (1, 2, 0), "{done:#?}");
    assert_eq!(done.timed_out_ids(), vec!["slow", "stubborn"], "{done:#?}");
    assert_eq!(Sweep::state_of(&done, "quick").state, "ok");
    assert_eq!(Sweep::state_of(&done, "slow").exit_code, Some(143), "TERM ended it; its wrapper recorded that");
    assert_eq!(Sweep::state_of(&done, "stubborn").exit_code, Some(137), "only the KILL ended it");
    assert!(took < Duration::from_secs(30), "the limit of 2 s (and 5 s of grace) took {took:?}");
    assert!(took >= Duration::from_secs(2), "stopped before its limit: {took:?}");
    // Nothing of either run is left: the grandchild went with the group.
    for pid in [s.read(&format!("{}/runs/slow/child", s.out)), s.read(&format!("{}/runs/stubborn/self", s.out))] {
        assert!(!pid_alive(pid.trim()), "process {} of a timed-out run lives on", pid.trim());
    }
    for id in ["slow", "stubborn"] {
        assert!(Path::new(&s.wf(id, "timed_out")).is_file(), "{id}");
        assert!(Path::new(&s.wf(id, "ended_at")).is_file(), "{id}");
    }
    assert!(!Path::new(&s.wf("quick", "timed_out")).exists());
    let log = s.read(&format!("{}/_sweep/runner.log", s.out));
    assert!(log.contains("run slow passed its time limit"), "{log}");
    // The same answer from the shell walk as from awk.
    let text = status_with(&s, "sh", None, &[("WFHOST_STATUS_NO_AWK", "1")]);
    let walk = status::parse(&text).unwrap();
    assert_eq!(walk.timed_out_ids(), vec!["slow", "stubborn"], "{text}");
}

#[test]
fn a_run_killed_by_someone_else_is_still_lost_under_a_time_limit() {
    let s = Sweep::new(&[spec("victim", "sleep 60")]);
    s.options(600, "", 0);
    s.launch(1);
    wait_file(&s.wf("victim", "pid"));
    wait_file(&s.wf("victim", "deadline"));
    let wrapper = s.read(&s.wf("victim", "pid")).trim().to_string();
    // TERM to the whole group from outside (not the runner's limit): the run is lost.
    assert!(std::process::Command::new("kill").args(["-TERM", "--", &format!("-{wrapper}")]).status().unwrap().success());
    let done = s.wait_complete();
    assert_eq!(Sweep::state_of(&done, "victim").state, "lost", "{done:#?}");
    assert!(done.timed_out_ids().is_empty());
}

#[test]
fn concurrent_runs_get_disjoint_gpu_slices_and_parallelism_is_capped_by_them() {
    // Each run records its devices and the interval it ran in (ns).
    let cmd = "s=$(date +%s%N); sleep 1; e=$(date +%s%N); \
               printf '%s|%s|%s|%s|%s\\n' \"${CUDA_VISIBLE_DEVICES-unset}\" \"$WF_GPUS\" \"$WF_NPROC\" \"$s\" \"$e\" > \"$WF_RUN_DIR/gpus.txt\"";
    let runs: Vec<RunSpec> = (0..5).map(|i| spec(&format!("g{i}"), cmd)).collect();
    let s = Sweep::new(&runs);
    s.options(0, "0,1,2,3", 2);
    s.launch(8);
    let done = s.wait_complete();
    assert_eq!(done.ok, 5, "{done:#?}");
    let mut seen: Vec<(String, u128, u128)> = Vec::new();
    for i in 0..5 {
        let text = s.read(&format!("{}/runs/g{i}/gpus.txt", s.out));
        let f: Vec<&str> = text.trim().split('|').collect();
        assert_eq!(f.len(), 5, "{text}");
        assert!(["0,1", "2,3"].contains(&f[0]), "g{i} got CUDA_VISIBLE_DEVICES={}", f[0]);
        assert_eq!((f[1], f[2]), (f[0], "2"), "g{i}: WF_GPUS and WF_NPROC");
        assert_eq!(s.read(&s.wf(&format!("g{i}"), "gpus")).trim(), f[0]);
        seen.push((f[0].to_string(), f[3].parse().unwrap(), f[4].parse().unwrap()));
    }
    let mut max_at_once = 0;
    for (a, (ga, sa, ea)) in seen.iter().enumerate() {
        // The runs alive at the moment this one started.
        let at_once = seen.iter().filter(|(_, sb, eb)| sb <= sa && sa < eb).count();
        max_at_once = max_at_once.max(at_once);
        for (b, (gb, sb, eb)) in seen.iter().enumerate() {
            if a != b && sb < ea && sa < eb {
                assert_ne!(ga, gb, "g{a} and g{b} ran at the same time on GPUs {ga}");
            }
        }
    }
    assert_eq!(max_at_once, 2, "two slots of 2 GPUs: two runs at once, never more");
}

#[test]
fn without_slicing_every_run_sees_every_gpu_and_too_few_gpus_start_nothing() {
    let s = Sweep::new(&[spec("all", "printf '%s|%s|%s' \"${CUDA_VISIBLE_DEVICES-unset}\" \"$WF_GPUS\" \"$WF_NPROC\" > \"$WF_RUN_DIR/gpus.txt\"")]);
    s.options(0, "0,1,2", 0);
    s.launch(1);
    s.wait_complete();
    assert_eq!(s.read(&format!("{}/runs/all/gpus.txt", s.out)), "unset|0,1,2|3");
    assert!(!Path::new(&s.wf("all", "gpus")).exists());

    let cpu = Sweep::new(&[spec("cpu", "printf '%s|%s' \"$WF_GPUS\" \"$WF_NPROC\" > \"$WF_RUN_DIR/gpus.txt\"")]);
    cpu.options(0, "", 0);
    cpu.launch(1);
    cpu.wait_complete();
    assert_eq!(cpu.read(&format!("{}/runs/cpu/gpus.txt", cpu.out)), "|1", "no GPU: one process");

    // A slice larger than the GPUs there are: the runner starts nothing and says why.
    let few = Sweep::new(&[spec("big", "true")]);
    few.options(0, "0", 2);
    few.launch(1);
    let st = few.wait_until("the runner to give up", |st| !st.runner_alive);
    assert_eq!((st.pending, st.running), (1, 0), "{st:#?}");
    let log = few.read(&format!("{}/_sweep/runner.log", few.out));
    assert!(log.contains("gpus_per_run 2 but only 1 GPU(s)"), "{log}");
}

#[test]
fn forced_runs_run_again_with_their_first_attempt_and_outputs_kept() {
    // good and bad are in the first runs.tsv; they finish (good with a failing summary).
    let s = Sweep::new(&[
        spec("good", "echo run >> \"$WF_RUN_DIR/../good.count\"; echo v1 > \"$WF_RUN_DIR/model.txt\"; printf '{\"ok\": false}' > \"$WF_RUN_DIR/summary.json\""),
        spec("bad", "echo run >> \"$WF_RUN_DIR/../bad.count\"; exit 4"),
    ]);
    s.launch(2);
    let done = s.wait_complete();
    assert_eq!((done.total, done.failed), (2, 2), "{done:#?}");

    // The manifest now says good writes v2 and no failing summary; with force (prepare writes
    // the new command beside the claimed one) both finished runs run again, pending once.
    let script = format!("{}/_sweep/prepare.sh", s.out);
    let runs = [
        spec("good", "echo run >> \"$WF_RUN_DIR/../good.count\"; echo v2 > \"$WF_RUN_DIR/model.txt\""),
        spec("bad", "echo run >> \"$WF_RUN_DIR/../bad.count\"; exit 4"),
        spec("pending", "true"),
    ];
    std::fs::write(&script, prepare_script(&runs, &"cd".repeat(32), "flow-2", true)).unwrap();
    let r = sh("sh \"$1\" \"$2\"", &[&script, &s.out]);
    assert_eq!(r.stdout.trim(), "pending=1 claimed=2", "{}", r.stderr);
    assert!(Path::new(&s.wf("good", "cmd.sh.next")).is_file());
    let launched = run(&Proc::sh(
        &launch_command(&s.out, &s.repo, 2, "tok-2", Requeue { lost: false, finished: true }),
        &[],
    ));
    let parsed = Launched::parse(&launched.stdout).unwrap_or_else(|| panic!("{}", launched.stdout));
    assert_eq!(parsed.requeued, Some(vec!["good".to_string(), "bad".to_string()]), "{}", launched.stdout);
    let done = s.wait_complete();
    assert_eq!((done.ok, done.failed), (2, 1), "{done:#?}");
    assert_eq!(s.read(&format!("{}/runs/good.count", s.out)), "run\nrun\n");
    assert_eq!(s.read(&format!("{}/runs/bad.count", s.out)), "run\nrun\n");
    // The new attempt ran the new command in a clean run directory; the first one is kept.
    assert_eq!(s.read(&format!("{}/runs/good/model.txt", s.out)), "v2\n");
    assert!(!Path::new(&format!("{}/runs/good/summary.json", s.out)).exists(), "the old summary would judge the new attempt");
    let first = format!("{}/runs/good/_wf/attempts/1", s.out);
    assert_eq!(s.read(&format!("{first}/outputs/model.txt")), "v1\n");
    assert!(Path::new(&format!("{first}/outputs/summary.json")).is_file());
    assert_eq!(s.read(&format!("{first}/exit_code")), "0\n");
    assert_eq!(s.read(&format!("{first}/requeued_why")), "forced\n");
    assert!(s.read(&format!("{first}/cmd.sh")).contains("v1"));
    assert!(s.read(&s.wf("good", "cmd.sh")).contains("v2") && !Path::new(&s.wf("good", "cmd.sh.next")).exists());
    assert_eq!(s.read(&format!("{}/runs/bad/_wf/attempts/1/exit_code", s.out)), "4\n");
    // Without force, nothing runs a third time.
    assert_eq!(Launched::parse(&s.launch(2)).unwrap().requeued, Some(vec![]));
    s.wait_complete();
    assert_eq!(s.read(&format!("{}/runs/good.count", s.out)), "run\nrun\n");
}
