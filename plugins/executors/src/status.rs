//! The sweep status as `status.sh` prints it, parsed and checked.
//!
//! One exec of `status.sh` prints one JSON object; [`parse`] turns it into a [`SweepStatus`]
//! and refuses anything inconsistent (counts that do not add up, unknown states), so P70 and
//! P80 never act on a half-written or foreign reply.
//!
//! A lost run whose bookkeeping could not be written because the target's disk was full
//! carries the reason (`"reason":"disk_full"` and the record that failed, `"failed_write"`);
//! [`SweepStatus::disk_full_note`] turns those into the one line P60 and P70 report. A failed
//! run the runner stopped at its time limit (`RUN_TIMEOUT_SECS`) carries `"reason":"timeout"`
//! ([`SweepStatus::timed_out_ids`]).
//!
//! A sweep run as Slurm job arrays answers the same object from its own status script
//! (`scripts/slurm_status.sh`), with `"backend":"slurm"` and, per run, the state of its task
//! (`slurm_state`) and the task (`slurm_job`, `ARRAY_TASK`); [`RunState::label`] names a failed
//! run with them.

use serde::Deserialize;

/// One run in the status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunState {
    /// Run ID.
    pub run_id: String,
    /// `pending`, `running`, `ok`, `failed` or `lost`.
    pub state: String,
    /// Exit code when the run finished.
    pub exit_code: Option<i64>,
    /// Why a lost run ended without an exit code, when the runner could tell (`disk_full`), or
    /// why a failed run failed: `timeout` (stopped at its time limit).
    #[serde(default)]
    pub reason: Option<String>,
    /// With `reason`: the record whose write failed (`exit_code`, `pid`, ...).
    #[serde(default)]
    pub failed_write: Option<String>,
    /// On Slurm: the state of the run's task (`COMPLETED`, `TIMEOUT`, ...), or what the status
    /// script says instead (`NOT_SUBMITTED`, `MISSING`, `UNKNOWN`, `SIGNALLED`).
    #[serde(default)]
    pub slurm_state: Option<String>,
    /// On Slurm: the run's task, `ARRAY_TASK`.
    #[serde(default)]
    pub slurm_job: Option<String>,
}

impl RunState {
    /// The run's id, with its Slurm state and exit code when it has them: `r3 (FAILED, exit 3)`,
    /// `r5 (TIMEOUT)`, `r1`.
    pub fn label(&self) -> String {
        let mut what = Vec::new();
        if let Some(s) = &self.slurm_state {
            what.push(s.clone());
        }
        if let (Some(_), Some(c)) = (&self.slurm_state, self.exit_code) {
            what.push(format!("exit {c}"));
        }
        if what.is_empty() {
            self.run_id.clone()
        } else {
            format!("{} ({})", self.run_id, what.join(", "))
        }
    }
}

/// The whole status object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SweepStatus {
    /// Runs in runs.tsv.
    pub total: u64,
    /// Finished with exit 0 and no failing summary.json.
    pub ok: u64,
    /// Finished with a non-zero exit or a failing summary.json.
    pub failed: u64,
    /// Claimed and alive.
    pub running: u64,
    /// Not claimed yet.
    pub pending: u64,
    /// Claimed, no exit code, process gone.
    pub lost: u64,
    /// A runner process is alive.
    pub runner_alive: bool,
    /// Per-run states.
    pub runs: Vec<RunState>,
    /// `slurm` when the sweep runs as Slurm job arrays (absent: the runner).
    #[serde(default)]
    pub backend: Option<String>,
}

const STATES: [&str; 5] = ["pending", "running", "ok", "failed", "lost"];
/// What `runner.sh` records for a run (the writes a `disk_full` reason can name).
const RECORDS: [&str; 6] = [
    "boot_id",
    "pgid",
    "pid",
    "started_at",
    "ended_at",
    "exit_code",
];
/// The reason of a failed run stopped at its time limit.
const TIMEOUT: &str = "timeout";
/// Runs named in a note before the rest are only counted.
const NAMED: usize = 5;

/// Parse and check one status reply.
pub fn parse(text: &str) -> Result<SweepStatus, String> {
    let s: SweepStatus = serde_json::from_str(text.trim())
        .map_err(|e| format!("status.sh printed something that is not the status JSON ({e})"))?;
    let sum = [s.ok, s.failed, s.running, s.pending, s.lost]
        .iter()
        .try_fold(0u64, |a, b| a.checked_add(*b));
    if sum != Some(s.total) || s.runs.len() as u64 != s.total {
        return Err(format!(
            "status counts are inconsistent: total {} but ok {} + failed {} + running {} + pending {} + lost {} over {} runs",
            s.total,
            s.ok,
            s.failed,
            s.running,
            s.pending,
            s.lost,
            s.runs.len()
        ));
    }
    if let Some(bad) = s.runs.iter().find(|r| !STATES.contains(&r.state.as_str())) {
        return Err(format!(
            "run {} has the unknown state {:?}",
            bad.run_id, bad.state
        ));
    }
    if let Some(bad) = s.runs.iter().find(|r| match (&r.reason, &r.failed_write) {
        (None, None) => false,
        (Some(reason), None) => reason != TIMEOUT || r.state != "failed",
        (Some(reason), Some(write)) => {
            reason != "disk_full" || r.state != "lost" || !RECORDS.contains(&write.as_str())
        }
        _ => true,
    }) {
        return Err(format!(
            "run {} has an unknown reason {:?} (failed write {:?}, state {})",
            bad.run_id, bad.reason, bad.failed_write, bad.state
        ));
    }
    if let Some(bad) = s.runs.iter().find(|r| {
        let word = |v: &Option<String>, ok: fn(u8) -> bool| {
            v.as_ref().is_some_and(|w| w.is_empty() || !w.bytes().all(ok))
        };
        word(&r.slurm_state, |b| b.is_ascii_uppercase() || b == b'_')
            || word(&r.slurm_job, |b| b.is_ascii_digit() || b == b'_')
    }) {
        return Err(format!(
            "run {} has an unreadable Slurm state {:?} or task {:?}",
            bad.run_id, bad.slurm_state, bad.slurm_job
        ));
    }
    for state in STATES {
        let listed = s.runs.iter().filter(|r| r.state == state).count() as u64;
        if listed != s.count(state) {
            return Err(format!(
                "status lists {listed} {state} runs but counts {}",
                s.count(state)
            ));
        }
    }
    Ok(s)
}

impl SweepStatus {
    fn count(&self, state: &str) -> u64 {
        match state {
            "ok" => self.ok,
            "failed" => self.failed,
            "running" => self.running,
            "pending" => self.pending,
            _ => self.lost,
        }
    }

    /// Nothing running or pending and no runner left.
    pub fn complete(&self) -> bool {
        self.running == 0 && self.pending == 0 && !self.runner_alive
    }

    /// Runs that finished or were lost.
    pub fn done(&self) -> u64 {
        self.ok + self.failed + self.lost
    }

    /// IDs of failed and lost runs, in runs.tsv order.
    pub fn failed_ids(&self) -> Vec<&str> {
        self.runs
            .iter()
            .filter(|r| r.state == "failed" || r.state == "lost")
            .map(|r| r.run_id.as_str())
            .collect()
    }

    /// [`RunState::label`] of the failed and lost runs, in runs.tsv order.
    pub fn failed_labels(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter(|r| r.state == "failed" || r.state == "lost")
            .map(RunState::label)
            .collect()
    }

    /// On Slurm: how many runs' tasks are in each state, `COMPLETED=17,TIMEOUT=1` (sorted by
    /// state); `None` for the runner.
    pub fn slurm_state_counts(&self) -> Option<String> {
        let mut counts = std::collections::BTreeMap::new();
        for s in self.runs.iter().filter_map(|r| r.slurm_state.as_deref()) {
            *counts.entry(s).or_insert(0u64) += 1;
        }
        (!counts.is_empty()).then(|| {
            counts
                .iter()
                .map(|(s, n)| format!("{s}={n}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// IDs of runs that were claimed (every state but pending).
    pub fn claimed_ids(&self) -> Vec<&str> {
        self.runs
            .iter()
            .filter(|r| r.state != "pending")
            .map(|r| r.run_id.as_str())
            .collect()
    }

    /// IDs of the failed runs the runner stopped at their time limit, in runs.tsv order.
    pub fn timed_out_ids(&self) -> Vec<&str> {
        self.runs
            .iter()
            .filter(|r| r.reason.as_deref() == Some(TIMEOUT))
            .map(|r| r.run_id.as_str())
            .collect()
    }

    /// Lost runs that ended because the target's disk was full, in runs.tsv order.
    pub fn disk_full_runs(&self) -> Vec<&RunState> {
        self.runs
            .iter()
            .filter(|r| r.reason.as_deref() == Some("disk_full"))
            .collect()
    }

    /// The runs stopped by a full disk (`run X`, or `N runs (X, Y, ...)`), the record whose
    /// write failed first among them, and how many there are.
    fn disk_full_who(&self) -> Option<(String, &str, usize)> {
        let runs = self.disk_full_runs();
        let first = runs.first()?;
        let who = if runs.len() == 1 {
            format!("run {}", first.run_id)
        } else {
            let mut ids: Vec<&str> = runs.iter().take(NAMED).map(|r| r.run_id.as_str()).collect();
            if runs.len() > NAMED {
                ids.push("...");
            }
            format!("{} runs ({})", runs.len(), ids.join(", "))
        };
        let write = first.failed_write.as_deref().unwrap_or("a record");
        Some((who, write, runs.len()))
    }

    /// `run X: the target's disk is full (write of exit_code failed: No space left on device);
    /// free space on OUT then resume ...`, when some run was stopped by a full disk (what P70
    /// reports).
    pub fn disk_full_note(&self, out: &str) -> Option<String> {
        let (who, write, n) = self.disk_full_who()?;
        Some(format!(
            "{who}: the target's disk is full (write of {write} failed: No space left on device); free space on {out} then resume with SWEEP_RETRY_LOST=1 and --provision skip --sweep resume to run {} again",
            if n == 1 { "it" } else { "them" }
        ))
    }

    /// `run X ended because the target's disk was full (write of exit_code failed: No space
    /// left on device)`: the same, told later (what P60 reports of the lost runs it found).
    pub fn disk_full_past(&self) -> Option<String> {
        let (who, write, _) = self.disk_full_who()?;
        Some(format!(
            "{who} ended because the target's disk was full (write of {write} failed: No space left on device)"
        ))
    }

    /// `3/8 done, 1 failed, 2 running` (plus pending and lost when non-zero).
    pub fn progress_line(&self) -> String {
        let mut line = format!(
            "sweep: {}/{} done, {} failed, {} running",
            self.done(),
            self.total,
            self.failed,
            self.running
        );
        if self.pending > 0 {
            line.push_str(&format!(", {} pending", self.pending));
        }
        if self.lost > 0 {
            line.push_str(&format!(", {} lost", self.lost));
        }
        let timed_out = self.timed_out_ids().len();
        if timed_out > 0 {
            line.push_str(&format!(" ({timed_out} of the failed timed out)"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"total":3,"ok":1,"failed":1,"running":0,"pending":0,"lost":1,"runner_alive":false,
        "runs":[{"run_id":"a","state":"ok","exit_code":0},{"run_id":"b","state":"failed","exit_code":2},
                {"run_id":"c","state":"lost","exit_code":null}]}"#;

    #[test]
    fn parses_a_consistent_status() {
        let s = parse(GOOD).unwrap();
        assert!(s.complete());
        assert_eq!(s.done(), 3);
        assert_eq!(s.failed_ids(), vec!["b", "c"]);
        assert_eq!(s.claimed_ids(), vec!["a", "b", "c"]);
        assert_eq!(
            s.progress_line(),
            "sweep: 3/3 done, 1 failed, 0 running, 1 lost"
        );
    }

    #[test]
    fn slurm_states_label_the_failures() {
        let text = r#"{"backend":"slurm","total":4,"ok":1,"failed":2,"running":0,"pending":0,"lost":1,"runner_alive":false,
            "runs":[{"run_id":"a","state":"ok","exit_code":0,"slurm_state":"COMPLETED","slurm_job":"12_0"},
                    {"run_id":"b","state":"failed","exit_code":3,"slurm_state":"FAILED","slurm_job":"12_1"},
                    {"run_id":"c","state":"failed","exit_code":null,"slurm_state":"TIMEOUT","slurm_job":"12_2"},
                    {"run_id":"d","state":"lost","exit_code":null,"slurm_state":"NODE_FAIL"}]}"#;
        let s = parse(text).unwrap();
        assert_eq!(s.backend.as_deref(), Some("slurm"));
        assert_eq!(s.failed_labels(), ["b (FAILED, exit 3)", "c (TIMEOUT)", "d (NODE_FAIL)"]);
        assert_eq!(s.slurm_state_counts().as_deref(), Some("COMPLETED=1,FAILED=1,NODE_FAIL=1,TIMEOUT=1"));
        // The runner's status has neither.
        let runner = parse(GOOD).unwrap();
        assert_eq!(runner.failed_labels(), ["b", "c"]);
        assert_eq!(runner.slurm_state_counts(), None);
        assert_eq!(runner.backend, None);
        for (good, bad) in [
            (r#""slurm_state":"TIMEOUT""#, r#""slurm_state":"timeout""#),
            (r#""slurm_state":"TIMEOUT""#, r#""slurm_state":"""#),
            (r#""slurm_job":"12_2""#, r#""slurm_job":"12-2""#),
        ] {
            let e = parse(&text.replace(good, bad)).unwrap_err();
            assert!(e.contains("unreadable Slurm state"), "{bad}: {e}");
        }
    }

    #[test]
    fn refuses_garbage_and_inconsistency() {
        assert!(parse("").is_err());
        assert!(parse("runner=started").is_err());
        assert!(parse(&GOOD.replace("\"total\":3", "\"total\":4"))
            .unwrap_err()
            .contains("inconsistent"));
        assert!(
            parse(&GOOD.replace("\"state\":\"ok\"", "\"state\":\"weird\""))
                .unwrap_err()
                .contains("unknown state")
        );
        assert!(
            parse(&GOOD.replace("\"state\":\"ok\"", "\"state\":\"failed\""))
                .unwrap_err()
                .contains("lists")
        );
        assert!(parse(&GOOD.replace("\"ok\":1", "\"ok\":-1")).is_err());
    }

    /// GOOD with run c lost for `reason`, its failed write being `write`.
    fn with_reason(reason: &str, write: &str) -> String {
        GOOD.replace(
            r#"{"run_id":"c","state":"lost","exit_code":null}"#,
            &format!(
                r#"{{"run_id":"c","state":"lost","exit_code":null,"reason":"{reason}","failed_write":"{write}"}}"#
            ),
        )
    }

    #[test]
    fn a_run_stopped_by_a_full_disk_is_named_with_its_cause() {
        let s = parse(&with_reason("disk_full", "exit_code")).unwrap();
        assert_eq!(s.disk_full_runs().len(), 1);
        assert_eq!(s.failed_ids(), vec!["b", "c"], "it still counts as lost");
        assert_eq!(
            s.disk_full_note("/mnt/outputs").unwrap(),
            "run c: the target's disk is full (write of exit_code failed: No space left on device); \
             free space on /mnt/outputs then resume with SWEEP_RETRY_LOST=1 and --provision skip \
             --sweep resume to run it again"
        );
        assert_eq!(parse(GOOD).unwrap().disk_full_note("/o"), None);
        assert_eq!(
            s.disk_full_past().unwrap(),
            "run c ended because the target's disk was full (write of exit_code failed: No space left on device)"
        );
        // Only the known reason, on a lost run, naming a record the runner writes.
        for (reason, write) in [("flood", "exit_code"), ("disk_full", "summary.json")] {
            let e = parse(&with_reason(reason, write)).unwrap_err();
            assert!(e.contains("unknown reason"), "{e}");
        }
        let on_ok = with_reason("disk_full", "pid").replace(
            r#"{"run_id":"a","state":"ok","exit_code":0}"#,
            r#"{"run_id":"a","state":"ok","exit_code":0,"reason":"disk_full","failed_write":"pid"}"#,
        );
        assert!(parse(&on_ok).unwrap_err().contains("run a"));
    }

    #[test]
    fn a_run_stopped_at_its_time_limit_is_failed_with_the_reason_timeout() {
        let timed = GOOD.replace(
            r#"{"run_id":"b","state":"failed","exit_code":2}"#,
            r#"{"run_id":"b","state":"failed","exit_code":143,"reason":"timeout"}"#,
        );
        let s = parse(&timed).unwrap();
        assert_eq!(s.timed_out_ids(), vec!["b"]);
        assert_eq!(s.failed_ids(), vec!["b", "c"]);
        assert!(s.progress_line().ends_with("1 lost (1 of the failed timed out)"), "{}", s.progress_line());
        assert!(parse(GOOD).unwrap().timed_out_ids().is_empty());
        // Only on a failed run, and without a failed write.
        let on_ok = GOOD.replace(
            r#"{"run_id":"a","state":"ok","exit_code":0}"#,
            r#"{"run_id":"a","state":"ok","exit_code":0,"reason":"timeout"}"#,
        );
        assert!(parse(&on_ok).unwrap_err().contains("run a"));
        let with_write = timed.replace(r#""reason":"timeout""#, r#""reason":"timeout","failed_write":"pid""#);
        assert!(parse(&with_write).unwrap_err().contains("run b"));
    }

    #[test]
    fn many_runs_stopped_by_a_full_disk_are_counted_past_the_first_five() {
        let runs: Vec<String> = (0..7)
            .map(|i| format!(r#"{{"run_id":"d{i}","state":"lost","exit_code":null,"reason":"disk_full","failed_write":"pid"}}"#))
            .collect();
        let text = format!(
            r#"{{"total":7,"ok":0,"failed":0,"running":0,"pending":0,"lost":7,"runner_alive":false,"runs":[{}]}}"#,
            runs.join(",")
        );
        let note = parse(&text).unwrap().disk_full_note("/o").unwrap();
        assert!(
            note.starts_with(
                "7 runs (d0, d1, d2, d3, d4, ...): the target's disk is full (write of pid failed"
            ),
            "{note}"
        );
        assert!(note.ends_with("to run them again"), "{note}");
    }
}
