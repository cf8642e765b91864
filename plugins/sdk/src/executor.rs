//! Writing a phase executor component (world `executor`): the executor's WIT records as plain
//! Rust (with the records every role shares, re-exported from [`crate::records`]), the host
//! capabilities an executor imports behind [`Host`], the `phase` interface it exports behind
//! [`Executor`], and [`export_executor!`](crate::export_executor), which joins the two to the
//! bindings wit-bindgen generates.
//!
//! Data flow: the wfhost host calls `run-phase(context)`; the glue made by `export_executor!`
//! converts the generated context to [`PhaseContext`] (the flags arrive typed, as the host
//! checked them in P00: there is nothing to parse or reject), builds the plugin's [`Executor`]
//! on a [`Host`] backed by the `gateway`, `settings` and `log` imports (sleeping and timing with
//! the WASI clocks), calls it, and converts the [`PhaseOutcome`] back field for field. Plugin
//! logic sees only this module's types, so it compiles and is unit-tested on the host target with
//! a [`Host`] of its own (a temp directory standing in for a pod, say).
//!
//! ```
//! use wfhost_pack_sdk::executor::{
//!     Executor, FetchMode, Host, PhaseContext, PhaseOutcome, PhaseStatus,
//! };
//!
//! /// Serves P80 only: reports what `--fetch` asked for.
//! struct Echo;
//!
//! impl Executor for Echo {
//!     fn phases(&self) -> Vec<String> {
//!         vec!["P80".into()]
//!     }
//!     fn run_phase(&self, ctx: &PhaseContext) -> PhaseOutcome {
//!         let (status, message) = match &ctx.flow_flags.fetch {
//!             FetchMode::None => (PhaseStatus::Skip, "nothing to fetch".to_string()),
//!             other => (PhaseStatus::Ok, format!("would fetch {other}")),
//!         };
//!         PhaseOutcome::new(&ctx.phase, status, 0, message)
//!     }
//! }
//!
//! let mut ctx = PhaseContext { phase: "P80".into(), ..PhaseContext::default() };
//! assert_eq!(Echo.run_phase(&ctx).status, PhaseStatus::Skip);
//! ctx.flow_flags.fetch = FetchMode::Run("r1".into());
//! assert_eq!(Echo.run_phase(&ctx).message, "would fetch run:r1");
//! ```
//!
//! In the component, after `wit_bindgen::generate!` for the `executor` world, the glue is three
//! lines (see [`export_executor!`](crate::export_executor)):
//!
//! ```text
//! wit_bindgen::generate!({ world: "executor", path: "../../wit" });
//! wfhost_pack_sdk::export_executor!(Component, crate::phases::Builtin::new);
//! export!(Component);
//! ```

pub use crate::kv::Kv;
pub use crate::records::{
    ActionClass, Artifact, CommandResult, FetchMode, FlowFlags, Level, PhaseOutcome, PhaseStatus,
    PodIdentity, PodReport, PodState, ProvisionMode, SweepMode, TeardownMode,
};


/// The records of interface `gateway` as plain Rust: expanded here and, in the SDK's tests, as
/// part of the stand-in of the generated `gateway` module (see `records::wit_records!`).
macro_rules! gateway_records {
    () => {
        /// `gateway-error`: why a gateway call failed.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum GatewayError {
            /// Outside the caller's capability (recorded by the host).
            Refused(String),
            /// The pod's host could not be reached.
            Unreachable(String),
            /// The pod no longer exists.
            Vanished(String),
            /// The call ran out of time.
            Timeout(String),
            /// The call ran and failed.
            Failed(String),
        }

        /// `exec-request`: a command for the bound target.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct ExecRequest {
            /// The bound target.
            pub target: String,
            /// POSIX shell command line.
            pub command: String,
            /// Remote working directory (a remote path; the transport resolves it).
            pub cwd: Option<String>,
            /// Extra environment.
            pub env: Vec<Kv>,
            /// Timeout.
            pub timeout_ms: u64,
            /// Side-effect class.
            pub class: ActionClass,
            /// Idempotency key for an external side effect (`None`: the host derives one).
            pub idempotency_key: Option<String>,
        }
    };
}

#[allow(unused_imports)] // used by the tests' stand-in bindings
pub(crate) use gateway_records;

gateway_records!();

impl GatewayError {
    /// `refused`, `unreachable`, ... (for facts and details).
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::Refused(_) => "refused",
            GatewayError::Unreachable(_) => "unreachable",
            GatewayError::Vanished(_) => "vanished",
            GatewayError::Timeout(_) => "timeout",
            GatewayError::Failed(_) => "failed",
        }
    }

    /// The host's message.
    pub fn message(&self) -> &str {
        match self {
            GatewayError::Refused(m)
            | GatewayError::Unreachable(m)
            | GatewayError::Vanished(m)
            | GatewayError::Timeout(m)
            | GatewayError::Failed(m) => m,
        }
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}






impl PhaseOutcome {
    /// An outcome with no artifacts, facts or details.
    pub fn new(phase: &str, status: PhaseStatus, code: u16, message: impl Into<String>) -> Self {
        PhaseOutcome {
            phase: phase.to_string(),
            status,
            code,
            message: message.into(),
            artifacts: Vec::new(),
            facts: Vec::new(),
            details_json: None,
        }
    }

    /// The value of fact `key`.
    pub fn fact(&self, key: &str) -> Option<&str> {
        crate::kv::get(&self.facts, key)
    }
}

/// `phase-context`: what the host tells an executor about the phase to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhaseContext {
    /// Flow ID.
    pub flow_id: String,
    /// `P10` ... `P90`.
    pub phase: String,
    /// The flow's flags, typed.
    pub flow_flags: FlowFlags,
    /// Non-secret config entries (the host applied the defaults).
    pub config: Vec<Kv>,
    /// The bound target (`None` before P20).
    pub target: Option<String>,
    /// The remote FSM state before the phase.
    pub fsm_state: String,
    /// Extra inputs the host prepared (file contents, free-form text).
    pub inputs: Vec<Kv>,
}

impl PhaseContext {
    /// A config value with a fallback, trimmed (the fallback when absent or empty).
    pub fn config_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        crate::kv::get_or(&self.config, key, default).trim()
    }

    /// A config value, trimmed, `None` when absent or empty.
    pub fn config(&self, key: &str) -> Option<&str> {
        crate::kv::get(&self.config, key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// An input (untrimmed: inputs are file contents), `None` when absent.
    pub fn input(&self, key: &str) -> Option<&str> {
        crate::kv::get(&self.inputs, key)
    }
}

/// The host capabilities an executor imports (`gateway`, `settings`, `log`) and a clock. The
/// glue of [`export_executor!`](crate::export_executor) implements it with the imports; tests
/// implement it with real processes or recorded answers.
pub trait Host {
    /// `gateway.bound-target`: the flow's bound target (`None` before P20).
    fn bound_target(&self) -> Option<String>;
    /// `gateway.provision`: create a pod (P10, with consent).
    fn provision(&self, name_hint: &str) -> Result<PodIdentity, GatewayError>;
    /// `gateway.pod-status`.
    fn pod_status(&self, target: &str) -> Result<PodReport, GatewayError>;
    /// `gateway.resolve-path`.
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, GatewayError>;
    /// `gateway.exec`.
    fn exec(&self, request: &ExecRequest) -> Result<CommandResult, GatewayError>;
    /// `gateway.put-file`.
    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<(), GatewayError>;
    /// `gateway.get-file`: at most `max_bytes` of a file on the target.
    fn get_file(&self, target: &str, path: &str, max_bytes: u64) -> Result<Vec<u8>, GatewayError>;
    /// `gateway.fetch-dir`: copy a remote directory back; every file with its sha256.
    fn fetch_dir(
        &self,
        target: &str,
        remote_dir: &str,
        local_rel: &str,
    ) -> Result<Vec<Artifact>, GatewayError>;
    /// `gateway.delete-pod` (P90 with `--teardown delete` only).
    fn delete_pod(&self, target: &str) -> Result<(), GatewayError>;
    /// `settings.get`.
    fn setting(&self, key: &str) -> Option<String>;
    /// `log.emit`.
    fn log(&self, level: Level, message: &str);
    /// Sleep (polling loops).
    fn sleep_ms(&self, ms: u64);
    /// Monotonic milliseconds since some start (deadlines).
    fn now_ms(&self) -> u64;
}

/// The `phase` interface a component exports. [`export_executor!`](crate::export_executor) builds
/// a fresh value for every call, so implementations keep no state between calls.
pub trait Executor {
    /// `phases`: the phases this executor serves (`P10`, `P30`, ...). The host calls it with no
    /// gateway access.
    fn phases(&self) -> Vec<String>;
    /// `run-phase`: do one phase and say how it went. Never panics on bad input: a failure is an
    /// outcome with status `fail` and a code.
    fn run_phase(&self, ctx: &PhaseContext) -> PhaseOutcome;
}

/// Export an [`Executor`](crate::executor::Executor) as the component's `phase` interface.
///
/// `export_executor!(Component, make)` must be invoked in the module where
/// `wit_bindgen::generate!` was invoked for a world that imports `log`, `settings` and `gateway`
/// and exports `phase` of `wfhost:plugin` (such as `executor`): it uses the generated modules
/// `wfhost::plugin::{types, log, settings, gateway}` and `exports::wfhost::plugin::phase` found
/// there. It defines
///
/// - the conversions of [`record_conversions!`](crate::record_conversions) (so do not invoke
///   that macro in the same module);
/// - `struct WitHost`, the [`Host`](crate::executor::Host) backed by those imports (sleeping with
///   `std::thread::sleep`, timing with `std::time::Instant`, both the WASI clocks in a
///   component);
/// - `struct Component` (the name given, optionally with a visibility such as `pub(crate)`),
///   implementing the generated `Guest` trait: each export calls `make(&WitHost)` (a function or
///   closure from `&WitHost` to an `Executor`, such as `MyExecutor::new`), forwards the converted
///   context, and converts the outcome back.
///
/// Then export the component as usual with the `export!` macro wit-bindgen generated:
///
/// ```text
/// wit_bindgen::generate!({ world: "executor", path: "../../wit" });
/// wfhost_pack_sdk::export_executor!(Component, crate::phases::Builtin::new);
/// export!(Component);
/// ```
#[macro_export]
macro_rules! export_executor {
    ($vis:vis $component:ident, $make:expr $(,)?) => {
        $crate::record_conversions!();

        /// The `gateway`, `settings` and `log` imports, and the clocks, as an executor host.
        struct WitHost {
            start: ::std::time::Instant,
        }

        impl WitHost {
            fn error(
                e: self::wfhost::plugin::gateway::GatewayError,
            ) -> $crate::executor::GatewayError {
                use self::wfhost::plugin::gateway::GatewayError as Wit;
                use $crate::executor::GatewayError as Sdk;
                match e {
                    Wit::Refused(m) => Sdk::Refused(m),
                    Wit::Unreachable(m) => Sdk::Unreachable(m),
                    Wit::Vanished(m) => Sdk::Vanished(m),
                    Wit::Timeout(m) => Sdk::Timeout(m),
                    Wit::Failed(m) => Sdk::Failed(m),
                }
            }

            fn artifact(
                a: self::wfhost::plugin::types::Artifact,
            ) -> $crate::executor::Artifact {
                $crate::executor::Artifact { name: a.name, path: a.path, sha256: a.sha256 }
            }

            fn outcome(
                o: $crate::executor::PhaseOutcome,
            ) -> self::wfhost::plugin::types::PhaseOutcome {
                use self::wfhost::plugin::types::PhaseStatus as Wit;
                use $crate::executor::PhaseStatus as Sdk;
                self::wfhost::plugin::types::PhaseOutcome {
                    phase: o.phase,
                    status: match o.status {
                        Sdk::Ok => Wit::Ok,
                        Sdk::Skip => Wit::Skip,
                        Sdk::Fail => Wit::Fail,
                    },
                    code: o.code,
                    message: o.message,
                    artifacts: o
                        .artifacts
                        .into_iter()
                        .map(|a| self::wfhost::plugin::types::Artifact {
                            name: a.name,
                            path: a.path,
                            sha256: a.sha256,
                        })
                        .collect(),
                    facts: o.facts.into_iter().map(::core::convert::Into::into).collect(),
                    details_json: o.details_json,
                }
            }

            fn context(
                c: self::exports::wfhost::plugin::phase::PhaseContext,
            ) -> $crate::executor::PhaseContext {
                $crate::executor::PhaseContext {
                    flow_id: c.flow_id,
                    phase: c.phase,
                    flow_flags: c.flow_flags.into(),
                    config: c.config.into_iter().map(::core::convert::Into::into).collect(),
                    target: c.target,
                    fsm_state: c.fsm_state,
                    inputs: c.inputs.into_iter().map(::core::convert::Into::into).collect(),
                }
            }
        }

        impl $crate::executor::Host for WitHost {
            fn bound_target(&self) -> ::core::option::Option<::std::string::String> {
                self::wfhost::plugin::gateway::bound_target()
            }

            fn provision(
                &self,
                name_hint: &str,
            ) -> ::core::result::Result<$crate::executor::PodIdentity, $crate::executor::GatewayError>
            {
                self::wfhost::plugin::gateway::provision(name_hint)
                    .map(::core::convert::Into::into)
                    .map_err(WitHost::error)
            }

            fn pod_status(
                &self,
                target: &str,
            ) -> ::core::result::Result<$crate::executor::PodReport, $crate::executor::GatewayError>
            {
                self::wfhost::plugin::gateway::pod_status(target)
                    .map(::core::convert::Into::into)
                    .map_err(WitHost::error)
            }

            fn resolve_path(
                &self,
                target: &str,
                path: &str,
            ) -> ::core::result::Result<::std::string::String, $crate::executor::GatewayError> {
                self::wfhost::plugin::gateway::resolve_path(target, path).map_err(WitHost::error)
            }

            fn exec(
                &self,
                r: &$crate::executor::ExecRequest,
            ) -> ::core::result::Result<
                $crate::executor::CommandResult,
                $crate::executor::GatewayError,
            > {
                use self::wfhost::plugin::types::ActionClass as Wit;
                use $crate::executor::ActionClass as Sdk;
                let request = self::wfhost::plugin::gateway::ExecRequest {
                    target: r.target.clone(),
                    command: r.command.clone(),
                    cwd: r.cwd.clone(),
                    env: r.env.iter().cloned().map(::core::convert::Into::into).collect(),
                    timeout_ms: r.timeout_ms,
                    class: match r.class {
                        Sdk::Read => Wit::Read,
                        Sdk::WriteInternal => Wit::WriteInternal,
                        Sdk::WriteExternalSideEffect => Wit::WriteExternalSideEffect,
                    },
                    idempotency_key: r.idempotency_key.clone(),
                };
                self::wfhost::plugin::gateway::exec(&request)
                    .map(::core::convert::Into::into)
                    .map_err(WitHost::error)
            }

            fn put_file(
                &self,
                target: &str,
                path: &str,
                contents: &[u8],
                mode: u32,
            ) -> ::core::result::Result<(), $crate::executor::GatewayError> {
                self::wfhost::plugin::gateway::put_file(target, path, contents, mode)
                    .map_err(WitHost::error)
            }

            fn get_file(
                &self,
                target: &str,
                path: &str,
                max_bytes: u64,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, $crate::executor::GatewayError> {
                self::wfhost::plugin::gateway::get_file(target, path, max_bytes)
                    .map_err(WitHost::error)
            }

            fn fetch_dir(
                &self,
                target: &str,
                remote_dir: &str,
                local_rel: &str,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::executor::Artifact>,
                $crate::executor::GatewayError,
            > {
                self::wfhost::plugin::gateway::fetch_dir(target, remote_dir, local_rel)
                    .map(|list| list.into_iter().map(WitHost::artifact).collect())
                    .map_err(WitHost::error)
            }

            fn delete_pod(
                &self,
                target: &str,
            ) -> ::core::result::Result<(), $crate::executor::GatewayError> {
                self::wfhost::plugin::gateway::delete_pod(target).map_err(WitHost::error)
            }

            fn setting(&self, key: &str) -> ::core::option::Option<::std::string::String> {
                self::wfhost::plugin::settings::get(key)
            }

            fn log(&self, level: $crate::executor::Level, message: &str) {
                self::wfhost::plugin::log::emit(::core::convert::Into::into(level), message);
            }

            fn sleep_ms(&self, ms: u64) {
                ::std::thread::sleep(::std::time::Duration::from_millis(ms));
            }

            fn now_ms(&self) -> u64 {
                u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
        }

        /// The component: the `phase` exports forward to the plugin's executor.
        $vis struct $component;

        impl self::exports::wfhost::plugin::phase::Guest for $component {
            fn phases() -> ::std::vec::Vec<::std::string::String> {
                let host = WitHost { start: ::std::time::Instant::now() };
                $crate::executor::Executor::phases(&($make)(&host))
            }

            fn run_phase(
                context: self::exports::wfhost::plugin::phase::PhaseContext,
            ) -> self::wfhost::plugin::types::PhaseOutcome {
                let host = WitHost { start: ::std::time::Instant::now() };
                let context = WitHost::context(context);
                WitHost::outcome($crate::executor::Executor::run_phase(&($make)(&host), &context))
            }
        }
    };
}

#[cfg(test)]
mod tests;
