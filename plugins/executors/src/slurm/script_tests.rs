//! Tests of the Slurm scripts as they are installed (common.sh, the generated state table,
//! slurm_lib.sh and each script), run with real `sh` in a temp directory standing for the shared
//! outputs. The Slurm commands are stand-ins on PATH (`squeue` prints the records a test gives
//! it, or fails like a controller that is down; `sbatch` records its arguments and prints a job
//! id; `scontrol` gives MaxArraySize; `scancel` records what it was asked), so every task state
//! of slurm.toml — NODE_FAIL, PREEMPTED, OUT_OF_MEMORY included, which a one-node test cluster
//! cannot produce on demand — is judged here. The same scripts against a real slurmctld are the
//! end-to-end tests' (tests/e2e/slurm.rs).

use super::*;
use crate::status::{self, SweepStatus};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};
use wfhost_pack_sdk::testing::{run, RunOutput, RunSpec, TempDir};

const FAKE_SQUEUE: &str = r#"#!/bin/sh
here=$(dirname "$0")
echo x >> "$here/squeue.calls"
for a in "$@"; do printf '%s\n' "$a"; done > "$here/squeue.argv"
if [ -f "$here/squeue.down" ]; then
  echo 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)' >&2
  exit 1
fi
cat "$here/squeue.out" 2>/dev/null
exit 0
"#;

const FAKE_SBATCH: &str = r#"#!/bin/sh
here=$(dirname "$0")
for a in "$@"; do printf '%s\n' "$a"; done > "$here/sbatch.argv"
if [ -f "$here/sbatch.refuse" ]; then
  echo 'sbatch: error: invalid partition specified: nope' >&2
  exit 1
fi
n=$(cat "$here/sbatch.next" 2>/dev/null || echo 100)
echo $((n + 1)) > "$here/sbatch.next"
echo "$n;ci"
"#;

const FAKE_SCONTROL: &str = r#"#!/bin/sh
here=$(dirname "$0")
printf 'ClusterName             = ci\nMaxArraySize            = %s\n' "$(cat "$here/max_array" 2>/dev/null || echo 1001)"
"#;

const FAKE_SCANCEL: &str = r#"#!/bin/sh
here=$(dirname "$0")
echo "$*" >> "$here/scancel.calls"
: > "$here/squeue.out"
"#;

struct Cluster {
    tmp: TempDir,
    out: String,
    bin: String,
}

impl Cluster {
    fn new(runs: &[&str]) -> Cluster {
        let tmp = TempDir::new("wfslurm-s").unwrap();
        let out = tmp.join("out");
        let bin = tmp.join("bin");
        for d in [format!("{out}/_sweep/slurm"), bin.clone()] {
            std::fs::create_dir_all(d).unwrap();
        }
        for (name, text) in [
            ("squeue", FAKE_SQUEUE),
            ("sbatch", FAKE_SBATCH),
            ("scontrol", FAKE_SCONTROL),
            ("scancel", FAKE_SCANCEL),
        ] {
            let p = format!("{bin}/{name}");
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let c = Cluster { tmp, out, bin };
        for (name, text) in [
            ("_sweep/status.sh", STATUS_SH),
            ("_sweep/slurm/task.sh", TASK_SH),
            ("_sweep/slurm/submit.sh", SUBMIT_SH),
        ] {
            c.write(name, text);
        }
        let tsv: String = runs
            .iter()
            .map(|id| format!("{id}\truns/{id}/_wf/cmd.sh\n"))
            .collect();
        c.write("_sweep/runs.tsv", &tsv);
        c
    }

    fn write(&self, rel: &str, text: &str) {
        let p = format!("{}/{rel}", self.out);
        std::fs::create_dir_all(Path::new(&p).parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(format!("{}/{rel}", self.out)).unwrap_or_default()
    }

    fn exists(&self, rel: &str) -> bool {
        Path::new(&format!("{}/{rel}", self.out)).exists()
    }

    /// A submission TOKEN whose map holds `ids`.
    fn submitted(&self, token: &str, ids: &[&str]) {
        let mut subs = self.read("_sweep/slurm/subs.tsv");
        subs.push_str(&format!("{token}\t{}\t2026-01-01T00:00:00Z\n", ids.len()));
        self.write("_sweep/slurm/subs.tsv", &subs);
        let map: String = ids.iter().map(|i| format!("{i}\n")).collect();
        self.write(&format!("_sweep/slurm/{token}.map"), &map);
    }

    /// Run `id` claimed by task TASK of TOKEN (array ARRAY), with `exit_code` when given.
    fn claimed(&self, id: &str, token: &str, array: &str, task: u32, exit_code: Option<i32>) {
        std::fs::create_dir_all(format!("{}/runs/{id}/_wf/claim", self.out)).unwrap();
        self.write(
            &format!("runs/{id}/_wf/slurm_task"),
            &format!("{token} {array} {task} 9{task} node1\n"),
        );
        if let Some(rc) = exit_code {
            self.write(&format!("runs/{id}/_wf/exit_code"), &format!("{rc}\n"));
        }
    }

    /// What squeue prints: NAME|TASK|STATE|ARRAY_ID lines.
    fn squeue(&self, lines: &[&str]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(format!("{}/squeue.out", self.bin), text).unwrap();
    }

    fn sh(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> RunOutput {
        let mut spec = RunSpec::sh(&format!("exec sh \"{}/{script}\" \"$@\"", self.out), args);
        spec.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        spec.env.push((
            "PATH".into(),
            format!("{}:{}", self.bin, std::env::var("PATH").unwrap_or_default()),
        ));
        spec.timeout = Duration::from_secs(60);
        run(&spec)
    }

    fn status(&self) -> SweepStatus {
        let r = self.sh("_sweep/status.sh", &[&self.out], &[]);
        assert_eq!(r.exit_code, Some(0), "{}", r.stderr);
        status::parse(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
    }

    fn submit(&self, token: &str, retry: &str, options: &[&str]) -> RunOutput {
        let mut args = vec!["submit", &self.out, "/repo", token, "2", retry];
        args.extend_from_slice(options);
        self.sh("_sweep/slurm/submit.sh", &args, &[])
    }
}

fn row<'a>(s: &'a SweepStatus, id: &str) -> (&'a str, Option<i64>, Option<&'a str>, Option<&'a str>) {
    let r = s.runs.iter().find(|r| r.run_id == id).unwrap_or_else(|| panic!("no run {id}"));
    (r.state.as_str(), r.exit_code, r.slurm_state.as_deref(), r.slurm_job.as_deref())
}

#[test]
fn every_task_state_is_judged_for_its_run() {
    let ids = [
        "ok", "bad", "oom", "cancel", "tmo", "node", "preempt", "requeued", "run", "waits",
        "starting", "waits2", "forgot", "sig", "never", "summary",
    ];
    let c = Cluster::new(&ids);
    c.submitted("t1", &ids[..14]);
    c.submitted("t2", &["summary", "never2"]);
    for (i, (id, rc)) in [
        ("ok", Some(0)),
        ("bad", Some(3)),
        ("oom", None),
        // The command died of the stop before the wrapper's own TERM arrived: its code is
        // recorded, and is not the run's (Slurm stopped the task).
        ("cancel", Some(143)),
        ("tmo", Some(0)),
        ("node", None),
        ("preempt", None),
        ("requeued", None),
        ("run", None),
    ]
    .into_iter()
    .enumerate()
    {
        c.claimed(id, "t1", "7", i as u32, rc);
    }
    c.claimed("sig", "t1", "7", 13, None);
    c.write("runs/sig/_wf/signalled", "TERM 2026-01-01T00:00:00Z\n");
    c.claimed("summary", "t2", "8", 0, Some(0));
    c.write("runs/summary/summary.json", "{\"ok\": false}\n");
    c.squeue(&[
        "wfhost-t1|0|COMPLETED|7",
        "wfhost-t1|1|FAILED|7",
        "wfhost-t1|2|OUT_OF_MEMORY|7",
        "wfhost-t1|3|CANCELLED|7",
        "wfhost-t1|4|TIMEOUT|7",
        "wfhost-t1|5|NODE_FAIL|7",
        "wfhost-t1|6|PREEMPTED|7",
        "wfhost-t1|7|COMPLETED|7",
        "wfhost-t1|8|RUNNING|7",
        "wfhost-t1|9,11%2|PENDING|7",
        "wfhost-t1|10|RUNNING|7",
        // task 12 (forgot) and 13 (sig) are not listed: cancelled while waiting, forgotten
        "wfhost-t2|0|COMPLETED|8",
        "someone-else|3|RUNNING|9",
    ]);
    let s = c.status();
    assert_eq!(s.backend.as_deref(), Some("slurm"));
    assert_eq!(row(&s, "ok"), ("ok", Some(0), Some("COMPLETED"), Some("7_0")));
    assert_eq!(row(&s, "bad"), ("failed", Some(3), Some("FAILED"), Some("7_1")));
    assert_eq!(row(&s, "oom"), ("failed", None, Some("OUT_OF_MEMORY"), Some("7_2")));
    assert_eq!(row(&s, "cancel"), ("failed", None, Some("CANCELLED"), Some("7_3")));
    assert_eq!(row(&s, "tmo"), ("failed", None, Some("TIMEOUT"), Some("7_4")));
    assert_eq!(row(&s, "node"), ("lost", None, Some("NODE_FAIL"), Some("7_5")));
    assert_eq!(row(&s, "preempt"), ("lost", None, Some("PREEMPTED"), Some("7_6")));
    // Started by a first attempt, the task requeued and ended without running it again.
    assert_eq!(row(&s, "requeued"), ("lost", None, Some("COMPLETED"), Some("7_7")));
    assert_eq!(row(&s, "run"), ("running", None, Some("RUNNING"), Some("7_8")));
    assert_eq!(row(&s, "waits"), ("pending", None, Some("PENDING"), Some("7_9")));
    // The task is on a node but has not claimed its run yet.
    assert_eq!(row(&s, "starting"), ("running", None, Some("RUNNING"), Some("7_10")));
    assert_eq!(row(&s, "waits2"), ("pending", None, Some("PENDING"), Some("7_11")));
    assert_eq!(row(&s, "forgot"), ("lost", None, Some("MISSING"), Some("7_12")));
    assert_eq!(row(&s, "sig"), ("failed", None, Some("SIGNALLED"), Some("7_13")));
    assert_eq!(row(&s, "never"), ("pending", None, Some("NOT_SUBMITTED"), None));
    assert_eq!(row(&s, "summary"), ("failed", Some(0), Some("COMPLETED"), Some("8_0")));
    assert!(s.runner_alive, "queued and running tasks are live");
    assert_eq!((s.total, s.ok, s.failed, s.running, s.pending, s.lost), (16, 1, 6, 2, 3, 4));
    assert_eq!(
        s.failed_labels()[..3],
        ["bad (FAILED, exit 3)", "oom (OUT_OF_MEMORY)", "cancel (CANCELLED)"]
    );
    // One squeue call, for the sweep's job names only.
    let calls = std::fs::read_to_string(format!("{}/squeue.calls", c.bin)).unwrap();
    assert_eq!(calls.lines().count(), 1);
    let argv = std::fs::read_to_string(format!("{}/squeue.argv", c.bin)).unwrap();
    assert!(argv.lines().any(|l| l == "wfhost-t1,wfhost-t2"), "{argv}");

    // Once slurmctld forgot the whole array, unclaimed runs are UNKNOWN, and so are started
    // ones without a record of how they ended.
    c.squeue(&[]);
    let s = c.status();
    assert_eq!(row(&s, "waits"), ("lost", None, Some("UNKNOWN"), None));
    assert_eq!(row(&s, "run"), ("lost", None, Some("UNKNOWN"), None));
    assert_eq!(row(&s, "ok").0, "ok");
    assert!(!s.runner_alive);
}

#[test]
fn a_controller_that_does_not_answer_is_never_taken_for_no_task() {
    let c = Cluster::new(&["a"]);
    c.submitted("t1", &["a"]);
    std::fs::write(format!("{}/squeue.down", c.bin), "").unwrap();
    let t0 = Instant::now();
    let r = c.sh("_sweep/status.sh", &[&c.out], &[]);
    assert_eq!(r.exit_code, Some(NO_ANSWER_RC), "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("squeue failed 3 times") && r.stderr.contains("connect failure"), "{}", r.stderr);
    assert!(t0.elapsed() >= Duration::from_secs(4), "it asked again before giving up");
    // Nothing is submitted when the live tasks are unknown.
    let r = c.submit("t2", "keep", &[]);
    assert_eq!(r.exit_code, Some(NO_ANSWER_RC), "{r:?}");
    assert!(!Path::new(&format!("{}/sbatch.argv", c.bin)).exists());
    // No submission yet: no squeue call at all, every run waits for one.
    let fresh = Cluster::new(&["a", "b"]);
    std::fs::write(format!("{}/squeue.down", fresh.bin), "").unwrap();
    let s = fresh.status();
    assert_eq!((s.pending, s.runner_alive), (2, false));
    let no_sweep = fresh.sh("_sweep/status.sh", &[&format!("{}/none", fresh.out)], &[]);
    assert_eq!(no_sweep.exit_code, Some(crate::scripts::NO_SWEEP_RC));
}

#[test]
fn a_submission_takes_only_runs_with_neither_a_result_nor_a_live_task() {
    let ids = ["done", "fail", "live", "queued", "lost", "cxl", "new1", "new2"];
    let c = Cluster::new(&ids);
    c.submitted("t1", &ids[..6]);
    c.claimed("done", "t1", "7", 0, Some(0));
    c.claimed("fail", "t1", "7", 1, Some(2));
    c.claimed("live", "t1", "7", 2, None);
    c.claimed("lost", "t1", "7", 4, None);
    c.write("runs/lost/_wf/stdout.log", "first attempt\n");
    c.squeue(&[
        "wfhost-t1|0|COMPLETED|7",
        "wfhost-t1|1|FAILED|7",
        "wfhost-t1|2|RUNNING|7",
        "wfhost-t1|3|PENDING|7",
        "wfhost-t1|4|NODE_FAIL|7",
        "wfhost-t1|5|CANCELLED|7",
    ]);
    let r = c.submit("t2", "keep", &["--partition=ci", "--time=5"]);
    assert_eq!(r.exit_code, Some(0), "{}", r.stderr);
    let s = Submitted::parse(&r.stdout).unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(s.array.as_deref(), Some("100"));
    assert_eq!(s.ids, ["cxl", "new1", "new2"], "a run cancelled before it started goes again; nothing else");
    assert_eq!((s.live, s.finished, s.lost_kept), (2, 2, 1));
    assert_eq!(c.read("_sweep/slurm/t2.map"), "cxl\nnew1\nnew2\n");
    assert_eq!(c.read("_sweep/slurm/t2.job").trim(), "100");
    let argv = std::fs::read_to_string(format!("{}/sbatch.argv", c.bin)).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    for want in ["--parsable", "--array=0-2%2", "--job-name=wfhost-t2", "--partition=ci", "--time=5"] {
        assert!(argv.contains(&want), "{want} in {argv:?}");
    }
    assert_eq!(
        argv[argv.len() - 4..],
        [format!("{}/_sweep/slurm/task.sh", c.out).as_str(), c.out.as_str(), "/repo", "t2"]
    );
    assert!(c.exists("runs/lost/_wf/claim"), "a lost run stays claimed without SWEEP_RETRY_LOST");

    // The array is live now: a resume submits nothing of it again.
    c.squeue(&[
        "wfhost-t1|0|COMPLETED|7",
        "wfhost-t1|1|FAILED|7",
        "wfhost-t1|2|RUNNING|7",
        "wfhost-t1|3|PENDING|7",
        "wfhost-t1|4|NODE_FAIL|7",
        "wfhost-t1|5|CANCELLED|7",
        "wfhost-t2|0-2%2|PENDING|100",
    ]);
    let again = Submitted::parse(&c.submit("t3", "keep", &[]).stdout).unwrap();
    assert_eq!((again.array.clone(), again.tasks, again.live, again.lost_kept), (None, 0, 5, 1));

    // With retry-lost the lost run goes again, its first attempt kept.
    let retry = Submitted::parse(&c.submit("t3", "retry-lost", &[]).stdout).unwrap();
    assert_eq!(retry.ids, ["lost"]);
    assert_eq!(retry.requeued, ["lost"]);
    assert_eq!(retry.array.as_deref(), Some("101"));
    assert!(!c.exists("runs/lost/_wf/claim"));
    assert_eq!(c.read("runs/lost/_wf/attempts/1/stdout.log"), "first attempt\n");
    assert!(c.exists("runs/lost/_wf/attempts/1/slurm_task"));
    // The token was taken by no array yet (nothing submitted under t3 before): it is used as is.
    assert!(c.exists("_sweep/slurm/t3.map"));
    assert_eq!(c.read("_sweep/slurm/subs.tsv").lines().count(), 3);
}

#[test]
fn a_refused_or_oversized_array_leaves_no_submission_behind() {
    let c = Cluster::new(&["a", "b", "c"]);
    std::fs::write(format!("{}/max_array", c.bin), "2").unwrap();
    let r = c.submit("t1", "keep", &[]);
    assert_eq!(r.exit_code, Some(TOO_BIG_RC), "{r:?}");
    assert!(r.stderr.contains("MaxArraySize is 2"), "{}", r.stderr);
    std::fs::write(format!("{}/max_array", c.bin), "1001").unwrap();
    std::fs::write(format!("{}/sbatch.refuse", c.bin), "").unwrap();
    let r = c.submit("t1", "keep", &["--partition=nope"]);
    assert_eq!(r.exit_code, Some(1), "{r:?}");
    assert!(r.stderr.contains("invalid partition"), "{}", r.stderr);
    assert_eq!(c.read("_sweep/slurm/subs.tsv"), "", "the refused submission is not recorded");
    assert!(!c.exists("_sweep/slurm/t1.map"));
    // Still nothing submitted: every run waits for a submission.
    assert_eq!(c.status().pending, 3);
    std::fs::remove_file(format!("{}/sbatch.refuse", c.bin)).unwrap();
    let ok = Submitted::parse(&c.submit("t1", "keep", &[]).stdout).unwrap();
    assert_eq!((ok.token.as_str(), ok.tasks), ("t1", 3));
    // A token used before gets a suffix.
    c.squeue(&["wfhost-t1|0-2|CANCELLED|100"]);
    let next = Submitted::parse(&c.submit("t1", "keep", &[]).stdout).unwrap();
    assert_eq!((next.token.as_str(), next.tasks), ("t1-2", 3));
}

#[test]
fn cancel_names_only_the_sweeps_own_arrays() {
    let c = Cluster::new(&["a", "b"]);
    let r = c.sh("_sweep/slurm/submit.sh", &["cancel", &c.out], &[]);
    assert_eq!(parse_cancelled(&r.stdout), Some((vec![], 0)), "{r:?}");
    c.submitted("t1", &["a"]);
    c.submitted("t2", &["b"]);
    c.squeue(&["wfhost-t1|5|RUNNING|7", "wfhost-t2|0|PENDING|9", "wfhost-t2|1|PENDING|9", "wfhost-other|0|PENDING|11"]);
    let r = c.sh("_sweep/slurm/submit.sh", &["cancel", &c.out], &[]);
    assert_eq!(r.exit_code, Some(0), "{}", r.stderr);
    assert_eq!(parse_cancelled(&r.stdout), Some((vec!["7".into(), "9".into()], 3)));
    assert_eq!(std::fs::read_to_string(format!("{}/scancel.calls", c.bin)).unwrap(), "7 9\n");
}

/// Run task.sh as task `task` of TOKEN in `c` (the temp dir as the checkout), with `env`.
fn task(c: &Cluster, token: &str, task: u32, env: &[(&str, &str)]) -> RunOutput {
    let t = task.to_string();
    let mut all = vec![("SLURM_ARRAY_TASK_ID", t.as_str()), ("SLURM_ARRAY_JOB_ID", "7"), ("SLURM_JOB_ID", "70")];
    all.extend_from_slice(env);
    c.sh("_sweep/slurm/task.sh", &[&c.out, &c.tmp.path(), token], &all)
}

#[test]
fn a_task_claims_its_run_once_and_records_its_exit_code_last() {
    let c = Cluster::new(&["r1", "r2"]);
    c.submitted("t1", &["r1", "r2"]);
    c.write("runs/r1/_wf/cmd.sh", "echo \"$WF_RUN_ID in $(pwd)\" >> \"$WF_RUN_DIR/ran.log\"; exit 3\n");
    let first = task(&c, "t1", 0, &[]);
    assert_eq!(first.exit_code, Some(3), "{first:?}");
    assert_eq!(c.read("runs/r1/ran.log"), format!("r1 in {}\n", c.tmp.path()));
    assert_eq!(c.read("runs/r1/_wf/exit_code"), "3\n");
    assert!(c.read("runs/r1/_wf/slurm_task").starts_with("t1 7 0 70 "));
    assert!(c.exists("runs/r1/_wf/started_at") && c.exists("runs/r1/_wf/ended_at"));
    // The same task again (a requeue) or any duplicate does not run it twice.
    let again = task(&c, "t1", 0, &[]);
    assert_eq!(again.exit_code, Some(0));
    assert!(again.stderr.contains("not run twice"), "{}", again.stderr);
    assert_eq!(c.read("runs/r1/ran.log").lines().count(), 1);
    // A task with no row, or outside an array, refuses.
    assert_eq!(task(&c, "t1", 5, &[]).exit_code, Some(2));
    let outside = c.sh("_sweep/slurm/task.sh", &[&c.out, "/", "t1"], &[]);
    assert_eq!(outside.exit_code, Some(2));
    assert!(outside.stderr.contains("SLURM_ARRAY_TASK_ID"), "{}", outside.stderr);
    // A missing command is the run's failure (127), recorded as such.
    assert_eq!(task(&c, "t1", 1, &[]).exit_code, Some(127));
    assert_eq!(c.read("runs/r2/_wf/exit_code"), "127\n");
}

#[test]
fn a_task_stopped_by_term_records_no_exit_code() {
    let c = Cluster::new(&["slow"]);
    c.submitted("t1", &["slow"]);
    // The command would exit 0 when told to stop: that must not read as finishing by itself.
    c.write("runs/slow/_wf/cmd.sh", "trap 'exit 0' TERM; echo started > \"$WF_RUN_DIR/started\"; while :; do sleep 0.1; done\n");
    let out = c.out.clone();
    let cwd = c.tmp.path();
    let bin = c.bin.clone();
    let handle = std::thread::spawn(move || {
        let mut spec = RunSpec::sh(
            &format!("sh \"{out}/_sweep/slurm/task.sh\" \"{out}\" \"{cwd}\" t1 & echo $! > \"{out}/task.pid\"; wait"),
            &[],
        );
        spec.env = vec![
            ("SLURM_ARRAY_TASK_ID".into(), "0".into()),
            ("PATH".into(), format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())),
        ];
        spec.timeout = Duration::from_secs(30);
        run(&spec)
    });
    let t0 = Instant::now();
    while !c.exists("runs/slow/started") || !c.exists("task.pid") {
        assert!(t0.elapsed() < Duration::from_secs(20), "the run did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = c.read("task.pid").trim().to_string();
    let st = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
    let r = handle.join().unwrap();
    assert!(!r.timed_out, "the task did not end after TERM");
    assert!(!c.exists("runs/slow/_wf/exit_code"), "a TERMed run has no exit code");
    assert!(c.read("runs/slow/_wf/signalled").starts_with("TERM "));
    // Slurm then reports the task CANCELLED (or TIMEOUT): the run failed with that state.
    c.squeue(&["wfhost-t1|0|CANCELLED|7"]);
    assert_eq!(row(&c.status(), "slow"), ("failed", None, Some("CANCELLED"), Some("7_0")));
}
