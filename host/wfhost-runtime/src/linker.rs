//! One linker per role, composed from the capability modules.
//!
//! | role      | WASI (denying) | log | settings | gateway | process | http | memo |
//! |-----------|----------------|-----|----------|---------|---------|------|------|
//! | auditor   | yes            |     |          |         |         |      |      |
//! | executor  | yes            | yes | yes      | yes     |         |      |      |
//! | transport | yes            | yes | yes      |         | yes     | yes  | yes  |
//!
//! Each linker is typed by its role's store data (`state`), and a capability's `add_to_linker`
//! needs that data to implement the capability's view: the table is checked by the compiler
//! (giving the auditor's linker the gateway does not build), and by the test below, which asks
//! each store type which views it has. "WASI (denying)" is every WASI 0.2 interface a language
//! runtime imports, with no file, socket, environment or argument behind it (`capability::wasi`).
//! The same table is enforced at load by `roles::check_component`, which refuses a component
//! whose imports go beyond it (naming the import and the role) before any linking happens.
//! [`Linked`] maps a role's call data to its linker, so a role handle pre-instantiates its
//! component against the right one.

use crate::capability::{gateway, http, log, memo, process, settings, wasi};
use crate::error::RuntimeError;
use crate::state::{AuditorState, ExecutorState, RoleHost, State, TransportState};
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime::Engine;

/// The three role linkers of a runtime.
pub(crate) struct Linkers {
    auditor: Linker<AuditorState>,
    executor: Linker<ExecutorState>,
    transport: Linker<TransportState>,
}

impl Linkers {
    pub(crate) fn new(engine: &Engine) -> Result<Linkers, RuntimeError> {
        let built = || -> wasmtime::Result<Linkers> {
            Ok(Linkers {
                auditor: auditor(engine)?,
                executor: executor(engine)?,
                transport: transport(engine)?,
            })
        };
        built().map_err(|e| RuntimeError::Engine(format!("{e:#}")))
    }
}

/// What a caller passes for a call of a role, with that role's linker.
pub(crate) trait Linked: RoleHost + Sized {
    /// The role's linker.
    fn linker(linkers: &Linkers) -> &Linker<State<Self>>;
}

impl Linked for () {
    fn linker(linkers: &Linkers) -> &Linker<AuditorState> {
        &linkers.auditor
    }
}

impl Linked for Arc<dyn crate::host::ExecutorHost> {
    fn linker(linkers: &Linkers) -> &Linker<ExecutorState> {
        &linkers.executor
    }
}

impl Linked for Arc<dyn crate::host::TransportHost> {
    fn linker(linkers: &Linkers) -> &Linker<TransportState> {
        &linkers.transport
    }
}

fn auditor(engine: &Engine) -> wasmtime::Result<Linker<AuditorState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    Ok(linker)
}

fn executor(engine: &Engine) -> wasmtime::Result<Linker<ExecutorState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    log::add_to_linker(&mut linker)?;
    settings::add_to_linker(&mut linker)?;
    gateway::add_to_linker(&mut linker)?;
    Ok(linker)
}

fn transport(engine: &Engine) -> wasmtime::Result<Linker<TransportState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    log::add_to_linker(&mut linker)?;
    settings::add_to_linker(&mut linker)?;
    process::add_to_linker(&mut linker)?;
    http::add_to_linker(&mut linker)?;
    memo::add_to_linker(&mut linker)?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    //! Which views each store type implements, asked of the compiler: an inherent method that
    //! exists only when `T` implements the view wins over the trait method that says "no".

    use super::*;
    use crate::capability::gateway::GatewayView;
    use crate::capability::http::HttpView;
    use crate::capability::log::LogView;
    use crate::capability::memo::MemoView;
    use crate::capability::process::ProcessView;
    use crate::capability::settings::SettingsView;
    use crate::capability::wasi::WasiSandboxView;
    use crate::roles::Role;
    use std::marker::PhantomData;

    struct Probe<T>(PhantomData<T>);

    /// The fallback answers of [`Probe`]: "does not implement".
    trait Lacks {
        fn wasi(&self) -> bool {
            false
        }
        fn log(&self) -> bool {
            false
        }
        fn settings(&self) -> bool {
            false
        }
        fn gateway(&self) -> bool {
            false
        }
        fn process(&self) -> bool {
            false
        }
        fn http(&self) -> bool {
            false
        }
        fn memo(&self) -> bool {
            false
        }
    }

    impl<T> Lacks for Probe<T> {}

    impl<T: WasiSandboxView> Probe<T> {
        fn wasi(&self) -> bool {
            true
        }
    }
    impl<T: LogView> Probe<T> {
        fn log(&self) -> bool {
            true
        }
    }
    impl<T: SettingsView> Probe<T> {
        fn settings(&self) -> bool {
            true
        }
    }
    impl<T: GatewayView> Probe<T> {
        fn gateway(&self) -> bool {
            true
        }
    }
    impl<T: ProcessView> Probe<T> {
        fn process(&self) -> bool {
            true
        }
    }
    impl<T: HttpView> Probe<T> {
        fn http(&self) -> bool {
            true
        }
    }
    impl<T: MemoView> Probe<T> {
        fn memo(&self) -> bool {
            true
        }
    }

    macro_rules! views {
        ($state:ty) => {{
            let probe = Probe::<$state>(PhantomData);
            [
                probe.wasi(),
                probe.log(),
                probe.settings(),
                probe.gateway(),
                probe.process(),
                probe.http(),
                probe.memo(),
            ]
        }};
    }

    #[test]
    fn each_role_has_exactly_the_capabilities_of_the_table() {
        // Columns: WASI, log, settings, gateway, process, http, memo (the module header's table).
        let table = [
            (
                Role::Auditor,
                views!(AuditorState),
                [true, false, false, false, false, false, false],
            ),
            (
                Role::Executor,
                views!(ExecutorState),
                [true, true, true, true, false, false, false],
            ),
            (
                Role::Transport,
                views!(TransportState),
                [true, true, true, false, true, true, true],
            ),
        ];
        for (role, actual, expected) in table {
            assert_eq!(actual, expected, "{role}: views of its store data");
        }
        // The probe can say no: a type that is no store data has none of the views.
        assert_eq!(views!(()), [false; 7]);
        // The wfhost interfaces the loader accepts are the ones the store data can serve.
        for (role, views, _) in table {
            let linked: Vec<&str> = ["log", "settings", "gateway", "process", "http", "memo"]
                .into_iter()
                .zip(&views[1..])
                .filter(|(_, has)| **has)
                .map(|(name, _)| name)
                .collect();
            assert_eq!(linked, role.allowed_wfhost_imports(), "{role}");
        }
    }

    #[test]
    fn every_role_linker_builds() {
        let engine =
            Engine::new(wasmtime::Config::new().wasm_component_model(true)).expect("engine");
        Linkers::new(&engine).expect("linkers");
    }
}
