//! Host bindings generated from the WIT contract in `wit/` (package `wfhost:plugin@0.2.0`).
//!
//! One `bindgen!` per world. The auditor bindings own the shared `wfhost:plugin/types` records;
//! the executor bindings reuse them and own `log` and `settings`; the transport bindings reuse all
//! three, so a `Verdict` or `CommandResult` is one Rust type whichever world it came through.
//! Every generated record and enum derives serde and `PartialEq` so the flow engine can write it
//! as evidence.

/// The `auditor` world: exports `judge`, imports nothing from wfhost.
pub mod auditor {
    wasmtime::component::bindgen!({
        world: "wfhost:plugin/auditor",
        path: "../../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, Clone, PartialEq],
    });
}

/// The `executor` world: exports `phase`, imports `log`, `settings` and `gateway`.
pub mod executor {
    wasmtime::component::bindgen!({
        world: "wfhost:plugin/executor",
        path: "../../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, Clone, PartialEq],
        with: {
            "wfhost:plugin/types": crate::bindings::auditor::wfhost::plugin::types,
        },
    });
}

/// The `transport-plugin` world: exports `transport`, imports `log`, `settings` and `process`.
pub mod transport {
    wasmtime::component::bindgen!({
        world: "wfhost:plugin/transport-plugin",
        path: "../../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, Clone, PartialEq],
        with: {
            "wfhost:plugin/types": crate::bindings::auditor::wfhost::plugin::types,
            "wfhost:plugin/log": crate::bindings::executor::wfhost::plugin::log,
            "wfhost:plugin/settings": crate::bindings::executor::wfhost::plugin::settings,
        },
    });
}
