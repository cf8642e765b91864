//! `wfhost:plugin/process`: a transport runs a host program, forwarded to
//! [`TransportHost::run_process`](crate::TransportHost::run_process).
//!
//! Only store data implementing [`ProcessView`] can be given the interface, and only the
//! transport's does; the policy (allowlist, clean environment, secrets, timeout) lives in the host
//! implementation, normally a [`ProcessRunner`](crate::process::ProcessRunner).

use crate::bindings::transport::wfhost::plugin::process::{self, RunRequest};
use crate::host::TransportHost;
use crate::types::CommandResult;
use wasmtime::component::{HasData, Linker};

/// Store data whose component may run host programs.
pub(crate) trait ProcessView: Send {
    /// The host that runs (or refuses) the programs.
    fn process_host(&mut self) -> &dyn TransportHost;
}

/// `process::Host` over the host a [`ProcessView`] names.
pub(crate) struct ProcessCtx<'a>(&'a dyn TransportHost);

impl process::Host for ProcessCtx<'_> {
    fn run(&mut self, request: RunRequest) -> Result<CommandResult, String> {
        self.0.run_process(request)
    }
}

struct Process;

impl HasData for Process {
    type Data<'a> = ProcessCtx<'a>;
}

/// Link `wfhost:plugin/process`.
pub(crate) fn add_to_linker<T: ProcessView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    process::add_to_linker::<T, Process>(linker, |state| ProcessCtx(state.process_host()))
}
