//! The built-in slurm transport (world `transport-plugin`): the "pod" is a Slurm cluster's
//! submit host, this machine (`slurm://local`) or one reached with OpenSSH
//! (`slurm+ssh://user@host[:port]`), with the partition bound in the target.
//!
//! The transport only reaches the submit host and asks the cluster whether it is ready; the
//! sweep itself is the executor's: the transport's profile declares the executor setting
//! `WF_SWEEP_BACKEND = "slurm"`, with which the built-in executor submits the sweep as one job
//! array and watches it with `squeue` (plugins/executors, `phases/slurm_array.rs`).
//!
//! Data flow: the WIT glue (`glue`, wasm32 only; the SDK's
//! [`export_transport!`](wfhost_pack_sdk::export_transport)) forwards each export to the
//! [`wfhost_pack_sdk::transport::Transport`] implementation of [`slurm::Slurm`], which parses the
//! target ([`target`]) and runs the operation through the ssh client of `wfhost-ssh-client`:
//! over ssh, or on this machine through [`local::LocalShell`]. Everything except the glue
//! compiles and is tested on the host target.

pub mod local;
pub mod slurm;
pub mod target;

#[cfg(target_arch = "wasm32")]
mod glue;
