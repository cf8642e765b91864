//! The built-in local transport (world `transport-plugin`): pods are directories on the host.
//!
//! A pod named `<name>` lives in `<WF_LOCAL_PODS_DIR>/<name>`: its marker `pod.json` and its
//! filesystem root `root/`, so the remote path `/mnt/outputs` of that pod is
//! `<WF_LOCAL_PODS_DIR>/<name>/root/mnt/outputs` on the host. It is meant for trying flows and
//! for tests: commands run as the wfhost user, with no isolation beyond the path mapping.
//!
//! Data flow: the WIT glue (`glue`, wasm32 only; the SDK's
//! [`export_transport!`](wfhost_pack_sdk::export_transport)) adapts the `process`, `settings`
//! and `log` imports to [`wfhost_pack_sdk::transport::Host`] and forwards each export to the
//! [`wfhost_pack_sdk::transport::Transport`] implementation of [`local::Local`], which checks
//! names and paths with [`paths`] and does all filesystem work by running `sh` through the host's
//! process capability (paths are passed as positional arguments, never interpolated).
//! Everything except the glue compiles and is tested on the host target.

pub mod local;
pub mod paths;

#[cfg(target_arch = "wasm32")]
mod glue;
