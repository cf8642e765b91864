//! Phase executors: load one and run its phases.
//!
//! Each call is a fresh instance in a fresh store with the caller's limits (the flow engine passes
//! the phase's own wall-clock deadline). The executor's imports (`log`, `settings`, `gateway`) go
//! to the [`ExecutorHost`] the caller passes; the outcome is size-checked against
//! `max_output_bytes`. Failures of the plugin are [`PluginFailure`]s; what the phase itself
//! reports (`fail` with a code) is a normal [`PhaseOutcome`].

use crate::bindings::executor::ExecutorPre;
use crate::cache::LoadSource;
use crate::error::LoadError;
use crate::failure::{FailureKind, PluginFailure};
use crate::host::{ExecutorHost, NoHost};
use crate::limits::Limits;
use crate::output::OutputSize;
use crate::roles::Role;
use crate::runtime::{Loaded, Runtime};
use crate::store::{Call, Hosts};
use crate::types::{PhaseContext, PhaseOutcome};
use std::sync::Arc;

/// A loaded phase executor.
pub struct Executor {
    runtime: Runtime,
    loaded: Loaded,
    pre: ExecutorPre<crate::store::HostState>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("name", &self.loaded.name)
            .field("sha256", &self.loaded.sha256)
            .finish()
    }
}

impl Executor {
    pub(crate) fn new(runtime: Runtime, loaded: Loaded) -> Result<Executor, LoadError> {
        let pre = ExecutorPre::new(loaded.pre.clone()).map_err(|e| LoadError::Link {
            name: loaded.name.clone(),
            role: Role::Executor,
            message: format!("{e:#}"),
        })?;
        Ok(Executor {
            runtime,
            loaded,
            pre,
        })
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.loaded.name
    }

    /// Hex sha256 of the component bytes.
    pub fn sha256(&self) -> &str {
        &self.loaded.sha256
    }

    /// Where this load came from (memory, disk cache, fresh compile).
    pub fn load_source(&self) -> LoadSource {
        self.loaded.source
    }

    /// The phases this executor serves (`P10`, `P30`, ...). Runs with no host: logs are dropped,
    /// settings are absent and gateway calls are refused.
    pub fn phases(&self, limits: &Limits) -> Result<Vec<String>, PluginFailure> {
        let mut call = Call::new(
            &self.runtime,
            &self.loaded.name,
            limits,
            Hosts::Executor(Arc::new(NoHost)),
        )?;
        let bindings = self
            .pre
            .instantiate(&mut call.store)
            .map_err(|e| call.failure(&e, limits))?;
        let phases = bindings
            .wfhost_plugin_phase()
            .call_phases(&mut call.store)
            .map_err(|e| call.failure(&e, limits))?;
        call.check_deadline(limits)?;
        check_size(&call, &phases, limits)?;
        Ok(phases)
    }

    /// Run one phase with `host` serving the executor's imports.
    pub fn run_phase(
        &self,
        context: &PhaseContext,
        host: Arc<dyn ExecutorHost>,
        limits: &Limits,
    ) -> Result<PhaseOutcome, PluginFailure> {
        let mut call = Call::new(
            &self.runtime,
            &self.loaded.name,
            limits,
            Hosts::Executor(host),
        )?;
        let bindings = self
            .pre
            .instantiate(&mut call.store)
            .map_err(|e| call.failure(&e, limits))?;
        let outcome = bindings
            .wfhost_plugin_phase()
            .call_run_phase(&mut call.store, context)
            .map_err(|e| call.failure(&e, limits))?;
        call.check_deadline(limits)?;
        check_size(&call, &outcome, limits)?;
        Ok(outcome)
    }
}

/// Refuse output larger than the limit.
pub(crate) fn check_size<T: OutputSize>(
    call: &Call,
    value: &T,
    limits: &Limits,
) -> Result<(), PluginFailure> {
    let size = value.output_size();
    if size > limits.max_output_bytes {
        return Err(call.failure_with(
            FailureKind::OversizedOutput,
            format!(
                "returned {size} bytes, over the {}-byte output limit",
                limits.max_output_bytes
            ),
        ));
    }
    Ok(())
}
