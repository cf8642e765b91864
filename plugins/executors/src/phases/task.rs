//! P75 TASK: tracked tasks on the bound target, under `OUT/_tasks/<id>/` (OUT is
//! OPS_REMOTE_OUTPUTS_DIR). The host hands the request in the inputs `task_op` (`run`,
//! `status`, `wait`, `list`), `task_id`, `task_timeout_secs` and `task_command`.
//!
//! ```text
//! run    ─► put OUT/_tasks/runner.sh, put .incoming/<id>.<token>.sh ─► runner.sh task-launch
//!           (refused with 409 while a task of that id is alive; the watcher it starts stops
//!           the task's process group at its deadline)
//! status ─► runner.sh task-status OUT <id> (410 when missing) + the tails of its two logs
//! wait   ─► status every WF_MONITOR_POLL_SECS until the task ended (ok on exit 0, else 411),
//!           at most task_timeout_secs (412); three unreadable polls in a row fail (405)
//! list   ─► runner.sh task-status OUT: every task
//! ```
//!
//! Each read is one bounded exec. Nothing here reads or writes the sweep's files or the
//! remote FSM. Facts: `task_id`, `task_state` (running, exited, timed_out, lost),
//! `task_exit_code`, `task_started_at`, `task_ended_at`, `task_timeout_secs`, `task_pid`,
//! `stdout_tail`, `stderr_tail` (the last [`TAIL_LINES`] lines), `task_cwd` (run), `polls`
//! (wait), `task_count` and `tasks` (list: a JSON array of the status records).

use super::remote_path;
use crate::context::{config, Defaults, PhaseContext};
use crate::host::{ActionClass, Host, Level};
use crate::outcome::{code, Act, Failure, Outcome, PhaseResult, Status};
use crate::scripts;
use serde_json::{json, Value};
use wfhost_pack_sdk::path::join;
use wfhost_pack_sdk::shell::shell_quote;
use wfhost_pack_sdk::text::last_line;

const EXEC_TIMEOUT_MS: u64 = 60_000;
const LAUNCH_TIMEOUT_MS: u64 = 30_000;
/// Lines of each log a status shows.
pub const TAIL_LINES: usize = 20;
const TAIL_BYTES: u64 = 4096;
const MAX_UNREADABLE_IN_A_ROW: u32 = 3;
/// The exit code of `task-launch` for a task that is still alive, and of `task-status` for a
/// task that does not exist.
const TASK_BUSY_OR_MISSING_RC: i32 = 3;
const LIST_SHOWN: usize = 1000;

/// Run P75.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::SWEEP_LAUNCH_FAILED);
    let r = body(&mut act);
    act.finish(r)
}

/// One task's status line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    /// The task id.
    pub id: String,
    /// running, exited, timed_out or lost.
    pub state: String,
    /// The exit code, once recorded.
    pub exit_code: Option<i32>,
    /// When it started / ended (UTC, as the target wrote them).
    pub started_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Its time limit.
    pub timeout_secs: Option<u64>,
    /// The wrapper's pid.
    pub pid: Option<u64>,
}

impl TaskStatus {
    /// Parse `task id=.. state=.. exit_code=.. started_at=.. ended_at=.. timeout_secs=.. pid=..`.
    pub fn parse(line: &str) -> Result<TaskStatus, String> {
        let rest = line.trim().strip_prefix("task ").ok_or_else(|| format!("not a task status line: {line:?}"))?;
        let mut fields = std::collections::BTreeMap::new();
        for part in rest.split(' ') {
            let (k, v) = part.split_once('=').ok_or_else(|| format!("field {part:?} is not key=value in {line:?}"))?;
            fields.insert(k, (v != "-").then(|| v.to_string()));
        }
        let get = |k: &str| fields.get(k).cloned().flatten();
        let id = get("id").ok_or_else(|| format!("no id in {line:?}"))?;
        let state = get("state").ok_or_else(|| format!("no state in {line:?}"))?;
        if !matches!(state.as_str(), "running" | "exited" | "timed_out" | "lost") {
            return Err(format!("unknown task state {state:?} in {line:?}"));
        }
        Ok(TaskStatus {
            id,
            state,
            exit_code: get("exit_code").and_then(|v| v.parse().ok()),
            started_at: get("started_at"),
            ended_at: get("ended_at"),
            timeout_secs: get("timeout_secs").and_then(|v| v.parse().ok()),
            pid: get("pid").and_then(|v| v.parse().ok()),
        })
    }

    /// Whether the task has ended (for good: exited, timed out or lost).
    pub fn ended(&self) -> bool {
        self.state != "running"
    }

    /// The record as JSON (`task status --json`, `task list --json`).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id, "state": self.state, "exit_code": self.exit_code, "started_at": self.started_at,
            "ended_at": self.ended_at, "timeout_secs": self.timeout_secs, "pid": self.pid,
        })
    }

    /// In words: `exited with code 3`, `timed out after 2 s (exit 143)`, `lost`, `running`.
    pub fn describe(&self) -> String {
        let rc = self.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "none".into());
        match self.state.as_str() {
            "exited" => format!("exited with code {rc}"),
            "timed_out" => format!(
                "timed out: stopped at its {} s limit (exit {rc})",
                self.timeout_secs.map(|t| t.to_string()).unwrap_or_else(|| "?".into())
            ),
            "lost" => "lost: it has no exit code and nothing of it is alive (killed, or the target restarted)".into(),
            _ => format!("running (pid {})", self.pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into())),
        }
    }
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    let out = remote_path(act.ctx, config::OPS_REMOTE_OUTPUTS_DIR, code::SWEEP_LAUNCH_FAILED)?;
    let op = act.ctx.input("task_op").unwrap_or("").to_string();
    let id = || -> Result<String, Failure> {
        let id = act.ctx.input("task_id").unwrap_or("").to_string();
        wfhost_pack_sdk::path::validate_segment(&id)
            .map_err(|e| Failure::new(code::INPUT_INVALID, format!("task id {id:?} is not usable: {e}")))?;
        Ok(id)
    };
    let timeout = || -> Result<u64, Failure> {
        let raw = act.ctx.input("task_timeout_secs").unwrap_or("");
        raw.parse::<u64>().ok().filter(|t| *t >= 1).ok_or_else(|| {
            Failure::new(code::INPUT_INVALID, format!("task_timeout_secs {raw:?} is not a positive number of seconds"))
        })
    };
    let out_r = act.resolve(&out)?;
    match op.as_str() {
        "run" => {
            let (id, timeout) = (id()?, timeout()?);
            launch(act, &out, &out_r, &id, timeout)
        }
        "status" => {
            let id = id()?;
            let s = status_of(act, &out_r, &id)?;
            record(act, &s);
            act.log(Level::Info, &format!("task {id}: {}", s.describe()));
            tails(act, &out_r, &id)?;
            Ok((Status::Ok, format!("task {id}: {}", s.describe())))
        }
        "wait" => {
            let (id, timeout) = (id()?, timeout()?);
            wait(act, &out_r, &id, timeout)
        }
        "list" => list(act, &out_r),
        other => Err(Failure::new(
            code::INPUT_INVALID,
            format!("task_op {other:?} is not run, status, wait or list; this is a wfhost bug, report it"),
        )),
    }
}

fn launch<H: Host>(act: &mut Act<'_, H>, out: &str, out_r: &str, id: &str, timeout: u64) -> PhaseResult {
    let command = act.ctx.input("task_command").unwrap_or("").to_string();
    if command.trim().is_empty() {
        return Err(Failure::new(code::INPUT_INVALID, "the task has no command; pass it after --: wfhost task run --id ID -- CMD"));
    }
    let token = format!("{}-{}", act.ctx.input("ts").unwrap_or("0"), act.host.now_ms());
    let token: String = token.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let tasks = join(out, "_tasks");
    act.put(&join(&tasks, "runner.sh"), scripts::RUNNER_SH.as_bytes(), 0o755)?;
    let body = format!("# wfhost task {id}\n{command}\n");
    act.put(&join(&join(&tasks, ".incoming"), &format!("{id}.{token}.sh")), body.as_bytes(), 0o600)?;
    let tasks_r = join(out_r, "_tasks");
    let repo = remote_path(act.ctx, config::REMOTE_REPO_DIR, code::SWEEP_LAUNCH_FAILED)?;
    let repo_r = act.resolve(&repo)?;
    let cmd = format!(
        "sh {} task-launch {} {} {} {timeout} {}",
        shell_quote(&join(&tasks_r, "runner.sh")),
        shell_quote(out_r),
        shell_quote(&repo_r),
        shell_quote(id),
        shell_quote(&token)
    );
    let res = act.exec("starting the task", &cmd, None, &[], LAUNCH_TIMEOUT_MS, ActionClass::WriteInternal)?;
    let line = res.stdout.lines().find(|l| l.starts_with("task=")).unwrap_or("").to_string();
    match res.exit_code {
        Some(0) if line.starts_with("task=started") => {
            let cwd = line.split(' ').find_map(|p| p.strip_prefix("cwd=")).unwrap_or("").to_string();
            act.facts.set("task_id", id);
            act.facts.set("task_state", "running");
            act.facts.set("task_timeout_secs", timeout);
            act.facts.set("task_cwd", &cwd);
            Ok((Status::Ok, format!(
                "task {id} started on the target, detached (time limit {timeout} s, in {cwd}); see it with: wfhost task status --id {id}"
            )))
        }
        Some(TASK_BUSY_OR_MISSING_RC) => Err(Failure::new(
            code::TASK_REFUSED,
            format!("task {id} is still running on the target ({line}); not starting a second one: wait with `wfhost task wait --id {id}`, or use another id"),
        )),
        other => Err(Failure::new(
            code::SWEEP_LAUNCH_FAILED,
            format!(
                "task {id} did not start ({}): {}",
                other.map(|c| format!("exit {c}")).unwrap_or_else(|| "killed".into()),
                last_line(&res.stderr)
            ),
        )),
    }
}

/// Why one status read gave no status.
enum ReadError {
    /// The target has no such task: final.
    Missing(String),
    /// Unreadable or the connection failed (maybe transient).
    Unreadable(String),
}

fn read_status<H: Host>(act: &mut Act<'_, H>, out_r: &str, id: Option<&str>) -> Result<Result<Vec<TaskStatus>, ReadError>, Failure> {
    let script = join(&join(out_r, "_tasks"), "runner.sh");
    let cmd = format!(
        "[ -f {s} ] || {{ echo 'no task on this target: {s} is not installed' >&2; exit {TASK_BUSY_OR_MISSING_RC}; }}; sh {s} task-status {}{}",
        shell_quote(out_r),
        id.map(|i| format!(" {}", shell_quote(i))).unwrap_or_default(),
        s = shell_quote(&script),
    );
    let res = match act.exec_raw("reading the task status", &cmd, None, &[], EXEC_TIMEOUT_MS, ActionClass::Read)? {
        Ok(res) => res,
        Err(e) => return Ok(Err(ReadError::Unreadable(format!("the call failed: {e:?}")))),
    };
    if res.timed_out {
        return Ok(Err(ReadError::Unreadable(format!("no answer within {} s", EXEC_TIMEOUT_MS / 1000))));
    }
    match res.exit_code {
        Some(0) => Ok(res.stdout.lines().filter(|l| !l.trim().is_empty()).map(TaskStatus::parse).collect::<Result<Vec<_>, _>>().map_err(ReadError::Unreadable)),
        Some(TASK_BUSY_OR_MISSING_RC) if id.is_some() => Ok(Err(ReadError::Missing(last_line(&res.stderr).to_string()))),
        Some(TASK_BUSY_OR_MISSING_RC) => Ok(Ok(Vec::new())),
        other => Ok(Err(ReadError::Unreadable(format!(
            "task-status failed ({}): {}",
            other.map(|c| format!("exit {c}")).unwrap_or_else(|| "killed".into()),
            last_line(&res.stderr)
        )))),
    }
}

fn missing(id: &str, why: &str) -> Failure {
    Failure::new(code::TASK_NOT_FOUND, format!("the target has no task {id} ({why}); list its tasks with `wfhost task list`"))
}

fn status_of<H: Host>(act: &mut Act<'_, H>, out_r: &str, id: &str) -> Result<TaskStatus, Failure> {
    match read_status(act, out_r, Some(id))? {
        Ok(list) => list.into_iter().find(|s| s.id == id).ok_or_else(|| missing(id, "no status line")),
        Err(ReadError::Missing(why)) => Err(missing(id, &why)),
        Err(ReadError::Unreadable(why)) => Err(Failure::new(code::MONITOR_UNREADABLE, format!("cannot read the status of task {id}: {why}"))),
    }
}

fn record<H: Host>(act: &mut Act<'_, H>, s: &TaskStatus) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    act.facts.set("task_id", &s.id);
    act.facts.set("task_state", &s.state);
    act.facts.set("task_exit_code", s.exit_code.map(|c| c.to_string()).unwrap_or_default());
    act.facts.set("task_started_at", opt(&s.started_at));
    act.facts.set("task_ended_at", opt(&s.ended_at));
    act.facts.set("task_timeout_secs", s.timeout_secs.map(|c| c.to_string()).unwrap_or_default());
    act.facts.set("task_pid", s.pid.map(|c| c.to_string()).unwrap_or_default());
}

/// The last [`TAIL_LINES`] lines of `text`.
pub fn tail_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// Read the tails of the task's stdout.log and stderr.log into facts, and show them; returns
/// the stderr tail.
fn tails<H: Host>(act: &mut Act<'_, H>, out_r: &str, id: &str) -> Result<String, Failure> {
    let mut last = String::new();
    let wf = join(&join(&join(out_r, "_tasks"), id), "_wf");
    for (file, fact) in [("stdout.log", "stdout_tail"), ("stderr.log", "stderr_tail")] {
        let cmd = format!("[ -f {p} ] && tail -c {TAIL_BYTES} {p}; exit 0", p = shell_quote(&join(&wf, file)));
        let res = act.exec(&format!("reading the tail of the task's {file}"), &cmd, None, &[], EXEC_TIMEOUT_MS, ActionClass::Read)?;
        let tail = tail_lines(&res.stdout);
        if !tail.is_empty() {
            act.log(Level::Info, &format!("task {id} {file} (last lines):"));
            for line in tail.lines() {
                act.log(Level::Info, &format!("  {line}"));
            }
        }
        act.facts.set(fact, &tail);
        last = tail;
    }
    Ok(last)
}

fn wait<H: Host>(act: &mut Act<'_, H>, out_r: &str, id: &str, timeout: u64) -> PhaseResult {
    let poll_ms = act.ctx.millis(act.host, config::WF_MONITOR_POLL_SECS).max(200);
    let deadline = act.host.now_ms().saturating_add(timeout.saturating_mul(1000));
    let mut polls = 0u32;
    let mut unreadable = 0u32;
    loop {
        polls += 1;
        act.facts.set("polls", polls);
        match read_status(act, out_r, Some(id))? {
            Ok(list) => {
                unreadable = 0;
                let s = list.into_iter().find(|s| s.id == id).ok_or_else(|| missing(id, "no status line"))?;
                if s.ended() {
                    record(act, &s);
                    let stderr_tail = tails(act, out_r, id)?;
                    let words = s.describe();
                    if s.state == "exited" && s.exit_code == Some(0) {
                        return Ok((Status::Ok, format!("task {id}: {words}")));
                    }
                    let err = last_line(&stderr_tail).to_string();
                    return Err(Failure::new(code::TASK_FAILED, format!(
                        "task {id}: {words}{}; read its log with `wfhost task status --id {id}`",
                        if err.is_empty() { String::new() } else { format!(" (stderr: {err})") }
                    )));
                }
                act.log(Level::Info, &format!("task {id}: {}", s.describe()));
            }
            Err(ReadError::Missing(why)) => return Err(missing(id, &why)),
            Err(ReadError::Unreadable(why)) => {
                unreadable += 1;
                act.log(Level::Warn, &format!("task {id}: status unreadable ({why})"));
                if unreadable >= MAX_UNREADABLE_IN_A_ROW {
                    return Err(Failure::new(code::MONITOR_UNREADABLE, format!(
                        "cannot read the status of task {id} ({unreadable} tries in a row: {why}); the task goes on: check the target, then `wfhost task wait --id {id}` again"
                    )));
                }
            }
        }
        let now = act.host.now_ms();
        if now >= deadline {
            return Err(Failure::new(code::TASK_WAIT_TIMEOUT, format!(
                "task {id} is still running after {timeout} s of waiting; it goes on: wait again with `wfhost task wait --id {id}`"
            )));
        }
        act.host.sleep_ms(poll_ms.min(deadline - now));
    }
}

fn list<H: Host>(act: &mut Act<'_, H>, out_r: &str) -> PhaseResult {
    let all = match read_status(act, out_r, None)? {
        Ok(list) => list,
        Err(ReadError::Missing(why) | ReadError::Unreadable(why)) => {
            return Err(Failure::new(code::MONITOR_UNREADABLE, format!("cannot list the tasks: {why}")))
        }
    };
    let shown: Vec<Value> = all.iter().take(LIST_SHOWN).map(TaskStatus::to_json).collect();
    act.facts.set("task_count", all.len());
    act.facts.set("tasks", Value::Array(shown).to_string());
    for s in &all {
        act.log(Level::Info, &format!("task {}: {}", s.id, s.describe()));
    }
    let running = all.iter().filter(|s| !s.ended()).count();
    Ok((Status::Ok, format!("{} task(s) on the target, {running} running", all.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_and_bad_ones_are_refused() {
        let s = TaskStatus::parse("task id=a state=exited exit_code=3 started_at=2026-01-01T00:00:00Z ended_at=- timeout_secs=10 pid=42").unwrap();
        assert_eq!(s.exit_code, Some(3));
        assert_eq!(s.ended_at, None);
        assert!(s.ended());
        assert_eq!(s.describe(), "exited with code 3");
        assert!(TaskStatus::parse("task id=a state=weird").is_err());
        assert!(TaskStatus::parse("hello").is_err());
        assert!(TaskStatus::parse("task id=a state").is_err());
        let t = "x\n".repeat(30);
        assert_eq!(tail_lines(&t).lines().count(), TAIL_LINES);
    }
}
