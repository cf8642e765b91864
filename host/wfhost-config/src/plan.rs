//! Which phases a command runs.
//!
//! `flow` runs every phase of the constitution in order. Each legacy primitive (`pod-up`,
//! `checkout`, ...) runs the host phases it needs (P00 precheck, P20 bind) plus the plugin
//! phases that do its step, through the same engine, court and evidence as `flow` (Law 2).

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
        }
    }

    /// Phase IDs the command runs, in order. P99 (summary) closes every plan.
    pub fn phases(&self) -> &'static [PhaseId] {
        use PhaseId::*;
        match self {
            Plan::Flow => PhaseId::ALL,
            Plan::PodUp => &[P00, P10, P20, P30, P99],
            Plan::PodStatus => &[P00, P20, P30, P99],
            Plan::Bootstrap => &[P00, P20, P30, P40, P99],
            Plan::Checkout => &[P00, P20, P30, P50, P99],
            Plan::SweepStart { .. } => &[P00, P20, P30, P60, P99],
            Plan::SweepStatus { .. } => &[P00, P20, P70, P99],
            Plan::Fetch(_) => &[P00, P20, P80, P99],
            Plan::PodDelete => &[P00, P20, P90, P99],
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
            Plan::PodStatus | Plan::Bootstrap | Plan::Checkout => {}
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
        assert_eq!(Plan::Flow.phases().len(), c.phases.len());
    }

    #[test]
    fn primitives_never_provision_except_pod_up() {
        let f = Flags::default();
        assert_eq!(Plan::Checkout.flags(f.clone()).provision, Provision::Skip);
        assert_eq!(Plan::PodUp.flags(f.clone()).provision, Provision::Auto);
        assert_eq!(Plan::PodDelete.flags(f).teardown, Teardown::Delete);
    }
}
