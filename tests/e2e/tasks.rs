//! Tracked tasks (`wfhost task run|status|wait|list`, phase P75) through the real binary, stdin
//! closed: on a local pod, and over the loopback sshd of [`crate::ssh`]. Each task command is a
//! flow of its own whose evidence `wfhost verify` accepts.

use crate::harness::{Run, Sandbox};
use crate::ssh::{alive, facts, last_status, verify, Sshd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wfhost_constitution::codes;

fn assert_verifies(s: &Sandbox, runs: &[&Run]) {
    for run in runs {
        // A --json run names its flow in its document; the others in their VERDICT lines.
        let dir = match run.stdout.trim_start().starts_with('{') {
            true => PathBuf::from(json(run)["flow_dir"].as_str().unwrap_or_default()),
            false => run.flow_dir(),
        };
        let (code, report) = verify(s, &dir);
        assert_eq!(code, 0, "{report:#}\n{}", run.explain());
    }
}

/// The `_tasks/<id>` directory of the first place under `root` that has one.
fn task_dir(root: &Path, id: &str) -> PathBuf {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let candidate = d.join("_tasks").join(id);
        if candidate.is_dir() {
            return candidate;
        }
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) && e.file_name() != "_flows" {
                stack.push(e.path());
            }
        }
    }
    panic!("no _tasks/{id} under {}", root.display())
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("not one JSON document ({e})\n{}", run.explain()))
}

/// Wait until `path` exists (bounded).
fn wait_for(path: &Path, limit: Duration) {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < limit, "{} did not appear within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The scenario both transports run: a task exiting 3 with a file and a log, a task stopped at
/// its time limit, a duplicate id refused, a bad id refused at once, list and wait.
fn scenario(s: &Sandbox, remote_root: &Path) -> Vec<Run> {
    let mut runs = Vec::new();
    // 1. A task that writes a file and exits 3.
    let run = s.run(&["task", "run", "--id", "three", "--timeout-secs", "60", "--", "echo made > made.txt; echo out-line; echo err-line >&2; exit 3"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    assert_eq!(last_status(&run).0, "P99");
    assert_eq!(facts(&run, "P75")["task_state"].as_str(), Some("running"));
    let dir = task_dir(remote_root, "three");
    wait_for(&dir.join("_wf/exit_code"), Duration::from_secs(30));
    let cwd = facts(&run, "P75")["task_cwd"].as_str().unwrap_or_default().to_string();
    assert!(Path::new(&cwd).join("made.txt").is_file() || dir.join("made.txt").is_file(), "made.txt in {cwd}");
    let status = s.run(&["task", "status", "--id", "three", "--json"]);
    assert_eq!(status.status, 0, "{}", status.explain());
    let doc = crate::read_commands::document(&status, "cli-task-status");
    assert_eq!(doc["task"]["state"], "exited", "{doc:#}");
    assert_eq!(doc["task"]["exit_code"], 3, "{doc:#}");
    assert_eq!(doc["task"]["stdout_tail"], "out-line", "{doc:#}");
    assert_eq!(doc["task"]["stderr_tail"], "err-line", "{doc:#}");
    assert_eq!(doc["verdict"], "pass");
    let text = s.run(&["task", "status", "--id", "three"]);
    assert_eq!(text.status, 0, "{}", text.explain());
    assert!(format!("{}{}", text.stdout, text.stderr).contains("exited with code 3"), "{}", text.explain());
    // `task wait` on a task that failed: its exit code is a failure of the wait (411).
    let waited = s.run(&["task", "wait", "--id", "three", "--timeout-secs", "30"]);
    assert_eq!(waited.status, 40, "{}", waited.explain());
    assert_eq!(last_status(&waited), ("P75".into(), "fail".into(), codes::TASK_FAILED.get()));
    runs.extend([run, status, text, waited]);

    // 2. A task past its time limit: its whole process group is stopped, it is timed out.
    let slow = s.run(&["task", "run", "--id", "slow", "--timeout-secs", "2", "--", "sleep 300 & echo $! > child; wait"]);
    assert_eq!(slow.status, 0, "{}", slow.explain());
    // 3. The same id while it runs is refused, with a clear message.
    let dup = s.run(&["task", "run", "--id", "slow", "--timeout-secs", "5", "--", "true"]);
    assert_eq!(dup.status, 40, "{}", dup.explain());
    assert_eq!(last_status(&dup), ("P75".into(), "fail".into(), codes::TASK_REFUSED.get()));
    let reason = dup.verdict("P75")["halt_reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("task slow is still running"), "{reason}");
    let done = s.run(&["task", "wait", "--id", "slow", "--timeout-secs", "60"]);
    assert_eq!(last_status(&done), ("P75".into(), "fail".into(), codes::TASK_FAILED.get()), "{}", done.explain());
    assert!(done.verdict("P75")["halt_reason"].as_str().unwrap_or_default().contains("timed out"), "{}", done.explain());
    let f = facts(&done, "P75");
    assert_eq!(f["task_state"].as_str(), Some("timed_out"), "{f:#}");
    let sdir = task_dir(remote_root, "slow");
    let child_file = [PathBuf::from(facts(&slow, "P75")["task_cwd"].as_str().unwrap_or_default()).join("child"), sdir.join("child")]
        .into_iter()
        .find(|p| p.is_file())
        .expect("the slow task wrote its child's pid");
    let child: u32 = std::fs::read_to_string(child_file).unwrap().trim().parse().unwrap();
    assert!(!alive(child), "the timed-out task's child {child} lives on");
    runs.extend([slow, dup, done]);

    // 4. A bad id is refused at once (P00, nothing on the target).
    let bad = s.run(&["task", "run", "--id", "../x", "--", "true"]);
    assert_eq!(bad.status, 10, "{}", bad.explain());
    assert_eq!(bad.statuses()[0].2, codes::FLAGS_ILLEGAL.get());
    assert!(bad.verdict("P00")["halt_reason"].as_str().unwrap_or_default().contains("task id"), "{}", bad.explain());
    let over = s.run(&["task", "run", "--id", "x", "--timeout-secs", "999999999", "--", "true"]);
    assert_eq!(over.status, 10, "{}", over.explain());
    assert!(over.verdict("P00")["halt_reason"].as_str().unwrap_or_default().contains("--timeout-secs"), "{}", over.explain());
    let unknown = s.run(&["task", "status", "--id", "nope"]);
    assert_eq!(last_status(&unknown), ("P75".into(), "fail".into(), codes::TASK_NOT_FOUND.get()), "{}", unknown.explain());
    let unknown_json = s.run(&["task", "status", "--id", "nope", "--json"]);
    assert_eq!(unknown_json.status, 40, "{}", unknown_json.explain());
    let doc = crate::read_commands::document(&unknown_json, "cli-task-status");
    assert_eq!((doc["task"].clone(), doc["halt"]["code"].clone()), (serde_json::Value::Null, serde_json::json!(codes::TASK_NOT_FOUND.get())), "{doc:#}");
    runs.extend([bad, over, unknown, unknown_json]);

    // 5. The list shows both.
    let list = s.run(&["task", "list", "--json"]);
    assert_eq!(list.status, 0, "{}", list.explain());
    let doc = crate::read_commands::document(&list, "cli-task-list");
    let states: Vec<(String, String)> = doc["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc:#}"))
        .iter()
        .map(|t| (t["id"].as_str().unwrap_or_default().to_string(), t["state"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(states, vec![("slow".to_string(), "timed_out".to_string()), ("three".to_string(), "exited".to_string())]);
    runs.push(list);
    runs
}

#[test]
fn tasks_on_a_local_pod_report_exit_codes_time_limits_and_duplicates() {
    let mut s = Sandbox::new();
    let up = s.run(&["pod-up", "--yes"]);
    assert_eq!(up.status, 0, "{}", up.explain());
    let pod = s.pods().pop().expect("pod-up created a pod");
    s.set("LIUM_TARGET", &pod);
    let fsm_before = std::fs::read_to_string(task_root_state(&s)).ok();
    let runs = scenario(&s, &s.root().join(".wfhost/pods"));
    // The remote FSM was not moved by any task command.
    assert_eq!(std::fs::read_to_string(task_root_state(&s)).ok(), fsm_before);
    let refs: Vec<&Run> = runs.iter().collect();
    assert_verifies(&s, &refs);
}

/// The local pod's FSM state file (wherever the pod keeps OUT).
fn task_root_state(s: &Sandbox) -> PathBuf {
    let mut stack = vec![s.root().join(".wfhost/pods")];
    while let Some(d) = stack.pop() {
        let f = d.join("_control/workflow_state.json");
        if f.is_file() {
            return f;
        }
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            }
        }
    }
    s.root().join("no-state-file")
}

#[test]
fn tasks_over_ssh_survive_wfhost_and_are_waited_for() {
    let sshd = Sshd::start();
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    let mut runs = scenario(&s, &s.root().join("remote"));
    // A task outlives the wfhost that started it (and its connection); `task wait` sees it end.
    let run = s.run(&["task", "run", "--id", "later", "--timeout-secs", "60", "--", "sleep 2; echo finished"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let dir = task_dir(&s.root().join("remote"), "later");
    assert!(!dir.join("_wf/exit_code").exists(), "the task ended before wfhost did");
    let waited = s.run(&["task", "wait", "--id", "later", "--timeout-secs", "60"]);
    assert_eq!(waited.status, 0, "{}", waited.explain());
    let f = facts(&waited, "P75");
    assert_eq!((f["task_state"].as_str(), f["task_exit_code"].as_str(), f["stdout_tail"].as_str()), (Some("exited"), Some("0"), Some("finished")), "{f:#}");
    runs.extend([run, waited]);
    let refs: Vec<&Run> = runs.iter().collect();
    assert_verifies(&s, &refs);
}
