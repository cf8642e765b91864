//! `wfhost:plugin/gateway`: what a phase executor may do to the bound target, forwarded to the
//! [`ExecutorHost`](crate::ExecutorHost) of the call. Only the executor linker has it.

use crate::bindings::executor::wfhost::plugin::gateway::{self, ExecRequest, GatewayError};
use crate::host::ExecutorHost;
use crate::store::{HostState, Hosts};
use crate::types::{Artifact, CommandResult, PodIdentity};
use wasmtime::component::{HasSelf, Linker};

impl HostState {
    fn gateway(&self) -> Result<&dyn ExecutorHost, GatewayError> {
        match &self.hosts {
            Hosts::Executor(host) => Ok(host.as_ref()),
            _ => Err(GatewayError::Refused(
                "this plugin role has no gateway".to_string(),
            )),
        }
    }
}

impl gateway::Host for HostState {
    fn bound_target(&mut self) -> Option<String> {
        self.gateway().ok().and_then(|g| g.bound_target())
    }

    fn provision(&mut self, name_hint: String) -> Result<PodIdentity, GatewayError> {
        self.gateway()?.provision(&name_hint)
    }

    fn pod_status(&mut self, target: String) -> Result<(String, String), GatewayError> {
        self.gateway()?.pod_status(&target)
    }

    fn resolve_path(&mut self, target: String, path: String) -> Result<String, GatewayError> {
        self.gateway()?.resolve_path(&target, &path)
    }

    fn exec(&mut self, request: ExecRequest) -> Result<CommandResult, GatewayError> {
        self.gateway()?.exec(request)
    }

    fn put_file(
        &mut self,
        target: String,
        path: String,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), GatewayError> {
        self.gateway()?.put_file(&target, &path, contents, mode)
    }

    fn get_file(
        &mut self,
        target: String,
        path: String,
        max_bytes: u64,
    ) -> Result<Vec<u8>, GatewayError> {
        self.gateway()?.get_file(&target, &path, max_bytes)
    }

    fn fetch_dir(
        &mut self,
        target: String,
        remote_dir: String,
        local_rel: String,
    ) -> Result<Vec<Artifact>, GatewayError> {
        self.gateway()?.fetch_dir(&target, &remote_dir, &local_rel)
    }

    fn delete_pod(&mut self, target: String) -> Result<(), GatewayError> {
        self.gateway()?.delete_pod(&target)
    }
}

/// Link `wfhost:plugin/gateway`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    gateway::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
