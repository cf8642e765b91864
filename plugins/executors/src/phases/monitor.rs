//! P70 MONITOR: read the sweep status (one exec of `status.sh` per poll).
//!
//! - `--wait false`: one snapshot, status ok.
//! - `--wait true`: poll every WF_MONITOR_POLL_SECS (fractions allowed: 0.2), backing off (doubling while nothing
//!   changes) up to ten times that, until nothing runs or waits and the runner is gone; then any
//!   failed or lost run fails the phase with 402 naming them. Past WF_MONITOR_TIMEOUT_SECS: 403.
//!   A runner that died with runs still pending (seen twice) fails with 401: resume the sweep.
//!   Runs that ended because the target's disk was full (status.sh's `disk_full` reason) are
//!   named first in either failure, with the record whose write failed and what to do.
//!   Up to three unreadable polls in a row are tolerated; more fail with 405. A call the host
//!   refuses is not retried.
//!
//! Progress lines go through `log` (`sweep: 3/8 done, 1 failed, 2 running`), and every status
//! read as structured progress (`Act::progress`: the counts, for the host's bar). Facts: `total`,
//! `ok`, `failed`, `running`, `pending`, `lost` (disjoint: total = ok + failed + running +
//! pending + lost), `complete`, `runner_alive`, `failed_runs`, `timed_out` and `timed_out_runs`
//! (the failed runs stopped at RUN_TIMEOUT_SECS), `polls` and `fsm_state`:
//! SWEEP_COMPLETED when complete without failures, SWEEP_FAILED when complete with failures,
//! else SWEEP_RUNNING.

use super::{remote_path, slurm_array};
use crate::context::{config, Defaults, PhaseContext};
use crate::host::{ActionClass, GatewayError, Host, Level};
use crate::outcome::{code, Act, Failure, Outcome, PhaseResult, Status};
use crate::scripts::{self, NO_SWEEP_RC};
use crate::status::{self, SweepStatus};
use wfhost_pack_sdk::records::SweepMode;
use wfhost_pack_sdk::text::last_line;

const STATUS_TIMEOUT_MS: u64 = 60_000;
const MAX_UNREADABLE_IN_A_ROW: u32 = 3;
const FAILED_IDS_SHOWN: usize = 10;

/// Run P70.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::MONITOR_UNREADABLE);
    let r = body(&mut act);
    act.finish(r)
}

/// Why one status read gave no status.
pub(crate) enum SnapshotError {
    /// There is no sweep on the target.
    NoSweep(String),
    /// The reply could not be read or parsed (maybe transient).
    Unreadable(String),
    /// The gateway failed.
    Gateway(GatewayError),
}

/// One exec of status.sh.
pub(crate) fn snapshot<H: Host>(
    act: &mut Act<'_, H>,
    out_r: &str,
) -> Result<Result<SweepStatus, SnapshotError>, Failure> {
    let res = match act.exec_raw(
        "reading the sweep status",
        &scripts::status_command(out_r),
        None,
        &[],
        STATUS_TIMEOUT_MS,
        ActionClass::Read,
    )? {
        Ok(res) => res,
        Err(e) => return Ok(Err(SnapshotError::Gateway(e))),
    };
    if res.timed_out {
        return Ok(Err(SnapshotError::Unreadable(format!(
            "status.sh gave no answer within {} s",
            STATUS_TIMEOUT_MS / 1000
        ))));
    }
    match res.exit_code {
        Some(0) => Ok(status::parse(&res.stdout).map_err(SnapshotError::Unreadable)),
        Some(NO_SWEEP_RC) => Ok(Err(SnapshotError::NoSweep(
            last_line(&res.stderr).to_string(),
        ))),
        other => Ok(Err(SnapshotError::Unreadable(format!(
            "status.sh failed ({}): {}",
            other
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "killed".into()),
            last_line(&res.stderr)
        )))),
    }
}

/// Record the counts of `s` as facts.
fn set_facts<H: Host>(act: &mut Act<'_, H>, s: &SweepStatus) {
    act.facts.set("total", s.total);
    act.facts.set("ok", s.ok);
    act.facts.set("failed", s.failed);
    act.facts.set("running", s.running);
    act.facts.set("pending", s.pending);
    act.facts.set("lost", s.lost);
    act.facts.set("runner_alive", s.runner_alive);
    act.facts.set("complete", s.complete());
    act.facts.set("failed_runs", s.failed_ids().join(","));
    let timed_out = s.timed_out_ids();
    act.facts.set("timed_out", timed_out.len());
    act.facts.set("timed_out_runs", timed_out.join(","));
    if let Some(counts) = s.slurm_state_counts() {
        act.facts.set("slurm_states", counts);
    }
    let fsm = match (s.complete(), s.failed + s.lost) {
        (true, 0) => "SWEEP_COMPLETED",
        (true, _) => "SWEEP_FAILED",
        (false, _) => "SWEEP_RUNNING",
    };
    act.facts.set("fsm_state", fsm);
    act.progress(serde_json::json!({
        "total": s.total, "ok": s.ok, "failed": s.failed, "running": s.running, "pending": s.pending, "lost": s.lost,
    }));
}

fn named_failures(s: &SweepStatus) -> String {
    let ids = s.failed_labels();
    let mut shown = ids
        .iter()
        .take(FAILED_IDS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > FAILED_IDS_SHOWN {
        shown.push_str(&format!(" and {} more", ids.len() - FAILED_IDS_SHOWN));
    }
    shown
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    let out = remote_path(
        act.ctx,
        config::OPS_REMOTE_OUTPUTS_DIR,
        code::MONITOR_UNREADABLE,
    )?;
    let wait = act.ctx.flow_flags.wait;
    let out_r = act.resolve(&out)?;

    // `--sweep skip` on a target that never had a sweep: nothing to monitor. With a sweep
    // start or resume in this flow, a missing sweep is a real failure (405 below).
    if act.ctx.flow_flags.sweep == SweepMode::Skip {
        if let Err(SnapshotError::NoSweep(m)) = snapshot(act, &out_r)? {
            return Ok((
                Status::Skip,
                format!("no sweep on the target to monitor ({m}); --sweep skip"),
            ));
        }
    }

    if !wait {
        let s = match snapshot(act, &out_r)? {
            Ok(s) => s,
            Err(e) => return Err(snapshot_failure(act, &out, e)),
        };
        set_facts(act, &s);
        act.facts.set("polls", 1);
        act.log(Level::Info, &s.progress_line());
        let mut message = format!("{} (snapshot; --wait false)", s.progress_line());
        if let Some(note) = s.disk_full_note(&out) {
            act.log(Level::Warn, &note);
            message.push_str(&format!("; {note}"));
        }
        return Ok((Status::Ok, message));
    }

    let poll_ms = act.ctx.millis(act.host, config::WF_MONITOR_POLL_SECS);
    let timeout_s = act.ctx.secs(act.host, config::WF_MONITOR_TIMEOUT_SECS);
    let deadline = act
        .host
        .now_ms()
        .saturating_add(timeout_s.saturating_mul(1000));
    let mut interval = poll_ms;
    let mut polls = 0u64;
    let mut unreadable = 0u32;
    let mut stalled = 0u32;
    let mut last: Option<SweepStatus> = None;
    loop {
        polls += 1;
        act.facts.set("polls", polls);
        match snapshot(act, &out_r)? {
            Ok(s) => {
                unreadable = 0;
                set_facts(act, &s);
                let changed = last
                    .as_ref()
                    .map(|l| {
                        (l.ok, l.failed, l.running, l.pending, l.lost)
                            != (s.ok, s.failed, s.running, s.pending, s.lost)
                    })
                    .unwrap_or(true);
                if changed {
                    act.log(Level::Info, &s.progress_line());
                    interval = poll_ms;
                } else {
                    interval = interval.saturating_mul(2).min(poll_ms.saturating_mul(10));
                }
                if s.complete() {
                    let bad = s.failed + s.lost;
                    if bad > 0 {
                        let mut message = format!(
                            "{bad} of {} runs failed: {}; fetch them with --fetch run:<id> and read their _wf/stderr.log",
                            s.total,
                            named_failures(&s)
                        );
                        if let Some(note) = s.disk_full_note(&out) {
                            message = format!("{note}; {message}");
                        }
                        let timed_out = s.timed_out_ids();
                        if !timed_out.is_empty() {
                            message.push_str(&format!(
                                "; {} of them timed out (stopped at RUN_TIMEOUT_SECS): {}",
                                timed_out.len(),
                                timed_out.join(", ")
                            ));
                        }
                        let other_lost = s.lost.saturating_sub(s.disk_full_runs().len() as u64);
                        if other_lost > 0 {
                            message.push_str(&format!(
                                "; {other_lost} of them lost (ended without an exit code: killed, or the pod restarted): to run those again, set SWEEP_RETRY_LOST=1 and rerun with --provision skip --sweep resume"
                            ));
                        }
                        return Err(Failure::new(code::RUNS_FAILED, message));
                    }
                    return Ok((
                        Status::Ok,
                        format!("sweep complete: {} of {} runs ok", s.ok, s.total),
                    ));
                }
                if !s.runner_alive && s.running == 0 && s.pending > 0 {
                    stalled += 1;
                    if stalled >= 2 {
                        if s.backend.as_deref() == Some(slurm_array::SLURM) {
                            return Err(slurm_array::stalled(&s));
                        }
                        if let Some(note) = s.disk_full_note(&out) {
                            return Err(Failure::new(
                                code::SWEEP_LAUNCH_FAILED,
                                format!(
                                    "the runner stopped with {} run(s) still pending: {note}",
                                    s.pending
                                ),
                            ));
                        }
                        return Err(Failure::new(
                            code::SWEEP_LAUNCH_FAILED,
                            format!(
                                "the runner is gone with {} run(s) still pending; read {out}/_sweep/runner.log and relaunch with --provision skip --sweep resume",
                                s.pending
                            ),
                        ));
                    }
                } else {
                    stalled = 0;
                }
                last = Some(s);
            }
            Err(e) => {
                unreadable += 1;
                let detail = match &e {
                    SnapshotError::NoSweep(m) | SnapshotError::Unreadable(m) => m.clone(),
                    SnapshotError::Gateway(g) => g.to_string(),
                };
                act.note(
                    "status unreadable",
                    serde_json::json!({"poll": polls, "detail": detail}),
                );
                // A refusal is the host's decision (a capability, a flow being stopped): asking
                // again gets the same answer, so it ends the wait at once.
                let refused = matches!(e, SnapshotError::Gateway(GatewayError::Refused(_)));
                if refused || matches!(e, SnapshotError::NoSweep(_)) || unreadable >= MAX_UNREADABLE_IN_A_ROW {
                    return Err(snapshot_failure(act, &out, e));
                }
                act.log(
                    Level::Warn,
                    &format!("sweep status unreadable ({detail}); retrying"),
                );
            }
        }
        let now = act.host.now_ms();
        if now >= deadline {
            let progress = last
                .as_ref()
                .map(|s| s.progress_line())
                .unwrap_or_else(|| "no status read".into());
            return Err(Failure::new(
                code::MONITOR_TIMEOUT,
                format!("the sweep did not finish within WF_MONITOR_TIMEOUT_SECS={timeout_s} ({progress}); keep waiting with --sweep skip --wait true"),
            ));
        }
        act.host.sleep_ms(interval.min(deadline - now));
    }
}

fn snapshot_failure<H: Host>(act: &mut Act<'_, H>, out: &str, e: SnapshotError) -> Failure {
    match e {
        SnapshotError::NoSweep(m) => Failure::new(
            code::MONITOR_UNREADABLE,
            format!("there is no sweep on the target to monitor ({m}); start one with --sweep start"),
        ),
        SnapshotError::Unreadable(m) => Failure::new(
            code::MONITOR_UNREADABLE,
            format!("the sweep status in {out} could not be read: {m}; run `wfhost sweep-status` to see the raw reply"),
        ),
        SnapshotError::Gateway(g) => act.gateway_failure("reading the sweep status", &g),
    }
}
