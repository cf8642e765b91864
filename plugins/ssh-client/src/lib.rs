//! The OpenSSH client machinery of wfhost's transports: what the built-in `ssh` transport is
//! made of, shared with the `slurm` transport, which reaches a submit host over ssh the same way.
//!
//! Targets are `host`, `user@host` or `ssh://user@host:port` ([`target`]). Every call runs
//! `ssh` through the host's process capability with `BatchMode=yes`, strict host key checking
//! (`accept-new` only with WF_SSH_ACCEPT_NEW=1), the configured known_hosts file, connection
//! sharing (ControlMaster, sockets in WF_SSH_CONTROL_DIR) and WF_SSH_OPTIONS; stdin is closed
//! and no terminal is requested, so nothing can prompt. The identity file is a host secret: the
//! plugin only names its handle in the process request's `secret-env`, and a small `sh` wrapper
//! passes it to `ssh -i` from the child's environment ([`command`]).
//!
//! Data flow: a transport component's glue (the SDK's
//! [`export_transport!`](wfhost_pack_sdk::export_transport)) adapts the imports to
//! [`wfhost_pack_sdk::transport::Host`]; [`ssh::Ssh`] implements
//! [`wfhost_pack_sdk::transport::Transport`] over it, building each call with [`command`] and
//! reading its outcome with [`errors`]. The remote scripts and the outcome reader are public, so
//! a transport that runs the same scripts without ssh (the slurm transport on its own submit
//! host) reads their results the same way. Nothing here is WIT glue: it all compiles and is
//! tested on the host target.

pub mod command;
pub mod errors;
pub mod ssh;
pub mod target;

#[cfg(test)]
mod testsupport;
