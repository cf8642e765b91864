//! Phase executors: load one and run its phases.
//!
//! Each call is a fresh instance in a fresh store with the caller's limits (the flow engine passes
//! the phase's own wall-clock deadline). The executor's imports (`log`, `settings`, `gateway`) go
//! to the [`ExecutorHost`] the caller passes; the outcome is size-checked against
//! `max_output_bytes`. Failures of the plugin are [`PluginFailure`]s; what the phase itself
//! reports (`fail` with a code) is a normal [`PhaseOutcome`]. The store, limits, instantiation and
//! checks of a call are the plumbing every role shares (`handle`).

use crate::bindings::executor::ExecutorPre;
use crate::failure::PluginFailure;
use crate::handle::{role_handle, Handle};
use crate::host::{ExecutorHost, NoHost};
use crate::limits::Limits;
use crate::state::ExecutorState;
use crate::types::{PhaseContext, PhaseOutcome};
use std::sync::Arc;

/// A loaded phase executor.
pub struct Executor {
    handle: Handle<ExecutorPre<ExecutorState>>,
}

role_handle!(Executor);

impl Executor {
    /// The phases this executor serves (`P10`, `P30`, ...). Runs with no host: logs are dropped,
    /// settings are absent and gateway calls are refused.
    pub fn phases(&self, limits: &Limits) -> Result<Vec<String>, PluginFailure> {
        self.handle
            .call(limits, Arc::new(NoHost), |bindings, store| {
                bindings.wfhost_plugin_phase().call_phases(store)
            })
    }

    /// Run one phase with `host` serving the executor's imports.
    pub fn run_phase(
        &self,
        context: &PhaseContext,
        host: Arc<dyn ExecutorHost>,
        limits: &Limits,
    ) -> Result<PhaseOutcome, PluginFailure> {
        self.handle.call(limits, host, |bindings, store| {
            bindings
                .wfhost_plugin_phase()
                .call_run_phase(store, context)
        })
    }
}
