//! Transports: load one and call its operations.
//!
//! One method per export of the `transport` interface; each is a fresh instance in a fresh store
//! with the caller's limits, and its `log`/`settings`/`process` imports go to the
//! [`TransportHost`] the caller passes. The transport's own errors come back as the matching
//! [`TransportError`] variant; a failure of the plugin itself (trap, deadline, fuel, oversized
//! output...) is [`TransportError::Plugin`]. The store, limits, instantiation and checks of a call
//! are the plumbing every role shares (`handle`).

use crate::bindings::transport::exports::wfhost::plugin::transport::Guest;
use crate::bindings::transport::TransportPluginPre;
use crate::failure::PluginFailure;
use crate::handle::{role_handle, Handle};
use crate::host::TransportHost;
use crate::limits::Limits;
use crate::output::OutputSize;
use crate::state::TransportState;
use crate::types::{CommandResult, ExecSpec, FetchSource, PodIdentity, PodReport, WitTransportError};
use std::sync::Arc;
use wasmtime::Store;

/// Why a transport operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransportError {
    /// The pod or host could not be reached (maybe transient).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The pod is gone.
    #[error("vanished: {0}")]
    Vanished(String),
    /// The operation timed out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The operation ran and failed.
    #[error("failed: {0}")]
    Failed(String),
    /// The request is invalid for this transport.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The transport plugin itself failed (trap, deadline, fuel, oversized output, ...).
    #[error(transparent)]
    Plugin(PluginFailure),
}

impl From<WitTransportError> for TransportError {
    fn from(error: WitTransportError) -> TransportError {
        match error {
            WitTransportError::Unreachable(m) => TransportError::Unreachable(m),
            WitTransportError::Vanished(m) => TransportError::Vanished(m),
            WitTransportError::Timeout(m) => TransportError::Timeout(m),
            WitTransportError::Failed(m) => TransportError::Failed(m),
            WitTransportError::Invalid(m) => TransportError::Invalid(m),
        }
    }
}

/// A loaded transport.
pub struct Transport {
    handle: Handle<TransportPluginPre<TransportState>>,
}

role_handle!(Transport);

impl Transport {
    /// One call of an export of `transport` with `host` serving the imports.
    fn call<R: OutputSize>(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        f: impl FnOnce(&Guest, &mut Store<TransportState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginFailure> {
        self.handle.call(limits, host, |bindings, store| {
            f(bindings.wfhost_plugin_transport(), store)
        })
    }

    /// [`Transport::call`] for an export that answers `result<R, transport-error>`: the
    /// transport's error becomes its [`TransportError`] variant, a plugin failure
    /// [`TransportError::Plugin`].
    fn fallible<R: OutputSize>(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        f: impl FnOnce(
            &Guest,
            &mut Store<TransportState>,
        ) -> wasmtime::Result<Result<R, WitTransportError>>,
    ) -> Result<R, TransportError> {
        match self.call(host, limits, f) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(error.into()),
            Err(failure) => Err(TransportError::Plugin(failure)),
        }
    }

    /// The transport id (`local`, `ssh`, ...).
    pub fn id(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
    ) -> Result<String, TransportError> {
        self.call(host, limits, |g, s| g.call_id(s))
            .map_err(TransportError::Plugin)
    }

    /// Check the settings the transport reads, reaching no pod (`check-config`).
    pub fn check_config(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
    ) -> Result<(), TransportError> {
        self.fallible(host, limits, |g, s| g.call_check_config(s))
    }

    /// Check a target string and return it normalised.
    pub fn parse_target(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
    ) -> Result<String, TransportError> {
        self.fallible(host, limits, |g, s| g.call_parse_target(s, target))
    }

    /// Create a pod.
    pub fn provision(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        name_hint: &str,
        idempotency_key: &str,
    ) -> Result<PodIdentity, TransportError> {
        self.fallible(host, limits, |g, s| {
            g.call_provision(s, name_hint, idempotency_key)
        })
    }

    /// Status of a target: its state and a detail line.
    pub fn status(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
    ) -> Result<PodReport, TransportError> {
        self.fallible(host, limits, |g, s| g.call_status(s, target))
    }

    /// Map a remote absolute path to where it really lives on the target.
    pub fn resolve_path(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
        path: &str,
    ) -> Result<String, TransportError> {
        self.fallible(host, limits, |g, s| g.call_resolve_path(s, target, path))
    }

    /// Run a command on a target.
    pub fn exec(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
        spec: &ExecSpec,
    ) -> Result<CommandResult, TransportError> {
        self.fallible(host, limits, |g, s| g.call_exec(s, target, spec))
    }

    /// Write a file on a target.
    pub fn put_file(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), TransportError> {
        self.fallible(host, limits, |g, s| {
            g.call_put_file(s, target, path, contents, mode)
        })
    }

    /// Read at most `max_bytes` of a file on a target.
    pub fn get_file(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, TransportError> {
        self.fallible(host, limits, |g, s| {
            g.call_get_file(s, target, path, max_bytes)
        })
    }

    /// The program that streams `remote_dir` back as a tar archive (the host runs and unpacks it).
    pub fn fetch_command(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
        remote_dir: &str,
    ) -> Result<FetchSource, TransportError> {
        self.fallible(host, limits, |g, s| g.call_fetch_command(s, target, remote_dir))
    }

    /// The transport's judgement of how the fetch program ended.
    pub fn fetch_ended(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
        remote_dir: &str,
        ended: &CommandResult,
    ) -> Result<(), TransportError> {
        self.fallible(host, limits, |g, s| g.call_fetch_ended(s, target, remote_dir, ended))
    }

    /// Delete a pod.
    pub fn delete(
        &self,
        host: Arc<dyn TransportHost>,
        limits: &Limits,
        target: &str,
    ) -> Result<(), TransportError> {
        self.fallible(host, limits, |g, s| g.call_delete(s, target))
    }
}
