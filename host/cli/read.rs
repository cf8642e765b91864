//! The read commands' bodies that go beyond one library call: the `--json` documents, `status`,
//! `logs` and `report`.
//!
//! ```text
//! --json ─► a serde_json::Value ─► print_json (one document on stdout)
//!        └► an error ─► main: CliError::to_json on stdout, the message on stderr
//! ```
//!
//! Every document has its published schema (`docs/schemas/cli-<command>.schema.json`, listed in
//! `wfhost_audit::OUTPUTS`); the exit status is the text form's, decided by the same code.

use crate::commands::{env_map, run_plan_with, workdir, PrimitiveArgs};
use crate::error::{CliError, ErrorKind};
use crate::Exit;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use wfhost_audit as audit_trail;
use wfhost_audit::story::{Ending, Story, StoryError};
use wfhost_config::flags::Flags;
use wfhost_config::plan::Plan;
use wfhost_flow::logs::{LogsRequest, Stream};
use wfhost_flow::ops;
use wfhost_flow::output::Output;

/// Print one JSON document on stdout (pretty, one trailing newline): the one printer of every
/// `--json` document.
pub fn print_json(doc: &Value) {
    use std::io::Write;
    let text = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "null".into());
    // A closed stdout (`| head`) ends the output, not the process with a panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

fn story_error(e: StoryError, what: &str) -> CliError {
    match e {
        StoryError::NotAFlow(m) => CliError::usage(m),
        StoryError::Log(e) => CliError::new(ErrorKind::Failed, format!(
            "{what} failed: {e}; the log cannot be read as records (run `wfhost verify` on it)"
        )),
    }
}

/// `replay --json`.
pub fn replay_json(flow_dir: &Path, write: bool) -> Result<Exit, CliError> {
    match audit_trail::replay(flow_dir, write) {
        Ok(report) => {
            print_json(&report.to_json());
            Ok(if report.identical() { Exit::OK } else { Exit::FAILED })
        }
        Err(audit_trail::ReplayError::NotAFlow(e)) => Err(CliError::usage(e)),
        Err(e) => {
            print_json(&json!({
                "flow_dir": flow_dir.display().to_string(),
                "records": null,
                "partial_tail": null,
                "identical": false,
                "files": [],
                "error": e.to_string(),
            }));
            Ok(Exit::FAILED)
        }
    }
}

/// `explain --json`.
pub fn explain_json(flow_dir: &Path) -> Result<Exit, CliError> {
    let doc = audit_trail::explain_json::explain_json(flow_dir).map_err(|e| story_error(e, "explain"))?;
    print_json(&doc);
    Ok(Exit::OK)
}

/// `doctor --json`'s document.
pub fn doctor_json(report: &ops::DoctorReport) -> Value {
    json!({
        "ok": report.ok(),
        "checks": report.checks.iter().map(|c| json!({"ok": c.ok, "what": c.what, "detail": c.detail})).collect::<Vec<_>>(),
    })
}

/// `fsm-status --json`'s document.
pub fn fsm_status_json(report: &ops::FsmStatusReport) -> Value {
    json!({"target": report.target, "present": report.present, "state": report.state})
}

/// `sweep-status --json`: the P70 snapshot flow with its PHASE lines kept off stdout, then
/// the counts its outcome recorded.
pub fn sweep_status_json(dir: &Option<PathBuf>, a: PrimitiveArgs) -> Result<Exit, CliError> {
    let flags = Flags { yes: a.yes, ..Flags::default() };
    let quiet = Output::to_writer(Box::new(std::io::sink()));
    let report = run_plan_with(dir, Plan::SweepStatus { watch: false }, flags, Vec::new(), a.target, quiet)?;
    let (story, mut doc) = flow_doc(&report);
    let sweep = story
        .as_ref()
        .and_then(|s| s.phases.iter().rev().find(|p| p.phase == "P70" && p.facts.contains_key("total")))
        .map(|p| {
            let n = |k: &str| p.facts.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let b = |k: &str| p.facts.get(k).map(String::as_str) == Some("true");
            let ids = |k: &str| p.facts.get(k).map(|f| f.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>()).unwrap_or_default();
            json!({
                "total": n("total"), "ok": n("ok"), "failed": n("failed"), "running": n("running"),
                "pending": n("pending"), "lost": n("lost"), "complete": b("complete"), "runner_alive": b("runner_alive"),
                "failed_runs": ids("failed_runs"),
                "timed_out_runs": ids("timed_out_runs"),
            })
        });
    doc.insert("sweep".into(), sweep.unwrap_or(Value::Null));
    print_json(&Value::Object(doc));
    Ok(Exit(report.exit_status))
}

/// The members every `--json` document of a primitive's flow starts with (`flow_id`,
/// `flow_dir`, `exit_status`, `verdict`, `halt`), and the flow's story when it reads.
pub(crate) fn flow_doc(report: &wfhost_flow::engine::FlowReport) -> (Option<Story>, serde_json::Map<String, Value>) {
    let story = Story::read(&report.flow_dir).ok();
    let verdict = story.as_ref().and_then(|s| match s.ending {
        Ending::Passed { .. } => Some("pass"),
        Ending::Halted { .. } => Some("halted"),
        Ending::Unfinished { .. } => None,
    });
    let halt = story.as_ref().and_then(|s| s.halt()).map(|h| {
        json!({"phase": h.phase, "code": h.code, "reason": h.halt_reason, "next_command": h.next_command})
    });
    let mut doc = serde_json::Map::new();
    doc.insert("flow_id".into(), json!(report.flow_id));
    doc.insert("flow_dir".into(), json!(report.flow_dir.display().to_string()));
    doc.insert("exit_status".into(), json!(report.exit_status));
    doc.insert("verdict".into(), json!(verdict));
    doc.insert("halt".into(), halt.unwrap_or(Value::Null));
    (story, doc)
}

/// The evidence root of the workdir: WF_FLOW_EVIDENCE_DIR of its config, else the default.
fn evidence_root(workdir: &Path) -> PathBuf {
    let root = ops::config(workdir, &env_map())
        .ok()
        .and_then(|c| c.get(wfhost_constitution::keys::WF_FLOW_EVIDENCE_DIR).map(str::to_string))
        .unwrap_or_else(|| wfhost_flow::DEFAULT_EVIDENCE_DIR.to_string());
    workdir.join(root)
}

/// `status [--json] [--check]`.
pub fn status(dir: &Option<PathBuf>, json: bool, check: bool) -> Result<Exit, CliError> {
    let workdir = workdir(dir)?;
    let env = env_map();
    let mut list = audit_trail::status::list(&evidence_root(&workdir)).map_err(CliError::usage)?;
    if check {
        let config = ops::config(&workdir, &env).map_err(CliError::from)?;
        let mut asked: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
        for row in list.flows.iter_mut().filter(|r| r.pod_may_run()) {
            let Some(target) = row.target.clone() else { continue };
            let answer = asked.entry(target.clone()).or_insert_with(|| match ops::target_status(&workdir, &config, &env, Some(&target)) {
                Ok(t) => json!({"state": t.state, "detail": t.detail}),
                Err(e) => json!({"error": e.message}),
            });
            row.pod_check = Some(answer.clone());
        }
    }
    if json {
        print_json(&list.to_json());
    } else {
        print!("{}", list.render());
    }
    Ok(Exit::OK)
}

/// `logs <run_id> [--follow] [--stderr] [--lines N]`.
pub fn logs(dir: &Option<PathBuf>, run_id: String, follow: bool, stderr: bool, lines: Option<u64>, target: Option<String>) -> Result<Exit, CliError> {
    let req = LogsRequest { run_id, stream: if stderr { Stream::Stderr } else { Stream::Stdout }, lines, follow, target };
    let mut out = std::io::stdout().lock();
    let report = wfhost_flow::logs::logs(&workdir(dir)?, &env_map(), &req, &mut out, &|m| eprintln!("wfhost: {m}"))?;
    if follow {
        let how = match (report.state.as_str(), report.exit_code) {
            ("ended", Some(code)) => format!("ended with exit code {code}"),
            ("lost", _) => "is lost (its process is gone without an exit code)".to_string(),
            (state, _) => state.to_string(),
        };
        eprintln!("wfhost: run {} {how}", req.run_id);
    }
    Ok(Exit::OK)
}

/// `report <flow_dir> [-o FILE]`.
pub fn report(dir: &Option<PathBuf>, flow_dir: &Path, output: Option<&Path>) -> Result<Exit, CliError> {
    let workdir = workdir(dir)?;
    let flow_dir = workdir.join(flow_dir);
    let page = audit_trail::report::render(&flow_dir).map_err(|e| story_error(e, "report"))?;
    let target = match output {
        Some(o) => workdir.join(o),
        None => {
            let name = flow_dir.file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| wfhost_config::is_safe_segment(n));
            workdir.join(format!("report-{}.html", name.as_deref().unwrap_or("flow")))
        }
    };
    wfhost_evidence::atomic::write_bytes(&target, page.html.as_bytes())
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}; choose another path with -o", target.display())))?;
    println!("{}", target.display());
    if !page.verified {
        eprintln!("wfhost: the evidence of this flow does not verify; the report says so at the top (`wfhost verify {}`)", flow_dir.display());
    }
    Ok(Exit::OK)
}
