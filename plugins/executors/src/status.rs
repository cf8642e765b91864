//! The sweep status as `status.sh` prints it, parsed and checked.
//!
//! One exec of `status.sh` prints one JSON object; [`parse`] turns it into a [`SweepStatus`]
//! and refuses anything inconsistent (counts that do not add up, unknown states), so P70 and
//! P80 never act on a half-written or foreign reply.

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
}

const STATES: [&str; 5] = ["pending", "running", "ok", "failed", "lost"];

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

    /// IDs of runs that were claimed (every state but pending).
    pub fn claimed_ids(&self) -> Vec<&str> {
        self.runs
            .iter()
            .filter(|r| r.state != "pending")
            .map(|r| r.run_id.as_str())
            .collect()
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
}
