//! The WebAssembly plugin runtime of `wfhost`.
//!
//! Plugins are WebAssembly components implementing one world of the `wfhost:plugin@0.2.0` WIT
//! package: an **auditor** (constitutional judge, no capability at all), an **executor** (does a
//! phase through the host gateway) or a **transport** (reaches pods by running allowlisted host
//! programs). This crate loads them, checks them against their role, and calls them in a sandbox:
//!
//! - one [`Runtime`] = one wasmtime engine (components only, fuel, epoch interruption; memory laid
//!   out to fit the process's address-space limit, down to [`MIN_ADDRESS_SPACE`]) plus an epoch
//!   ticker thread, a compiled-component cache (memory + verified disk entries) and one linker
//!   per role;
//! - every call gets a fresh store with its [`Limits`] (fuel, memory, wall clock, output size);
//! - every role gets the WASI interfaces language runtimes import (files, sockets, environment,
//!   clocks, random, stdio), each denying access: no preopened directory, no network, an empty
//!   environment; a component is refused at load, naming the offending import and the role, if it
//!   imports anything else its role may not have (the gateway for an auditor, the process
//!   capability for an auditor or an executor, any other interface) or does not export its
//!   role's interface;
//! - [`Auditor::audit`] never fails: any failure is an `unverified` verdict with a
//!   machine-readable [`FailureKind`]; executors and transports return [`PluginFailure`]s;
//! - components come from files, from bytes, or embedded in the host program with a digest
//!   computed when they were embedded ([`ComponentSource`]); this crate knows no particular
//!   component (wfhost's own are embedded by `wfhost-builtins`);
//! - [`process::ProcessRunner`] runs host programs for transports (allowlist, clean environment,
//!   secrets, caps, process-group timeout) and is usable by the flow engine directly;
//!   [`http::HttpClient`] sends their HTTP requests (declared hosts under allowed base URLs,
//!   HTTPS, timeouts, size cap, secrets by handle and scrubbed from answers); a [`Memo`] is a
//!   transport's small per-flow memory.
//!
//! The runtime never reads the process environment or any configuration: callers build
//! [`Limits`] themselves and pass an environment map to [`RuntimeOptions::from_env_map`].
//!
//! # Example
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use wfhost_runtime::{ComponentSource, Limits, Runtime, RuntimeOptions};
//! use wfhost_runtime::types::{AuditRequest, VerdictStatus};
//!
//! # fn judge(request: AuditRequest) -> Result<(), Box<dyn std::error::Error>> {
//! let env: BTreeMap<String, String> = std::env::vars().collect();
//! let runtime = Runtime::new(RuntimeOptions::from_env_map(&env))?;
//! let limits = Limits { fuel: 5_000_000, ..Limits::auditor_default() };
//! let auditor = runtime.load_auditor(&ComponentSource::file("my_auditor.wasm"))?;
//! let result = auditor.audit(&request, &limits);
//! if result.status() != VerdictStatus::Pass {
//!     // `result.reason` says why the host made it unverified, if it did.
//!     eprintln!("{:?}: {:?}", result.verdict.reasons, result.reason);
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

#[allow(missing_docs)]
mod bindings;

mod auditor;
pub mod cache;
mod capability;
pub mod http;
mod engine;
mod error;
mod executor;
mod failure;
mod handle;
mod host;
pub mod interrupt;
mod limits;
mod linker;
mod output;
pub mod process;
mod roles;
mod runtime;
mod state;
mod store;
mod transport;

/// The WIT records and enums, shared by every role (serde-serialisable for evidence).
pub mod types {
    pub use crate::bindings::auditor::wfhost::plugin::types::{
        ActionClass, Artifact, AuditRequest, CommandResult, EvidencePack, FetchMode, FlowFlags, Kv,
        Law, PhaseOutcome, PhaseStatus, PodIdentity, PodState, PodReport, ProvisionMode, SweepMode,
        TeardownMode, Verdict, VerdictStatus,
    };
    pub use crate::bindings::executor::exports::wfhost::plugin::phase::PhaseContext;
    pub use crate::bindings::executor::wfhost::plugin::gateway::{ExecRequest, GatewayError};
    pub use crate::bindings::executor::wfhost::plugin::log::Level as LogLevel;
    pub use crate::bindings::transport::exports::wfhost::plugin::transport::{
        ExecSpec, FetchSource, TransportError as WitTransportError,
    };
    pub use crate::bindings::transport::wfhost::plugin::http::{
        HttpError as WitHttpError, Method as HttpMethod, Request as HttpRequestRecord,
        Response as HttpResponseRecord, SecretHeader as HttpSecretHeader,
    };
    pub use crate::bindings::transport::wfhost::plugin::process::RunRequest;
}

pub use auditor::{check_verdict, AuditResult, Auditor, UnverifiedReason};
pub use cache::{CacheMode, CacheStats, LoadSource};
pub use capability::memo::Memo;
pub use engine::{EPOCH_TICK, MIN_ADDRESS_SPACE};
pub use error::{LoadError, RuntimeError};
pub use executor::Executor;
pub use failure::{FailureKind, PluginFailure};
pub use host::{ExecutorHost, PluginHost, TransportHost};
pub use limits::Limits;
pub use roles::{Role, WASI_BASE_IMPORTS, WFHOST_PLUGIN_VERSION};
pub use runtime::{ComponentSource, Runtime, RuntimeOptions};
pub use transport::{Transport, TransportError};
