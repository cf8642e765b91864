//! The store data of one call, one type per role, and the capability views each one implements.
//!
//! | store data         | WASI (denying) | log | settings | gateway | process | http | memo |
//! |--------------------|----------------|-----|----------|---------|---------|------|------|
//! | [`AuditorState`]   | yes            |     |          |         |         |      |      |
//! | [`ExecutorState`]  | yes            | yes | yes      | yes     |         |      |      |
//! | [`TransportState`] | yes            | yes | yes      |         | yes     | yes  | yes  |
//!
//! A view a type does not implement is a capability its role can never be linked with: the
//! capability's `add_to_linker` requires the view, so `linker` could not give it even by mistake.
//! The three are one generic [`State<H>`]: a [`Sandbox`] (the WASI state and the memory limiter
//! of the call) and what the caller passed for the call (`H`: `()` for an auditor, the host
//! object for an executor or a transport), which also names the role ([`RoleHost`]). WASI is
//! implemented for every `State`; log and settings for the states whose host serves plugins
//! ([`ServesPlugins`]); the gateway only for the executor's and the process, http and memo
//! capabilities only for the transport's. A call (`store`) builds the sandbox from its limits, then the state with
//! [`State::new`].

use crate::capability::gateway::GatewayView;
use crate::capability::http::HttpView;
use crate::capability::memo::MemoView;
use crate::capability::log::LogView;
use crate::capability::process::ProcessView;
use crate::capability::settings::SettingsView;
use crate::capability::wasi::{TailPipe, WasiSandbox, WasiSandboxView};
use crate::host::{ExecutorHost, PluginHost, TransportHost};
use crate::limits::Limits;
use crate::roles::Role;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// What every role's store data holds: the WASI state and the memory limiter of the call.
pub(crate) struct Sandbox {
    pub(crate) wasi: WasiSandbox,
    pub(crate) limiter: GuardedLimits,
}

impl Sandbox {
    /// A sandbox for one call with `limits`, stdout/stderr into the given pipes, ending at
    /// `deadline`.
    pub(crate) fn new(
        limits: &Limits,
        stdout: &TailPipe,
        stderr: &TailPipe,
        deadline: Instant,
    ) -> Sandbox {
        Sandbox {
            wasi: WasiSandbox::new(stdout, stderr, deadline),
            limiter: GuardedLimits {
                inner: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    .table_elements(1 << 20)
                    .instances(64)
                    .tables(64)
                    .memories(8)
                    .build(),
                memory_refused: false,
                grow_failure: None,
            },
        }
    }
}

/// The store data of one call of a role whose caller passes `H` for the call: `()` for an
/// auditor, the host object for an executor or a transport.
pub(crate) struct State<H> {
    sandbox: Sandbox,
    host: H,
}

/// An auditor's call: WASI that denies everything, and nothing else.
pub(crate) type AuditorState = State<()>;
/// An executor's call: log, settings and gateway, served by the caller's [`ExecutorHost`].
pub(crate) type ExecutorState = State<Arc<dyn ExecutorHost>>;
/// A transport's call: log, settings and process, served by the caller's [`TransportHost`].
pub(crate) type TransportState = State<Arc<dyn TransportHost>>;

impl<H> State<H> {
    /// The data of one call.
    pub(crate) fn new(sandbox: Sandbox, host: H) -> State<H> {
        State { sandbox, host }
    }

    /// The call's sandbox.
    pub(crate) fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The call's sandbox, mutably.
    pub(crate) fn sandbox_mut(&mut self) -> &mut Sandbox {
        &mut self.sandbox
    }
}

/// What a caller passes for one call of a role; names the role.
pub(crate) trait RoleHost: Send + 'static {
    /// The role whose calls take this.
    const ROLE: Role;
}

impl RoleHost for () {
    const ROLE: Role = Role::Auditor;
}

impl RoleHost for Arc<dyn ExecutorHost> {
    const ROLE: Role = Role::Executor;
}

impl RoleHost for Arc<dyn TransportHost> {
    const ROLE: Role = Role::Transport;
}

impl<H: RoleHost> WasiSandboxView for State<H> {
    fn wasi(&mut self) -> &mut WasiSandbox {
        &mut self.sandbox.wasi
    }
}

/// The host objects that serve `log` and `settings` (the executor's and the transport's; an
/// auditor's `()` is not one, so it gets neither).
pub(crate) trait ServesPlugins {
    /// The object as a [`PluginHost`].
    fn plugin_host(&self) -> &dyn PluginHost;
}

impl ServesPlugins for Arc<dyn ExecutorHost> {
    fn plugin_host(&self) -> &dyn PluginHost {
        self.as_ref()
    }
}

impl ServesPlugins for Arc<dyn TransportHost> {
    fn plugin_host(&self) -> &dyn PluginHost {
        self.as_ref()
    }
}

impl<H: RoleHost + ServesPlugins> LogView for State<H> {
    fn log_host(&mut self) -> &dyn PluginHost {
        self.host.plugin_host()
    }
}

impl<H: RoleHost + ServesPlugins> SettingsView for State<H> {
    fn settings_host(&mut self) -> &dyn PluginHost {
        self.host.plugin_host()
    }
}

impl GatewayView for ExecutorState {
    fn gateway_host(&mut self) -> &dyn ExecutorHost {
        self.host.as_ref()
    }
}

impl ProcessView for TransportState {
    fn process_host(&mut self) -> &dyn TransportHost {
        self.host.as_ref()
    }
}

impl HttpView for TransportState {
    fn http_host(&mut self) -> &dyn TransportHost {
        self.host.as_ref()
    }
}

impl MemoView for TransportState {
    fn memo_host(&mut self) -> &dyn TransportHost {
        self.host.as_ref()
    }
}

/// `StoreLimits`, plus a record of whether a memory growth was refused by the limit, and of the
/// last growth the limit allowed but the host could not make (e.g. no address space left).
pub(crate) struct GuardedLimits {
    inner: StoreLimits,
    pub(crate) memory_refused: bool,
    pub(crate) grow_failure: Option<String>,
}

impl ResourceLimiter for GuardedLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if !allowed {
            self.memory_refused = true;
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.grow_failure = Some(format!("{error:#}"));
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
