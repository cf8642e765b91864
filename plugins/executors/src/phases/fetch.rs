//! P80 FETCH: copy run directories back through `gateway.fetch-dir`.
//!
//! `--fetch run:<id>` copies that run (it must be in runs.tsv, else 501); `--fetch all` copies
//! every claimed run. Each returned artifact (with its sha256) is reported, renamed
//! `run:<id>/<path>`. Facts: `runs_fetched`, `files`, `runs`. Structured progress (runs done of
//! the total, files) after each run, for the host's bar.

use super::monitor::{snapshot, SnapshotError};
use super::{remote_path, skip};
use crate::context::{config, PhaseContext};
use crate::host::{Host, Level};
use crate::outcome::{code, Act, Failure, Outcome, PhaseResult, Status};
use wfhost_pack_sdk::path::{join, validate_segment};
use wfhost_pack_sdk::records::FetchMode;

/// Run P80.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::FETCH_FAILED);
    let r = body(&mut act);
    act.finish(r)
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    let flag = act.ctx.flow_flags.fetch.clone();
    let wanted: Option<String> = match &flag {
        FetchMode::None => return skip("--fetch none: nothing is copied back"),
        FetchMode::All => None,
        FetchMode::Run(id) => {
            // The host checked the id in P00; a remote path is still never built from an
            // unchecked one.
            validate_segment(id).map_err(|e| {
                Failure::new(code::RUN_NOT_FOUND, format!("--fetch run:{id} does not name a run ({e}); list runs with `wfhost sweep-status`"))
            })?;
            Some(id.clone())
        }
    };
    let target = act.target()?;
    let out = remote_path(
        act.ctx,
        config::OPS_REMOTE_OUTPUTS_DIR,
        code::FETCH_FAILED,
    )?;
    let out_r = act.resolve(&out)?;
    let status = match snapshot(act, &out_r)? {
        Ok(s) => s,
        Err(SnapshotError::NoSweep(m)) => {
            return Err(match &wanted {
                Some(id) => Failure::new(code::RUN_NOT_FOUND, format!("run {id} is not on the target: there is no sweep there ({m})")),
                None => Failure::new(code::FETCH_FAILED, format!("there is no sweep on the target to fetch from ({m}); start one with --sweep start")),
            })
        }
        Err(SnapshotError::Unreadable(m)) => {
            return Err(Failure::new(code::FETCH_FAILED, format!("the sweep status could not be read ({m}); run `wfhost sweep-status`")))
        }
        Err(SnapshotError::Gateway(g)) => return Err(act.gateway_failure("reading the sweep status", &g)),
    };
    let runs: Vec<String> = match &wanted {
        Some(id) => {
            if !status.runs.iter().any(|r| &r.run_id == id) {
                let known: Vec<&str> = status
                    .runs
                    .iter()
                    .take(10)
                    .map(|r| r.run_id.as_str())
                    .collect();
                return Err(Failure::new(
                    code::RUN_NOT_FOUND,
                    format!("run {id} is not in the sweep (runs: {}); list them with `wfhost sweep-status`", known.join(", ")),
                ));
            }
            vec![id.clone()]
        }
        None => status
            .claimed_ids()
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    act.facts.set("runs_fetched", 0);
    act.facts.set("files", 0);
    let progress = |act: &Act<'_, H>, done: usize| {
        act.progress(serde_json::json!({"runs_total": runs.len(), "runs_done": done, "files": act.artifacts.len()}));
    };
    progress(act, 0);
    let mut fetched = Vec::new();
    for id in &runs {
        let remote = join(&out, &format!("runs/{id}"));
        act.log(Level::Info, &format!("fetching run {id}"));
        let files = act
            .host
            .fetch_dir(&target, &remote, id)
            .map_err(|e| act.gateway_failure(&format!("fetching run {id} ({remote})"), &e))
            .map_err(|f| Failure::new(f.code, format!("{}; rerun with --provision skip --sweep skip --fetch {flag} once the pod is reachable", f.message)))?;
        for mut a in files {
            a.name = format!("run:{id}/{}", a.name);
            act.artifacts.push(a);
        }
        fetched.push(id.as_str());
        act.facts.set("runs_fetched", fetched.len());
        act.facts.set("files", act.artifacts.len());
        progress(act, fetched.len());
    }
    act.facts.set("runs", fetched.join(","));
    Ok((
        Status::Ok,
        format!(
            "fetched {} run(s), {} file(s)",
            fetched.len(),
            act.artifacts.len()
        ),
    ))
}
