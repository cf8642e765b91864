//! `wfhost:plugin/gateway`: what a phase executor may do to the bound target, forwarded to the
//! [`ExecutorHost`](crate::ExecutorHost) of the call.
//!
//! Only store data implementing [`GatewayView`] can be given the interface, and only the
//! executor's does. The policy (scope, action class, consent) lives in the host implementation.

use crate::bindings::executor::wfhost::plugin::gateway::{self, ExecRequest, GatewayError};
use crate::host::ExecutorHost;
use crate::types::{Artifact, CommandResult, PodIdentity, PodReport};
use wasmtime::component::{HasData, Linker};

/// Store data whose component may act on the flow's target through the gateway.
pub(crate) trait GatewayView: Send {
    /// The host that serves (or refuses) the gateway calls.
    fn gateway_host(&mut self) -> &dyn ExecutorHost;
}

/// `gateway::Host` over the host a [`GatewayView`] names.
pub(crate) struct GatewayCtx<'a>(&'a dyn ExecutorHost);

impl gateway::Host for GatewayCtx<'_> {
    fn bound_target(&mut self) -> Option<String> {
        self.0.bound_target()
    }

    fn provision(&mut self, name_hint: String) -> Result<PodIdentity, GatewayError> {
        self.0.provision(&name_hint)
    }

    fn pod_status(&mut self, target: String) -> Result<PodReport, GatewayError> {
        self.0.pod_status(&target)
    }

    fn resolve_path(&mut self, target: String, path: String) -> Result<String, GatewayError> {
        self.0.resolve_path(&target, &path)
    }

    fn exec(&mut self, request: ExecRequest) -> Result<CommandResult, GatewayError> {
        self.0.exec(request)
    }

    fn put_file(
        &mut self,
        target: String,
        path: String,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), GatewayError> {
        self.0.put_file(&target, &path, contents, mode)
    }

    fn get_file(
        &mut self,
        target: String,
        path: String,
        max_bytes: u64,
    ) -> Result<Vec<u8>, GatewayError> {
        self.0.get_file(&target, &path, max_bytes)
    }

    fn fetch_dir(
        &mut self,
        target: String,
        remote_dir: String,
        local_rel: String,
    ) -> Result<Vec<Artifact>, GatewayError> {
        self.0.fetch_dir(&target, &remote_dir, &local_rel)
    }

    fn delete_pod(&mut self, target: String) -> Result<(), GatewayError> {
        self.0.delete_pod(&target)
    }
}

struct Gateway;

impl HasData for Gateway {
    type Data<'a> = GatewayCtx<'a>;
}

/// Link `wfhost:plugin/gateway`.
pub(crate) fn add_to_linker<T: GatewayView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    gateway::add_to_linker::<T, Gateway>(linker, |state| GatewayCtx(state.gateway_host()))
}
