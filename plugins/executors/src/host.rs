//! What the executors need from their host: the SDK's executor [`Host`] (the `gateway`,
//! `settings` and `log` imports plus a clock behind one trait) and the WIT records they exchange,
//! re-exported from [`wfhost_pack_sdk::executor`].
//!
//! The SDK's [`export_executor!`](wfhost_pack_sdk::export_executor) implements [`Host`] with the
//! real imports (sleeping with the WASI clock); tests implement it with real processes on a temp
//! directory standing in for a pod.

pub use wfhost_pack_sdk::executor::{
    ActionClass, Artifact, CommandResult, ExecRequest, GatewayError, Host, Kv, Level, PodIdentity,
    PodState, PodReport,
};
