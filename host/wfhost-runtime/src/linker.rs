//! One linker per role, composed from the capability modules.
//!
//! | role      | WASI base | log | settings | gateway | process |
//! |-----------|-----------|-----|----------|---------|---------|
//! | auditor   | yes       |     |          |         |         |
//! | executor  | yes       | yes | yes      | yes     |         |
//! | transport | yes       | yes | yes      |         | yes     |
//!
//! The same table is enforced at load by `roles::check_component`, which refuses a component
//! whose imports go beyond it before any linking happens.

use crate::capability::{gateway, log, process, settings, wasi};
use crate::error::RuntimeError;
use crate::roles::Role;
use crate::store::HostState;
use wasmtime::component::Linker;
use wasmtime::Engine;

/// The three role linkers of a runtime.
pub(crate) struct Linkers {
    auditor: Linker<HostState>,
    executor: Linker<HostState>,
    transport: Linker<HostState>,
}

impl Linkers {
    pub(crate) fn new(engine: &Engine) -> Result<Linkers, RuntimeError> {
        let build =
            |role| linker_for(engine, role).map_err(|e| RuntimeError::Engine(format!("{e:#}")));
        Ok(Linkers {
            auditor: build(Role::Auditor)?,
            executor: build(Role::Executor)?,
            transport: build(Role::Transport)?,
        })
    }

    pub(crate) fn get(&self, role: Role) -> &Linker<HostState> {
        match role {
            Role::Auditor => &self.auditor,
            Role::Executor => &self.executor,
            Role::Transport => &self.transport,
        }
    }
}

fn linker_for(engine: &Engine, role: Role) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    match role {
        Role::Auditor => {}
        Role::Executor => {
            log::add_to_linker(&mut linker)?;
            settings::add_to_linker(&mut linker)?;
            gateway::add_to_linker(&mut linker)?;
        }
        Role::Transport => {
            log::add_to_linker(&mut linker)?;
            settings::add_to_linker(&mut linker)?;
            process::add_to_linker(&mut linker)?;
        }
    }
    Ok(linker)
}
