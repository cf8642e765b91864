//! The built-in ssh transport (world `transport-plugin`): pods are existing machines reached
//! with the OpenSSH client.
//!
//! The machinery — targets, command lines, remote scripts, reading ssh's outcome and the
//! operations of [`ssh::Ssh`] — lives in the `wfhost-ssh-client` crate, which the slurm
//! transport shares; it is re-exported here under its old module names. This crate adds the
//! WIT glue (`glue`, wasm32 only: the SDK's
//! [`export_transport!`](wfhost_pack_sdk::export_transport) forwarding each export to
//! [`ssh::Ssh`]) and the profile (`profile.toml`) the host reads.

pub use wfhost_ssh_client::{command, errors, ssh, target};

#[cfg(target_arch = "wasm32")]
mod glue;
