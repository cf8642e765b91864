//! Host capabilities, one module each, each with its own `add_to_linker`.
//!
//! `wasi` is the base every role gets (what Rust's std needs to start, with nothing to reach out
//! with); `log`, `settings`, `gateway` and `process` are the wfhost interfaces. The `linker` module
//! composes them per role, so an auditor's linker visibly gets none of the wfhost ones. Each
//! capability reads the per-call [`HostState`](crate::store::HostState) and forwards to the host
//! object the flow engine passed in (`ExecutorHost`, `TransportHost`).

pub(crate) mod gateway;
pub(crate) mod log;
pub(crate) mod process;
pub(crate) mod settings;
pub(crate) mod wasi;
