//! Which phases a command runs.
//!
//! `flow` runs every phase of the constitution in order. Each legacy primitive (`pod-up`,
//! `checkout`, ...) runs the host phases it needs (P00 precheck, P20 bind) plus the plugin
//! phases that do its step, through the same engine, court and evidence as `flow` (Law 2).
//! The task commands (`task run|status|wait|list`) run P00, P20 and P75 (a phase `flow` does
//! not run), whose executor starts or reads a tracked task; their parameters ride on the plan
//! ([`TaskRequest`]) to P75's inputs.

use crate::flags::{Fetch, Flags, Provision, Sweep, Teardown};
use wfhost_constitution::PhaseId;

/// A command of the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The whole lifecycle.
    Flow,
    /// Create a pod and wait until it is ready.
    PodUp,
    /// Check a pod is ready.
    PodStatus,
    /// Bootstrap the pod.
    Bootstrap,
    /// Check out the repository.
    Checkout,
    /// Start (or resume) the sweep.
    SweepStart {
        /// Resume instead of start.
        resume: bool,
    },
    /// One monitor snapshot, or wait for the sweep to finish.
    SweepStatus {
        /// Poll until the sweep finishes.
        watch: bool,
    },
    /// Copy one run or every run back.
    Fetch(Fetch),
    /// Delete the pod.
    PodDelete,
    /// A tracked task on the target.
    Task(TaskRequest),
}

/// What a task command asks of P75.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskRequest {
    /// Start `command` detached as task `id`, stopped after `timeout_secs`.
    Run {
        /// The task id (a safe path segment).
        id: String,
        /// The time limit in seconds.
        timeout_secs: u64,
        /// The shell command line.
        command: String,
    },
    /// The status and log tail of task `id`.
    Status {
        /// The task id.
        id: String,
    },
    /// Wait (at most `timeout_secs`) for task `id` to end.
    Wait {
        /// The task id.
        id: String,
        /// How long to wait in seconds.
        timeout_secs: u64,
    },
    /// Every task on the target.
    List,
}

impl TaskRequest {
    /// The command as typed (`task-run`, ...): the P75 `commands` key of phases.toml.
    pub fn name(&self) -> &'static str {
        match self {
            TaskRequest::Run { .. } => "task-run",
            TaskRequest::Status { .. } => "task-status",
            TaskRequest::Wait { .. } => "task-wait",
            TaskRequest::List => "task-list",
        }
    }

    /// The command to type after this one was interrupted: the task's status for `run`, `status`
    /// and `wait` (a `run` cut short may or may not have launched it; running it again could
    /// start it twice), the listing for `list`.
    pub fn follow_up(&self) -> String {
        match self {
            TaskRequest::Run { id, .. } | TaskRequest::Status { id } | TaskRequest::Wait { id, .. } => {
                format!("task status --id {id}")
            }
            TaskRequest::List => "task list".to_string(),
        }
    }

    /// The request as P75's inputs (`task_op`, `task_id`, `task_timeout_secs`, `task_command`).
    pub fn inputs(&self) -> Vec<(String, String)> {
        let op = self.name().trim_start_matches("task-").to_string();
        let mut v = vec![("task_op".to_string(), op)];
        match self {
            TaskRequest::Run { id, timeout_secs, command } => {
                v.push(("task_id".into(), id.clone()));
                v.push(("task_timeout_secs".into(), timeout_secs.to_string()));
                v.push(("task_command".into(), command.clone()));
            }
            TaskRequest::Status { id } => v.push(("task_id".into(), id.clone())),
            TaskRequest::Wait { id, timeout_secs } => {
                v.push(("task_id".into(), id.clone()));
                v.push(("task_timeout_secs".into(), timeout_secs.to_string()));
            }
            TaskRequest::List => {}
        }
        v
    }
}

/// Why a task id is not usable, if it is not: one safe path segment of letters, digits, `.`,
/// `_` and `-`, not starting with `.`, at most 64 bytes.
pub fn task_id_problem(id: &str) -> Option<String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    (!ok).then(|| format!(
        "task id {id:?} is not usable: use 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
    ))
}

impl Plan {
    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Plan::Flow => "flow",
            Plan::PodUp => "pod-up",
            Plan::PodStatus => "pod-status",
            Plan::Bootstrap => "bootstrap",
            Plan::Checkout => "checkout",
            Plan::SweepStart { resume: false } => "sweep-start",
            Plan::SweepStart { resume: true } => "sweep-resume",
            Plan::SweepStatus { watch: false } => "sweep-status",
            Plan::SweepStatus { watch: true } => "sweep-watch",
            Plan::Fetch(Fetch::All) => "fetch-all",
            Plan::Fetch(_) => "fetch-run",
            Plan::PodDelete => "pod-delete",
            Plan::Task(t) => t.name(),
        }
    }

    /// Phase IDs the command runs, in order. P99 (summary) closes every plan.
    pub fn phases(&self) -> &'static [PhaseId] {
        use PhaseId::*;
        match self {
            Plan::Flow => PhaseId::FLOW,
            Plan::PodUp => &[P00, P10, P20, P30, P99],
            Plan::PodStatus => &[P00, P20, P30, P99],
            Plan::Bootstrap => &[P00, P20, P30, P40, P99],
            Plan::Checkout => &[P00, P20, P30, P50, P99],
            Plan::SweepStart { .. } => &[P00, P20, P30, P60, P99],
            Plan::SweepStatus { .. } => &[P00, P20, P70, P99],
            Plan::Fetch(_) => &[P00, P20, P80, P99],
            Plan::PodDelete => &[P00, P20, P90, P99],
            Plan::Task(_) => &[P00, P20, P75, P99],
        }
    }

    /// The flags a primitive implies, on top of defaults. `flow` keeps the user's flags.
    pub fn flags(&self, mut user: Flags) -> Flags {
        match self {
            Plan::Flow => return user,
            Plan::PodUp => user.provision = Provision::Auto,
            Plan::SweepStart { resume } => {
                user.sweep = if *resume { Sweep::Resume } else { Sweep::Start }
            }
            Plan::SweepStatus { watch } => user.wait = *watch,
            Plan::Fetch(f) => user.fetch = f.clone(),
            Plan::PodDelete => user.teardown = Teardown::Delete,
            Plan::PodStatus | Plan::Bootstrap | Plan::Checkout | Plan::Task(_) => {}
        }
        if !matches!(self, Plan::PodUp) {
            user.provision = Provision::Skip;
        }
        user
    }

    /// Whether the command needs a target given up front (it does not create one).
    pub fn needs_existing_target(&self) -> bool {
        !matches!(self, Plan::Flow | Plan::PodUp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfhost_constitution::Constitution;

    #[test]
    fn an_interrupted_task_command_is_followed_by_the_tasks_status_never_a_second_launch() {
        let run = TaskRequest::Run { id: "t1".into(), timeout_secs: 5, command: "sleep 9".into() };
        assert_eq!(run.follow_up(), "task status --id t1");
        assert_eq!(TaskRequest::Wait { id: "t2".into(), timeout_secs: 5 }.follow_up(), "task status --id t2");
        assert_eq!(TaskRequest::Status { id: "t3".into() }.follow_up(), "task status --id t3");
        assert_eq!(TaskRequest::List.follow_up(), "task list");
        // What is typed has a space where the internal command name has a dash.
        assert_ne!(run.follow_up().split(' ').next(), Some(run.name()));
    }

    #[test]
    fn every_plan_is_in_table_order_and_starts_with_precheck_and_ends_with_summary() {
        let c = Constitution::get().unwrap();
        let all = [
            Plan::Flow,
            Plan::PodUp,
            Plan::PodStatus,
            Plan::Bootstrap,
            Plan::Checkout,
            Plan::SweepStart { resume: false },
            Plan::SweepStatus { watch: true },
            Plan::Fetch(Fetch::All),
            Plan::PodDelete,
            Plan::Task(TaskRequest::List),
        ];
        for plan in all {
            let ids = plan.phases();
            assert_eq!(ids.first(), Some(&PhaseId::P00));
            assert_eq!(ids.last(), Some(&PhaseId::P99));
            assert!(ids.contains(&PhaseId::P20), "{} must bind a target", plan.name());
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            for id in ids {
                assert!(c.phase(id).is_some(), "{id} is not in phases.toml");
            }
        }
        assert_eq!(Plan::Flow.phases().len(), c.phases.iter().filter(|p| p.flow).count());
        assert!(!Plan::Flow.phases().contains(&PhaseId::P75));
    }

    #[test]
    fn task_commands_are_p75_command_names_and_ids_are_checked() {
        let c = Constitution::get().unwrap();
        let p75 = c.phase(PhaseId::P75).unwrap();
        for t in [
            TaskRequest::Run { id: "a".into(), timeout_secs: 5, command: "true".into() },
            TaskRequest::Status { id: "a".into() },
            TaskRequest::Wait { id: "a".into(), timeout_secs: 5 },
            TaskRequest::List,
        ] {
            let flags = [("command".to_string(), t.name().to_string())].into_iter().collect();
            assert_eq!(p75.command_name(&flags, false), Some(t.name()));
        }
        assert!(task_id_problem("train-1.a_b").is_none());
        for bad in ["", ".x", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(task_id_problem(bad).is_some(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn primitives_never_provision_except_pod_up() {
        let f = Flags::default();
        assert_eq!(Plan::Checkout.flags(f.clone()).provision, Provision::Skip);
        assert_eq!(Plan::PodUp.flags(f.clone()).provision, Provision::Auto);
        assert_eq!(Plan::PodDelete.flags(f).teardown, Teardown::Delete);
    }
}
