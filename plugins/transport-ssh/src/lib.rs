//! The built-in ssh transport (world `transport-plugin`): pods are existing machines reached
//! with the OpenSSH client.
//!
//! Targets are `host`, `user@host` or `ssh://user@host:port` ([`target`]). Every call runs
//! `ssh` through the host's process capability with `BatchMode=yes`, strict host key checking
//! (`accept-new` only with WF_SSH_ACCEPT_NEW=1), the configured known_hosts file, connection
//! sharing (ControlMaster, sockets in WF_SSH_CONTROL_DIR) and WF_SSH_OPTIONS; stdin is closed
//! and no terminal is requested, so nothing can prompt. The identity file is a host secret: the
//! plugin only names its handle in the process request's `secret-env`, and a small `sh` wrapper
//! passes it to `ssh -i` from the child's environment ([`command`]).
//!
//! Data flow: the WIT glue (`glue`, wasm32 only; the SDK's
//! [`export_transport!`](wfhost_pack_sdk::export_transport)) adapts the imports to
//! [`wfhost_pack_sdk::transport::Host`] and forwards each export to the
//! [`wfhost_pack_sdk::transport::Transport`] implementation of [`ssh::Ssh`], which builds the call
//! with [`command`] and reads its outcome with [`errors`]. Everything except the glue compiles
//! and is tested on the host target.

pub mod command;
pub mod errors;
pub mod ssh;
pub mod target;

#[cfg(target_arch = "wasm32")]
mod glue;

#[cfg(test)]
mod testsupport;
