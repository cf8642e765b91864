//! The plumbing every role handle shares: a [`Loaded`] component pre-instantiated for its
//! world, and one call into it.
//!
//! [`Handle::new`] links the role's [`Loaded`] component against the role's linker (picked by the
//! type of the role's call data, see `linker::Linked`) and turns it into the world's typed
//! pre-instance (a link failure is a [`LoadError::Link`] for the role). [`Handle::call`] is one
//! call: a fresh [`Call`] (store, limits, what the caller passed for the role), instantiate, run
//! the export, then refuse an answer that came after the deadline or is over
//! `max_output_bytes`; every failure on the way is a [`PluginFailure`] classified by the call. The
//! role modules ([`crate::Auditor`], [`crate::Executor`], [`crate::Transport`]) hold a `Handle`
//! and add their exports; `role_handle!` gives each the same `Debug`, `new`, `name`, `sha256`
//! and `load_source`.

use crate::bindings::auditor::{Auditor, AuditorPre};
use crate::bindings::executor::{Executor, ExecutorPre};
use crate::bindings::transport::{TransportPlugin, TransportPluginPre};
use crate::cache::LoadSource;
use crate::error::LoadError;
use crate::failure::{FailureKind, PluginFailure};
use crate::host::{ExecutorHost, TransportHost};
use crate::limits::Limits;
use crate::linker::Linked;
use crate::output::OutputSize;
use crate::runtime::{Loaded, Runtime};
use crate::state::{RoleHost, State};
use crate::store::Call;
use std::sync::Arc;
use wasmtime::component::InstancePre;
use wasmtime::Store;

/// The typed pre-instance wasmtime's `bindgen!` generates for one world, and what a call of its
/// role takes.
pub(crate) trait WorldPre: Sized {
    /// What the caller passes for one call (it names the role and its linker).
    type Host: Linked;
    /// The instantiated world (its exports).
    type Bindings;
    /// Check the pre-instance exports the world's interface.
    fn from_pre(pre: InstancePre<State<Self::Host>>) -> wasmtime::Result<Self>;
    /// Instantiate into a call's store.
    fn instantiate_in(
        &self,
        store: &mut Store<State<Self::Host>>,
    ) -> wasmtime::Result<Self::Bindings>;
}

macro_rules! world_pre {
    ($pre:ident, $bindings:ty, $host:ty) => {
        impl WorldPre for $pre<State<$host>> {
            type Host = $host;
            type Bindings = $bindings;

            fn from_pre(pre: InstancePre<State<$host>>) -> wasmtime::Result<Self> {
                $pre::new(pre)
            }

            fn instantiate_in(
                &self,
                store: &mut Store<State<$host>>,
            ) -> wasmtime::Result<Self::Bindings> {
                self.instantiate(store)
            }
        }
    };
}

world_pre!(AuditorPre, Auditor, ());
world_pre!(ExecutorPre, Executor, Arc<dyn ExecutorHost>);
world_pre!(TransportPluginPre, TransportPlugin, Arc<dyn TransportHost>);

/// A component loaded for the role of `P`. Each call is a fresh instance in a fresh store.
pub(crate) struct Handle<P> {
    runtime: Runtime,
    loaded: Loaded,
    pre: P,
}

impl<P: WorldPre> Handle<P> {
    pub(crate) fn new(runtime: Runtime, loaded: Loaded) -> Result<Handle<P>, LoadError> {
        let pre = P::Host::linker(runtime.linkers())
            .instantiate_pre(&loaded.component)
            .and_then(P::from_pre)
            .map_err(|e| LoadError::Link {
                name: loaded.name.clone(),
                role: <P::Host as RoleHost>::ROLE,
                message: format!("{e:#}"),
            })?;
        Ok(Handle {
            runtime,
            loaded,
            pre,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.loaded.name
    }

    pub(crate) fn sha256(&self) -> &str {
        &self.loaded.sha256
    }

    pub(crate) fn load_source(&self) -> LoadSource {
        self.loaded.source
    }

    /// One call with `host` serving the imports: fresh store with `limits`, instantiate, run
    /// `f` on the exports, refuse a late or oversized answer.
    pub(crate) fn call<R: OutputSize>(
        &self,
        limits: &Limits,
        host: P::Host,
        f: impl FnOnce(&P::Bindings, &mut Store<State<P::Host>>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        self.call_metered(limits, host, f).map(|(value, _)| value)
    }

    /// [`Handle::call`], also returning the finished [`Call`]: what it cost, and failures of
    /// further checks of the answer that carry those costs.
    pub(crate) fn call_metered<R: OutputSize>(
        &self,
        limits: &Limits,
        host: P::Host,
        f: impl FnOnce(&P::Bindings, &mut Store<State<P::Host>>) -> wasmtime::Result<R>,
    ) -> Result<(R, Call<P::Host>), PluginFailure> {
        let clock = self.runtime.clock();
        let engine = self.runtime.engine();
        let mut call = Call::new(engine, &clock, &self.loaded.name, limits, host)?;
        let bindings = self
            .pre
            .instantiate_in(&mut call.store)
            .map_err(|e| call.failure(&e, limits))?;
        let value = f(&bindings, &mut call.store).map_err(|e| call.failure(&e, limits))?;
        call.check_deadline(limits)?;
        check_size(&call, &value, limits)?;
        Ok((value, call))
    }

    pub(crate) fn fmt_debug(
        &self,
        role_handle: &str,
        f: &mut std::fmt::Formatter<'_>,
    ) -> std::fmt::Result {
        f.debug_struct(role_handle)
            .field("name", &self.loaded.name)
            .field("sha256", &self.loaded.sha256)
            .finish()
    }
}

/// Refuse output larger than the limit.
fn check_size<H: RoleHost, T: OutputSize>(
    call: &Call<H>,
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

/// For a public role handle `$handle { handle: Handle<_> }`: `Debug` (name and sha256),
/// `pub(crate) fn new` (see [`Handle::new`]) and the public `name`, `sha256` and `load_source`.
macro_rules! role_handle {
    ($handle:ident) => {
        impl ::std::fmt::Debug for $handle {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.handle.fmt_debug(stringify!($handle), f)
            }
        }

        impl $handle {
            pub(crate) fn new(
                runtime: $crate::runtime::Runtime,
                loaded: $crate::runtime::Loaded,
            ) -> Result<$handle, $crate::error::LoadError> {
                $crate::handle::Handle::new(runtime, loaded).map(|handle| $handle { handle })
            }

            /// The component's name (`builtin:<name>`, a file path, or the name given with its
            /// bytes).
            pub fn name(&self) -> &str {
                self.handle.name()
            }

            /// Hex sha256 of the component bytes.
            pub fn sha256(&self) -> &str {
                self.handle.sha256()
            }

            /// Where this load came from (memory, disk cache, fresh compile).
            pub fn load_source(&self) -> $crate::cache::LoadSource {
                self.handle.load_source()
            }
        }
    };
}

pub(crate) use role_handle;
