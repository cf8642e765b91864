//! `wfhost:plugin/process`: a transport runs a host program, forwarded to
//! [`TransportHost::run_process`](crate::TransportHost::run_process). Only the transport linker
//! has it; the policy (allowlist, clean environment, secrets, timeout) lives in the host
//! implementation, normally a [`ProcessRunner`](crate::process::ProcessRunner).

use crate::bindings::transport::wfhost::plugin::process::{self, RunRequest};
use crate::store::{HostState, Hosts};
use crate::types::CommandResult;
use wasmtime::component::{HasSelf, Linker};

impl process::Host for HostState {
    fn run(&mut self, request: RunRequest) -> Result<CommandResult, String> {
        match &self.hosts {
            Hosts::Transport(host) => host.run_process(request),
            _ => Err("this plugin role may not run host programs".to_string()),
        }
    }
}

/// Link `wfhost:plugin/process`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    process::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
