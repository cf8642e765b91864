//! Host capabilities, one module each, in the wasmtime style: a `*View` trait that store data
//! implements to hand out what the capability needs, and a generic `add_to_linker<T: *View>`.
//!
//! - `wasi` ([`WasiSandboxView`](wasi::WasiSandboxView)): every WASI 0.2 interface a language
//!   runtime imports, each denying access; every role gets it;
//! - `log` ([`LogView`](log::LogView)) and `settings` ([`SettingsView`](settings::SettingsView)):
//!   forwarded to the embedder's [`PluginHost`](crate::PluginHost);
//! - `gateway` ([`GatewayView`](gateway::GatewayView)): forwarded to an
//!   [`ExecutorHost`](crate::ExecutorHost);
//! - `process` ([`ProcessView`](process::ProcessView)), `http` ([`HttpView`](http::HttpView))
//!   and `memo` ([`MemoView`](memo::MemoView)): forwarded to a
//!   [`TransportHost`](crate::TransportHost).
//!
//! The modules know nothing of roles: `state` decides which views each role's store data
//! implements, and `linker` composes the capabilities per role, so giving a role a capability its
//! store data has no view for does not compile.

pub(crate) mod gateway;
pub(crate) mod http;
pub(crate) mod log;
pub(crate) mod memo;
pub(crate) mod process;
pub(crate) mod settings;
pub(crate) mod wasi;
