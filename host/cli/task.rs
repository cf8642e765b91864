//! `wfhost task run|status|wait|list`: tracked tasks on the target.
//!
//! ```text
//! TaskCommand ─► TaskRequest (id checked, time limit bounded by WF_TASK_TIMEOUT_SECS's
//!                documented maximum; a bad value becomes P00's 105, with evidence)
//!             ─► run_plan (P00, P20, P75, P99: the same engine, court and evidence as a flow)
//!             ─► --json: the P75 facts as one document (cli-task-status / cli-task-list)
//! ```
//!
//! The work on the target is P75's (the executor's `phases/task.rs`); nothing here touches it.

use crate::commands::{env_map, run_plan, run_plan_with, workdir, PrimitiveArgs, TaskArgs, TaskCommand};
use crate::error::CliError;
use crate::read::{flow_doc, print_json};
use crate::Exit;
use serde_json::{json, Value};
use std::path::PathBuf;
use wfhost_config::flags::Flags;
use wfhost_config::plan::{task_id_problem, Plan, TaskRequest};
use wfhost_constitution::keys;
use wfhost_flow::ops;
use wfhost_flow::output::Output;

/// The longest task command line accepted, in bytes.
const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// Run a task command.
pub fn exec(dir: &Option<PathBuf>, t: TaskCommand) -> Result<Exit, CliError> {
    let mut errors = Vec::new();
    let (request, common, json) = match t {
        TaskCommand::Run { task: TaskArgs { id, timeout_secs, common }, command } => {
            errors.extend(task_id_problem(&id));
            let command = command.join(" ");
            if command.trim().is_empty() {
                errors.push("task run has no command: pass it after --, e.g. wfhost task run --id prep -- make data".into());
            } else if command.len() > MAX_COMMAND_BYTES {
                errors.push(format!("the task's command is {} bytes, over the {MAX_COMMAND_BYTES} accepted; put it in a script on the target", command.len()));
            }
            let timeout_secs = time_limit(dir, timeout_secs, &mut errors);
            (TaskRequest::Run { id, timeout_secs, command }, common, false)
        }
        TaskCommand::Status { id: Some(id), json, common } => {
            errors.extend(task_id_problem(&id));
            (TaskRequest::Status { id }, common, json)
        }
        TaskCommand::Status { id: None, json, common } | TaskCommand::List { json, common } => (TaskRequest::List, common, json),
        TaskCommand::Wait(TaskArgs { id, timeout_secs, common }) => {
            errors.extend(task_id_problem(&id));
            let timeout_secs = time_limit(dir, timeout_secs, &mut errors);
            (TaskRequest::Wait { id, timeout_secs }, common, false)
        }
    };
    let flags = Flags { yes: common.yes, ..Flags::default() };
    if !json {
        return run_plan(dir, Plan::Task(request), flags, errors, common.target);
    }
    json_doc(dir, request, flags, errors, common)
}

/// `--timeout-secs`, else the config's WF_TASK_TIMEOUT_SECS (its default when the config does
/// not read: P00 reports that); a value outside the key's documented range is a flag error.
fn time_limit(dir: &Option<PathBuf>, given: Option<u64>, errors: &mut Vec<String>) -> u64 {
    let key = keys::WF_TASK_TIMEOUT_SECS;
    let spec = key.spec();
    match given {
        Some(n) if n < spec.min.max(1) || n > spec.max => {
            errors.push(format!(
                "--timeout-secs {n} is not legal: expected {}..={} seconds (the range of {}; constitution/config.toml)",
                spec.min.max(1),
                spec.max,
                key.name()
            ));
            spec.default
        }
        Some(n) => n,
        None => workdir(dir)
            .ok()
            .and_then(|w| ops::config(&w, &env_map()).ok())
            .map(|c| c.uint(key))
            .unwrap_or(spec.default),
    }
}

/// The `--json` documents: the flow's members, then `task` (status with --id) or `tasks`.
fn json_doc(dir: &Option<PathBuf>, request: TaskRequest, flags: Flags, errors: Vec<String>, common: PrimitiveArgs) -> Result<Exit, CliError> {
    let one = matches!(request, TaskRequest::Status { .. });
    let quiet = Output::to_writer(Box::new(std::io::sink()));
    let report = run_plan_with(dir, Plan::Task(request), flags, errors, common.target, quiet)?;
    let (story, mut doc) = flow_doc(&report);
    let facts = story
        .as_ref()
        .and_then(|s| s.phases.iter().rev().find(|p| p.phase == "P75"))
        .map(|p| p.facts.clone())
        .unwrap_or_default();
    if one {
        let task = facts.get("task_state").map(|state| {
            let text = |k: &str| facts.get(k).filter(|v| !v.is_empty()).cloned();
            let num = |k: &str| facts.get(k).and_then(|v| v.parse::<i64>().ok());
            json!({
                "id": text("task_id"), "state": state, "exit_code": num("task_exit_code"),
                "started_at": text("task_started_at"), "ended_at": text("task_ended_at"),
                "timeout_secs": num("task_timeout_secs"), "pid": num("task_pid"),
                "stdout_tail": facts.get("stdout_tail").cloned().unwrap_or_default(),
                "stderr_tail": facts.get("stderr_tail").cloned().unwrap_or_default(),
            })
        });
        doc.insert("task".into(), task.unwrap_or(Value::Null));
    } else {
        let tasks = facts.get("tasks").and_then(|t| serde_json::from_str::<Value>(t).ok()).filter(Value::is_array);
        doc.insert("tasks".into(), tasks.unwrap_or(Value::Null));
    }
    print_json(&Value::Object(doc));
    Ok(Exit(report.exit_status))
}
