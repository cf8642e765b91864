//! The Slurm job-array backend of the sweep, for the phases that act on the sweep.
//!
//! A transport whose targets are Slurm submit hosts says so through its profile: the executor
//! setting `WF_SWEEP_BACKEND = "slurm"` ([`Backend::of`]). Then:
//!
//! - P60 ([`Plan`], called by `sweep`): the sbatch options are built from the config and checked
//!   before anything is written ([`crate::slurm::sbatch_options`]); the Slurm scripts are
//!   installed instead of the runner (`_sweep/status.sh` is the Slurm status, so P70, P80 and
//!   `wfhost sweep-status` read it as they read the runner's); the manifest and run commands are
//!   written as for the runner; then ONE job array is submitted (`submit.sh submit`) holding
//!   every run with neither a result nor a live task (with SWEEP_RETRY_LOST=1, lost runs too),
//!   throttled to SWEEP_MAX_PARALLEL. The array id, the job name, the number of tasks, the map
//!   (task i runs run ids[i]) with its sha256 and path are the phase's facts, the map itself a
//!   step of its details.
//! - P70 reads the same status object (one squeue call plus the result files); the failures it
//!   names carry their Slurm state and exit code ([`crate::status::RunState::label`]), and a
//!   sweep with runs but no live task says to resubmit ([`stalled`]).
//! - P90 ([`teardown`]): `--teardown delete` cancels the sweep's own arrays (found by their job
//!   names) and reports `deleted=true` (what the flow had on the cluster is gone; the cluster
//!   and the submit host stay); `--teardown keep` leaves them queued or running.

use crate::host::{ActionClass, Host, Level};
use crate::outcome::{code, Act, Failure, PhaseResult, Status};
use crate::slurm::{self, Submitted};
use crate::status::SweepStatus;
use serde_json::json;
use sha2::{Digest, Sha256};
use wfhost_pack_sdk::path::join;
use wfhost_pack_sdk::records::TeardownMode;

/// The executor setting a transport's profile declares to choose the sweep backend.
pub const BACKEND_SETTING: &str = "WF_SWEEP_BACKEND";
/// Its value for Slurm job arrays.
pub const SLURM: &str = "slurm";

const SUBMIT_TIMEOUT_MS: u64 = 300_000;
const CANCEL_TIMEOUT_MS: u64 = 120_000;

/// How the sweep's runs are started and watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The detached runner on the target (`runner.sh`).
    Runner,
    /// One Slurm job array per submission.
    SlurmArray,
}

impl Backend {
    /// The backend the transport's profile asks for (unset: the runner). An unknown value fails
    /// with `code`.
    pub fn of<H: Host>(host: &H, code: u16) -> Result<Backend, Failure> {
        match host.setting(BACKEND_SETTING).as_deref().map(str::trim) {
            None | Some("") | Some("runner") => Ok(Backend::Runner),
            Some(SLURM) => Ok(Backend::SlurmArray),
            Some(other) => Err(Failure::new(
                code,
                format!("the transport asks for the sweep backend {other:?} ({BACKEND_SETTING}), which this executor does not have (it has runner and slurm); use a transport and executor that go together"),
            )),
        }
    }
}

/// P60 on Slurm: the checked sbatch options, known before anything is written.
pub struct Plan {
    options: Vec<String>,
}

/// What P60 decided before the submission.
pub struct Launch<'a> {
    /// OPS_REMOTE_OUTPUTS_DIR as configured (for messages).
    pub out: &'a str,
    /// It, resolved on the target.
    pub out_r: &'a str,
    /// The checkout, resolved on the target.
    pub repo_r: &'a str,
    /// SWEEP_MAX_PARALLEL.
    pub max_parallel: u32,
    /// The submission's token (safe name; the job name is `wfhost-TOKEN`).
    pub token: &'a str,
    /// SWEEP_RETRY_LOST.
    pub retry_lost: bool,
    /// `start`, `resume` or `replace`.
    pub mode: &'a str,
    /// Runs in the manifest's selection.
    pub selected: u64,
}

impl Plan {
    /// The plan of P60 when the backend is Slurm, `None` for the runner. Bad SLURM_* values fail
    /// with 401 here, before anything is written on the target.
    pub fn for_phase<H: Host>(act: &mut Act<'_, H>) -> Result<Option<Plan>, Failure> {
        if Backend::of(act.host, code::SWEEP_LAUNCH_FAILED)? != Backend::SlurmArray {
            return Ok(None);
        }
        act.facts.set("sweep_backend", SLURM);
        let options = slurm::sbatch_options(act.ctx).map_err(|e| {
            Failure::new(
                code::SWEEP_LAUNCH_FAILED,
                format!("{e}; fix it in the config (nothing was submitted)"),
            )
        })?;
        act.facts.set("sbatch_options", options.join(" "));
        Ok(Some(Plan { options }))
    }

    /// Install the Slurm scripts under `sweep` (OUT/_sweep): the status, the task and the
    /// submission script. Stateless, refreshed every time, as the runner's.
    pub fn install<H: Host>(&self, act: &mut Act<'_, H>, sweep: &str) -> Result<(), Failure> {
        act.put(&join(sweep, "status.sh"), slurm::STATUS_SH.as_bytes(), 0o755)?;
        act.put(&join(sweep, "slurm/task.sh"), slurm::TASK_SH.as_bytes(), 0o755)?;
        act.put(&join(sweep, "slurm/submit.sh"), slurm::SUBMIT_SH.as_bytes(), 0o755)
    }

    /// Submit the runs that need it as one job array; the phase's result.
    pub fn submit<H: Host>(&self, act: &mut Act<'_, H>, l: &Launch<'_>) -> PhaseResult {
        let res = act.exec(
            "submitting the job array",
            &slurm::submit_command(
                l.out_r,
                l.repo_r,
                l.token,
                l.max_parallel,
                l.retry_lost,
                &self.options,
            ),
            None,
            &[],
            SUBMIT_TIMEOUT_MS,
            ActionClass::WriteExternalSideEffect,
        )?;
        let said = wfhost_pack_sdk::text::last_line(&res.stderr).to_string();
        if res.timed_out {
            return Err(Failure::new(
                code::COMMAND_TIMEOUT_4XX,
                format!("the submission did not answer within {} s; check the cluster (`squeue`), then rerun with --provision skip --sweep resume: runs with a live task are never submitted again", SUBMIT_TIMEOUT_MS / 1000),
            ));
        }
        match res.exit_code {
            Some(0) => {}
            Some(slurm::NO_ANSWER_RC) => {
                return Err(Failure::new(
                    code::SWEEP_LAUNCH_FAILED,
                    format!("nothing was submitted: the Slurm controller does not answer, so which runs still have a task is unknown ({said}); rerun with --provision skip --sweep resume once `scontrol ping` answers"),
                ))
            }
            other => {
                return Err(Failure::new(
                    code::SWEEP_LAUNCH_FAILED,
                    format!(
                        "the job array was not submitted ({}): {said}; fix the cause and rerun with --provision skip --sweep resume",
                        other.map(|c| format!("exit {c}")).unwrap_or_else(|| "killed".into())
                    ),
                ))
            }
        }
        let s = Submitted::parse(&res.stdout).ok_or_else(|| {
            Failure::new(
                code::SWEEP_LAUNCH_FAILED,
                format!(
                    "the submission answered {:?}; read {}/_sweep/slurm/ on the submit host",
                    wfhost_pack_sdk::text::last_line(&res.stdout),
                    l.out
                ),
            )
        })?;
        let map_path = join(l.out, &format!("_sweep/slurm/{}.map", s.token));
        let map = s.map_text();
        let sha: String = Sha256::digest(map.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let f = &mut act.facts;
        f.set("slurm_array_id", s.array.as_deref().unwrap_or("none"));
        f.set("slurm_job_name", format!("wfhost-{}", s.token));
        f.set("slurm_tasks", s.tasks);
        f.set("slurm_map", &map_path);
        f.set("slurm_map_sha256", &sha);
        f.set("runs_selected", l.selected);
        f.set("runs_started", s.tasks);
        f.set("runs_live_at_launch", s.live);
        f.set("runs_finished_at_launch", s.finished);
        f.set("runs_already_claimed", s.finished + s.lost_kept);
        f.set("retry_lost", l.retry_lost);
        f.set("runs_lost_kept", s.lost_kept);
        f.set("runs_restarted", s.requeued.len());
        f.set("restarted_runs", s.requeued.join(","));
        act.note(
            "job array map",
            json!({
                "array_id": s.array,
                "job_name": format!("wfhost-{}", s.token),
                "map": map_path,
                "sha256": sha,
                "tasks": s.ids,
            }),
        );
        let mut message = match &s.array {
            Some(id) => format!(
                "sweep {}: {} run(s) selected; job array {id} (wfhost-{}) submitted with {} task(s), at most {} at once; {} run(s) already queued or running, {} finished",
                l.mode, l.selected, s.token, s.tasks, l.max_parallel, s.live, s.finished
            ),
            None => format!(
                "sweep {}: {} run(s) selected; nothing to submit: {} run(s) already queued or running, {} finished",
                l.mode, l.selected, s.live, s.finished
            ),
        };
        if !s.requeued.is_empty() {
            message.push_str(&format!(
                "; {} lost run(s) submitted again: {}",
                s.requeued.len(),
                s.requeued.join(", ")
            ));
        }
        if s.lost_kept > 0 {
            let note = format!(
                "{} lost run(s) (started, no exit code, no live task) stay as they are; set SWEEP_RETRY_LOST=1 and rerun with --provision skip --sweep resume to submit them again",
                s.lost_kept
            );
            act.log(Level::Warn, &note);
            message.push_str(&format!("; {note}"));
        }
        act.log(Level::Info, &message);
        Ok((Status::Ok, message))
    }
}

/// P70's failure when the sweep has pending runs and no task left to run them.
pub fn stalled(s: &SweepStatus) -> Failure {
    Failure::new(
        code::SWEEP_LAUNCH_FAILED,
        format!(
            "no task of the sweep is queued or running but {} run(s) wait for one (never submitted); submit them with --provision skip --sweep resume",
            s.pending
        ),
    )
}

/// P90 on Slurm: cancel the sweep's own arrays with `--teardown delete`, leave them with `keep`.
pub fn teardown<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    act.facts.set("deleted", false);
    act.facts.set("sweep_backend", SLURM);
    let target = act.target()?;
    match act.ctx.flow_flags.teardown {
        TeardownMode::Keep => Ok((Status::Ok, format!("the sweep's jobs on {target} are left as they are (queued, running or done); cancel them later with --provision skip --sweep skip --teardown delete"))),
        TeardownMode::Delete => cancel(act, &target),
    }
}

fn cancel<H: Host>(act: &mut Act<'_, H>, target: &str) -> PhaseResult {
    let out = super::remote_path(act.ctx, crate::context::config::OPS_REMOTE_OUTPUTS_DIR, code::TEARDOWN_FAILED)?;
    let out_r = act.resolve(&out)?;
    act.log(Level::Info, &format!("cancelling the sweep's jobs on {target}"));
    let res = act.exec_ok(
        "cancelling the sweep's job arrays",
        &slurm::cancel_command(&out_r),
        None,
        &[],
        CANCEL_TIMEOUT_MS,
        ActionClass::WriteExternalSideEffect,
        code::TEARDOWN_FAILED,
        &format!("the jobs may still be queued: list them with `squeue -n` and the names in {out}/_sweep/slurm/subs.tsv"),
    )?;
    let (arrays, tasks) = slurm::parse_cancelled(&res.stdout).ok_or_else(|| {
        Failure::new(
            code::TEARDOWN_FAILED,
            format!("the cancellation answered {:?}", res.stdout.trim()),
        )
    })?;
    act.facts.set("deleted", true);
    act.facts.set("cancelled_arrays", arrays.join(","));
    act.facts.set("tasks_cancelled", tasks);
    if arrays.is_empty() {
        return Ok((
            Status::Ok,
            format!("no job of the sweep was queued or running on {target}; nothing to cancel (the cluster and the submit host are left as they are)"),
        ));
    }
    Ok((
        Status::Ok,
        format!(
            "cancelled the sweep's job array(s) {} ({tasks} task(s) queued or running) on {target}; the cluster and the submit host are left as they are",
            arrays.join(", ")
        ),
    ))
}
