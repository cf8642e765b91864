//! Helpers for writing wfhost plugin components (auditors, executors, transports).
//!
//! Everything here is plain Rust with no wit-bindgen dependency, so it compiles for
//! `wasm32-wasip2` components and for the host target alike, and plugin logic built on it can be
//! unit-tested with `cargo test`.
//!
//! - [`shell`]: POSIX shell quoting, for composing command lines a transport runs with `sh -c`.
//! - [`path`]: safe path segments (pod names, run ids) and normalised absolute remote paths.
//! - [`kv`]: key/value lists (config, flags, facts) and their JSON form.
//! - [`verdict`]: a small builder for auditor verdicts.
//! - [`text`]: output tails and UTC timestamps for evidence.
//! - [`records`]: the records every role shares (`command-result`, `pod-identity`,
//!   `pod-report`, the typed `flow-flags`, `log.level`), and [`record_conversions!`] (and
//!   [`flag_conversions!`] for an auditor), which convert the generated ones to them.
//! - [`transport`]: the records, host capabilities and operations of a transport, and
//!   [`export_transport!`], which exports a [`transport::Transport`] through the bindings
//!   wit-bindgen generates.
//! - [`executor`]: the records, host capabilities and `phase` interface of a phase executor, and
//!   [`export_executor!`], which exports an [`executor::Executor`] the same way.
//! - `testing` (host target only): run real processes the way the host does (also a transport's
//!   `process.run` requests), temp dirs.
//!
//! ```
//! use wfhost_pack_sdk::{shell::shell_quote, path::validate_segment};
//!
//! let run = validate_segment("lr-0.1").unwrap();
//! let cmd = format!("mkdir -p {}", shell_quote(&format!("/mnt/outputs/runs/{run}")));
//! assert_eq!(cmd, "mkdir -p /mnt/outputs/runs/lr-0.1");
//! assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
//! ```
#![warn(missing_docs)]

pub mod executor;
pub mod kv;
pub mod path;
pub mod records;
pub mod shell;
pub mod text;
pub mod transport;
pub mod verdict;

#[cfg(not(target_family = "wasm"))]
pub mod testing;

#[cfg(test)]
mod stand_in;
