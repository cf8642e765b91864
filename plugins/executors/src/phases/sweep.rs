//! P60 SWEEP: install the runner and status scripts, record the manifest, write each unclaimed
//! run's command, and launch the detached runner (remote-layout: `_manifests/`, `_sweep/`,
//! `runs/<id>/_wf/`).
//!
//! Modes (fact `mode`):
//! - `start`: no sweep on the target yet;
//! - `resume`: the target holds the same manifest (sha256), or `--sweep resume` without new
//!   inputs: claimed runs are never touched, unclaimed ones run;
//! - `replace`: `--sweep start` with a different manifest while nothing runs: `runs.tsv` is
//!   replaced. Run directories are never archived or deleted: a run whose ID was already
//!   claimed under the old manifest keeps its results and is not run again (give a changed run a
//!   new ID to run it). With a runner or a run still alive this fails with 401 instead.
//!
//! `--sweep resume` on a target with no `_sweep/runs.tsv` fails with 404.
//!
//! Lost runs (claimed, no exit code, no process of them alive: killed, or the machine
//! restarted) stay lost unless `SWEEP_RETRY_LOST=1`: then a runner that starts requeues them
//! first (their earlier attempt's files move to `runs/<id>/_wf/attempts/<n>/`) and runs them
//! again. A runner that is still alive is never replaced, so with one alive the lost runs wait
//! for the next resume; the phase says so.
//!
//! Facts: `manifest_sha256`, `runs_selected`, `runs_started` (runs handed to the runner by this
//! launch, i.e. pending at launch: they start as slots free up), `runs_pending_at_launch`,
//! `runs_already_claimed`, `mode`, `runner` (started|already-running), `runner_pid`,
//! `retry_lost`, `runs_lost_at_launch`, `runs_restarted`, `restarted_runs`, and the per-run
//! limits written to `_sweep/options` for the runner: `run_timeout_secs` (RUN_TIMEOUT_SECS),
//! `gpus`, `gpu_count`, `gpus_source` (the target's GPUs, [`crate::gpus`]), `gpus_per_run`
//! (WF_GPUS_PER_RUN: more than the target has fails with 401) and `gpu_slots`.

use super::{remote_path, skip, slurm_array};
use crate::context::{config, Defaults, PhaseContext};
use crate::host::{ActionClass, Host, Level};
use crate::outcome::{code, Act, Failure, Outcome, PhaseResult, Status};
use crate::scripts::{self, Launched, RunSpec};
use crate::status::{self, SweepStatus};
use serde_json::json;
use wfhost_pack_sdk::kv::parse_bool;
use wfhost_pack_sdk::records::SweepMode;
use wfhost_pack_sdk::path::{join, validate_segment};

const QUICK_TIMEOUT_MS: u64 = 60_000;
const PREPARE_TIMEOUT_MS: u64 = 300_000;

/// Run P60.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::SWEEP_LAUNCH_FAILED);
    let r = body(&mut act);
    act.finish(r)
}

/// What is on the target before this launch.
enum Existing {
    None,
    Sweep { sha: String, status: SweepStatus },
}

/// Parse and check `runs_json`: a non-empty array of unique, safe run IDs with commands.
pub fn parse_runs(text: &str) -> Result<Vec<RunSpec>, String> {
    let runs: Vec<RunSpec> = serde_json::from_str(text)
        .map_err(|e| format!("runs_json is not a list of {{run_id, command}}: {e}"))?;
    if runs.is_empty() {
        return Err("no run is selected (check SWEEP_MATCH and SWEEP_START_AT)".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &runs {
        validate_segment(&r.run_id).map_err(|e| format!("run_id {:?}: {e}", r.run_id))?;
        if !seen.insert(r.run_id.as_str()) {
            return Err(format!("run_id {:?} appears twice", r.run_id));
        }
        if r.command.trim().is_empty() {
            return Err(format!("run {} has an empty command", r.run_id));
        }
    }
    Ok(runs)
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn safe_name<'s>(what: &str, s: &'s str) -> Result<&'s str, Failure> {
    validate_segment(s).map_err(|e| {
        Failure::new(code::SWEEP_LAUNCH_FAILED, format!("the host input {what}={s:?} cannot name a file ({e}); this is a wfhost bug, report it"))
    })
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    let mode = act.ctx.flow_flags.sweep;
    if mode == SweepMode::Skip {
        return skip("--sweep skip: no run is started");
    }
    let out = remote_path(
        act.ctx,
        config::OPS_REMOTE_OUTPUTS_DIR,
        code::SWEEP_LAUNCH_FAILED,
    )?;
    let repo = remote_path(
        act.ctx,
        config::REMOTE_REPO_DIR,
        code::SWEEP_LAUNCH_FAILED,
    )?;
    let maxp_key = config::SWEEP_MAX_PARALLEL;
    let maxp_raw = act
        .ctx
        .config(maxp_key.name)
        .map_or_else(|| maxp_key.default.to_string(), str::to_string);
    let maxp = match maxp_raw.parse::<u32>() {
        Ok(n) if n >= 1 => n,
        _ => {
            return Err(Failure::new(
                code::SWEEP_LAUNCH_FAILED,
                format!(
                "SWEEP_MAX_PARALLEL={maxp_raw:?} is not a positive integer; fix it in the config"
            ),
            ))
        }
    };
    // Slurm: the checked sbatch options, before anything is written (phases/slurm_array.rs).
    let array = slurm_array::Plan::for_phase(act)?;
    let ts = safe_name("ts", act.ctx.input("ts").map(str::trim).unwrap_or(""))?.to_string();
    let flow_id = safe_name(
        "flow_id",
        act.ctx
            .input("flow_id")
            .map(str::trim)
            .unwrap_or(&act.ctx.flow_id),
    )?
    .to_string();

    // New runs from the host (always with --sweep start; optional with resume).
    let planned = match act.ctx.input("runs_json") {
        None => None,
        Some(text) => {
            let runs = parse_runs(text).map_err(|e| {
                Failure::new(
                    code::MANIFEST_INVALID,
                    format!("{e}; fix the sweep manifest"),
                )
            })?;
            let sha = act
                .ctx
                .input("manifest_sha256")
                .map(str::trim)
                .unwrap_or("")
                .to_string();
            if !is_sha256(&sha) {
                return Err(Failure::new(
                    code::MANIFEST_INVALID,
                    format!(
                        "manifest_sha256 {sha:?} is not a sha256; this is a wfhost bug, report it"
                    ),
                ));
            }
            Some((runs, sha))
        }
    };
    if mode == SweepMode::Start && planned.is_none() {
        return Err(Failure::new(
            code::MANIFEST_INVALID,
            "--sweep start without runs from the manifest; set SWEEP_MANIFEST in the config",
        ));
    }

    if act
        .ctx
        .config(config::SWEEP_DRY_RUN.name)
        .and_then(parse_bool)
        .unwrap_or(false)
    {
        return dry_run(act, planned.as_ref().map(|(runs, _)| runs.as_slice()));
    }
    // SWEEP_FORCE counts only with the consent the host recorded in P00 (its input `force`).
    let force = act.ctx.input("force").map(str::trim) == Some("1");

    let out_r = act.resolve(&out)?;
    let repo_r = act.resolve(&repo)?;
    let sweep = join(&out, "_sweep");
    // The scripts are stateless: refresh them every time (atomic writes, safe under a live runner).
    if let Some(plan) = &array {
        plan.install(act, &sweep)?;
    } else {
        act.put(&join(&sweep, "runner.sh"), scripts::RUNNER_SH.as_bytes(), 0o755)?;
        act.put(&join(&sweep, "status.sh"), scripts::STATUS_SH.as_bytes(), 0o755)?;
    }

    let limits = run_limits(act, &sweep)?;

    let existing = inspect(act, &out_r)?;
    let (mode, manifest_sha) = match (&existing, &planned) {
        (Existing::None, None) => {
            return Err(Failure::new(
                code::NO_SWEEP_TO_RESUME,
                format!("--sweep resume found no sweep on the target ({out}/_sweep/runs.tsv is missing); start one with --sweep start"),
            ))
        }
        (Existing::None, Some((_, sha))) => ("start", sha.clone()),
        (Existing::Sweep { sha, .. }, None) => {
            if !is_sha256(sha) {
                return Err(Failure::new(
                    code::SWEEP_LAUNCH_FAILED,
                    format!(
                        "the sweep on the target records no valid manifest sha256 ({out}/_sweep/manifest.sha256 holds {:?}); start it again with --sweep start",
                        short(sha)
                    ),
                ));
            }
            ("resume", sha.clone())
        }
        (Existing::Sweep { sha, status }, Some((_, new_sha))) => {
            if sha.eq_ignore_ascii_case(new_sha) {
                ("resume", new_sha.clone())
            } else if status.runner_alive || status.running > 0 {
                return Err(Failure::new(
                    code::SWEEP_LAUNCH_FAILED,
                    format!(
                        "the target runs another sweep (manifest {}, {} running); wait for it (`wfhost sweep-status`) or resume it with --sweep resume and the old manifest",
                        short(sha),
                        status.running
                    ),
                ));
            } else {
                ("replace", new_sha.clone())
            }
        }
    };
    act.facts.set("mode", mode);
    act.facts.set("manifest_sha256", &manifest_sha);

    let manifests = join(&out, "_manifests");
    if let Some(config_text) = act.ctx.input("config_text") {
        act.put(
            &join(&manifests, &format!("workflow-{ts}.env")),
            config_text.as_bytes(),
            0o600,
        )?;
    }
    let (selected, pending, claimed) = match &planned {
        Some((runs, sha)) => {
            let csv = act.ctx.input("manifest_csv").unwrap_or("");
            act.put(
                &join(&manifests, &format!("sweep-{ts}.csv")),
                csv.as_bytes(),
                0o644,
            )?;
            act.put(&join(&manifests, "sweep-latest.csv"), csv.as_bytes(), 0o644)?;
            let prepare = scripts::prepare_script(runs, sha, &flow_id, force);
            act.put(&join(&sweep, "prepare.sh"), prepare.as_bytes(), 0o644)?;
            let res = act.exec_ok(
                "writing run commands and runs.tsv",
                &format!(
                    "sh {} {}",
                    wfhost_pack_sdk::shell::shell_quote(&join(&out_r, "_sweep/prepare.sh")),
                    wfhost_pack_sdk::shell::shell_quote(&out_r)
                ),
                None,
                &[],
                PREPARE_TIMEOUT_MS,
                ActionClass::WriteInternal,
                code::SWEEP_LAUNCH_FAILED,
                "check that OPS_REMOTE_OUTPUTS_DIR is writable on the pod",
            )?;
            let (p, c) = parse_prepared(&res.stdout).ok_or_else(|| {
                Failure::new(
                    code::SWEEP_LAUNCH_FAILED,
                    format!(
                        "prepare.sh answered {:?} instead of pending=N claimed=M",
                        res.stdout.trim()
                    ),
                )
            })?;
            (runs.len() as u64, p, c)
        }
        None => match &existing {
            Existing::Sweep { status, .. } => {
                (status.total, status.pending, status.total - status.pending)
            }
            Existing::None => (0, 0, 0),
        },
    };
    let flow_json = json!({
        "flow_id": flow_id,
        "manifest_sha256": manifest_sha,
        "ts": ts,
        "target": act.ctx.target,
        "mode": mode,
        "runs_selected": selected,
    });
    act.put(
        &join(&manifests, &format!("flow-{flow_id}.json")),
        format!("{flow_json}\n").as_bytes(),
        0o644,
    )?;

    let retry_lost = act
        .ctx
        .config("SWEEP_RETRY_LOST")
        .and_then(parse_bool)
        .unwrap_or(false);
    // Slurm: one job array instead of the runner (phases/slurm_array.rs).
    if let Some(plan) = &array {
        let launch = slurm_array::Launch { out: &out, out_r: &out_r, repo_r: &repo_r, max_parallel: maxp, token: &flow_id, retry_lost, mode, selected };
        return plan.submit(act, &launch);
    }
    let (lost_before, disk_note) = match &existing {
        Existing::Sweep { status, .. } => (status.lost, status.disk_full_past()),
        Existing::None => (0, None),
    };
    let token = format!("{flow_id}-{ts}");
    let res = act.exec_ok(
        "launching the runner",
        &scripts::launch_command(
            &out_r,
            &repo_r,
            maxp,
            &token,
            scripts::Requeue {
                lost: retry_lost,
                finished: force,
            },
        ),
        None,
        &[],
        QUICK_TIMEOUT_MS,
        ActionClass::WriteInternal,
        code::SWEEP_LAUNCH_FAILED,
        &format!("read {out}/_sweep/runner.log on the pod and rerun with --provision skip --sweep resume"),
    )?;
    let Some(launched) = Launched::parse(&res.stdout) else {
        return Err(Failure::new(
            code::SWEEP_LAUNCH_FAILED,
            format!(
                "the runner launch answered {:?}; read {out}/_sweep/runner.log on the pod",
                res.stdout.trim()
            ),
        ));
    };
    let (runner, pid) = (launched.runner.clone(), launched.pid.clone());
    let restarted = launched.requeued.clone().unwrap_or_default();
    act.facts.set("retry_lost", retry_lost);
    act.facts.set("force", force);
    act.facts.set("runs_lost_at_launch", lost_before);
    act.facts.set("runs_restarted", restarted.len());
    act.facts.set("restarted_runs", restarted.join(","));
    if force && launched.runner == "already-running" {
        act.log(Level::Warn, &format!(
            "SWEEP_FORCE=1: no finished run was run again: the runner (pid {}) is still working; rerun with --sweep resume once it is done (`wfhost sweep-status`)",
            launched.pid
        ));
    }
    let lost_note =
        lost_note(retry_lost, lost_before, &launched, &out).map(|note| match &disk_note {
            // Why some of them were lost, where the runner could tell.
            Some(disk) => format!("{note}; {disk}"),
            None => note,
        });
    if let Some(note) = &lost_note {
        act.log(Level::Warn, note);
    }
    act.facts.set("runs_selected", selected);
    // Requeued lost runs are handed to the runner again; they no longer count as claimed.
    let requeued = restarted.len() as u64;
    act.facts.set("runs_pending_at_launch", pending);
    let (pending, claimed) = (pending + requeued, claimed.saturating_sub(requeued));
    act.facts.set("runs_started", pending);
    act.facts.set("runs_already_claimed", claimed);
    act.facts.set("runner", &runner);
    act.facts.set("runner_pid", &pid);
    act.log(Level::Info, &format!("sweep {mode}: {selected} run(s), {pending} pending, {claimed} already claimed; runner {runner} (pid {pid})"));
    let mut message = format!(
        "sweep {mode}: {selected} run(s) selected, {pending} handed to the runner, {claimed} already claimed; runner {runner} (pid {pid}), max parallel {maxp}{}",
        limits.describe(maxp)
    );
    if !restarted.is_empty() {
        message.push_str(&format!(
            "; {} {} run(s) restarted: {}",
            restarted.len(),
            match (retry_lost, force) {
                (true, true) => "lost or finished",
                (false, true) => "finished",
                _ => "lost",
            },
            restarted.join(", ")
        ));
    } else if let Some(note) = lost_note {
        message.push_str(&format!("; {note}"));
    }
    Ok((Status::Ok, message))
}

/// SWEEP_DRY_RUN=1: record and print each selected run's exact command; nothing on the target
/// is touched and no run starts (status skip). Facts: `dry_run`, `runs_selected`.
fn dry_run<H: Host>(act: &mut Act<'_, H>, runs: Option<&[RunSpec]>) -> PhaseResult {
    act.facts.set("dry_run", true);
    let Some(runs) = runs else {
        act.facts.set("runs_selected", 0);
        return skip(
            "SWEEP_DRY_RUN=1: --sweep resume takes no runs from the manifest, so there is nothing to show; nothing was started",
        );
    };
    act.facts.set("runs_selected", runs.len());
    for r in runs {
        act.log(Level::Info, &format!("dry run: {}: {}", r.run_id, r.command));
    }
    act.note(
        "dry run",
        json!({"runs": runs.iter().map(|r| json!({"run_id": r.run_id, "command": r.command})).collect::<Vec<_>>()}),
    );
    skip(format!(
        "SWEEP_DRY_RUN=1: {} run(s) would start (each command is in this phase's evidence); nothing was started or written on the target",
        runs.len()
    ))
}

/// The per-run limits P60 hands the runner: the time limit and the GPU slices.
struct RunLimits {
    timeout_secs: u64,
    gpus_per_run: u64,
    slots: u64,
}

impl RunLimits {
    /// `, run time limit 60 s, 2 GPU slots of 2 GPUs` (what the phase message adds).
    fn describe(&self, maxp: u32) -> String {
        let mut s = String::new();
        if self.gpus_per_run > 0 {
            s.push_str(&format!(
                ", {} GPU slot(s) of {} GPU(s) each",
                self.slots, self.gpus_per_run
            ));
            if self.slots < u64::from(maxp) {
                s.push_str(&format!(" (at most {} runs at once)", self.slots));
            }
        }
        if self.timeout_secs > 0 {
            s.push_str(&format!(", run time limit {} s", self.timeout_secs));
        }
        s
    }
}

/// Find the target's GPUs, check WF_GPUS_PER_RUN against them, and write the runner's
/// `_sweep/options` (RUN_TIMEOUT_SECS, the GPUs, WF_GPUS_PER_RUN). Facts: `gpus`, `gpu_count`,
/// `gpus_source`, `gpus_per_run`, `gpu_slots`, `run_timeout_secs`.
fn run_limits<H: Host>(act: &mut Act<'_, H>, sweep: &str) -> Result<RunLimits, Failure> {
    let bad = |e: String| Failure::new(code::SWEEP_LAUNCH_FAILED, e);
    let timeout_secs = act.ctx.uint(config::RUN_TIMEOUT_SECS).map_err(bad)?;
    let gpus_per_run = act.ctx.uint(config::WF_GPUS_PER_RUN).map_err(bad)?;
    let gpus = crate::gpus::detect(act)?;
    gpus.record(act);
    let count = gpus.ids.len() as u64;
    if gpus_per_run > count {
        return Err(Failure::new(
            code::SWEEP_LAUNCH_FAILED,
            format!(
                "WF_GPUS_PER_RUN={gpus_per_run} but the target has {count} GPU(s) ({}, from {}); lower WF_GPUS_PER_RUN, or use a pod with more GPUs",
                if count == 0 { "none".to_string() } else { gpus.list() },
                gpus.source
            ),
        ));
    }
    let slots = count.checked_div(gpus_per_run).unwrap_or(0);
    act.facts.set("run_timeout_secs", timeout_secs);
    act.facts.set("gpus_per_run", gpus_per_run);
    act.facts.set("gpu_slots", slots);
    let text = scripts::options_text(timeout_secs, &gpus.list(), gpus_per_run);
    act.put(&join(sweep, "options"), text.as_bytes(), 0o644)?;
    Ok(RunLimits {
        timeout_secs,
        gpus_per_run,
        slots,
    })
}

/// What to tell about lost runs (claimed, no exit code, nothing alive) that stay lost, if any.
fn lost_note(retry_lost: bool, lost_before: u64, launched: &Launched, out: &str) -> Option<String> {
    if lost_before == 0 {
        return None;
    }
    if !retry_lost {
        return Some(format!(
            "{lost_before} lost run(s) (ended without an exit code) stay as they are; set SWEEP_RETRY_LOST=1 and rerun with --provision skip --sweep resume to run them again"
        ));
    }
    match &launched.requeued {
        None => Some(format!(
            "{lost_before} lost run(s) were not restarted: the target has no flock(1), which restarting needs (install util-linux there)"
        )),
        Some(ids) if ids.is_empty() && launched.runner == "already-running" => Some(format!(
            "{lost_before} lost run(s) were not restarted: the runner (pid {}) is still working; rerun with --sweep resume once it is done (`wfhost sweep-status`), or read {out}/_sweep/runner.log",
            launched.pid
        )),
        Some(_) => None,
    }
}

fn short(sha: &str) -> String {
    if sha.is_empty() {
        "unknown".to_string()
    } else {
        sha.chars().take(12).collect()
    }
}

/// `pending=N claimed=M`.
fn parse_prepared(stdout: &str) -> Option<(u64, u64)> {
    let line = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("pending="))?;
    let mut it = line.split_whitespace();
    let p = it.next()?.strip_prefix("pending=")?.parse().ok()?;
    let c = it.next()?.strip_prefix("claimed=")?.parse().ok()?;
    Some((p, c))
}

/// Read what the target holds: nothing, or a sweep with its manifest sha and status.
fn inspect<H: Host>(act: &mut Act<'_, H>, out_r: &str) -> Result<Existing, Failure> {
    let res = act.exec_ok(
        "reading the sweep state",
        &scripts::inspect_command(out_r),
        None,
        &[],
        QUICK_TIMEOUT_MS,
        ActionClass::Read,
        code::SWEEP_LAUNCH_FAILED,
        "check the pod with `wfhost sweep-status`",
    )?;
    let text = res.stdout.trim();
    if text == "none" {
        return Ok(Existing::None);
    }
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let sha = first.strip_prefix("sha=").map(str::trim).ok_or_else(|| {
        Failure::new(
            code::SWEEP_LAUNCH_FAILED,
            format!("the sweep state on the target is unreadable ({:?})", first),
        )
    })?;
    let status = status::parse(rest).map_err(|e| {
        Failure::new(
            code::SWEEP_LAUNCH_FAILED,
            format!("the sweep state on the target is unreadable: {e}"),
        )
    })?;
    Ok(Existing::Sweep {
        sha: sha.to_string(),
        status,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn runs_json_is_checked() {
        assert_eq!(
            parse_runs(r#"[{"run_id":"a","command":"true"}]"#)
                .unwrap()
                .len(),
            1
        );
        assert!(parse_runs("[]").unwrap_err().contains("no run"));
        assert!(parse_runs("{").is_err());
        assert!(parse_runs(r#"[{"run_id":"../x","command":"true"}]"#)
            .unwrap_err()
            .contains("run_id"));
        assert!(
            parse_runs(r#"[{"run_id":"a","command":"x"},{"run_id":"a","command":"y"}]"#)
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_runs(r#"[{"run_id":"a","command":"  "}]"#)
            .unwrap_err()
            .contains("empty"));
        assert!(parse_runs(r#"[{"run_id":"a"}]"#).is_err());
    }

    #[test]
    fn prepared_line() {
        assert_eq!(parse_prepared("pending=3 claimed=1\n"), Some((3, 1)));
        assert_eq!(parse_prepared("noise\npending=0 claimed=0"), Some((0, 0)));
        assert_eq!(parse_prepared("pending=x claimed=1"), None);
        assert_eq!(parse_prepared(""), None);
    }
}
