//! The records every plugin role exchanges with the host, as plain Rust: `command-result`,
//! `pod-identity`, `pod-report`, the typed `flow-flags`, `action-class`, `artifact`,
//! `phase-status` and `phase-outcome` of interface `types`, and `level` of interface `log`
//! (key/value entries are [`crate::kv::Kv`]). Executors receive them from the
//! `gateway` import and their phase context, transports return them from their exports and
//! receive them from the `process` import, auditors find the flags in the evidence pack.
//!
//! Data flow: the glue of a component converts the records wit-bindgen generates to these and
//! back, field for field, with the `From` impls [`record_conversions!`](crate::record_conversions)
//! writes (the flags' alone with [`flag_conversions!`](crate::flag_conversions), for an auditor,
//! whose world has no `log`); plugin logic sees only the types here, so it compiles and is
//! unit-tested on the host target. [`export_transport!`](crate::export_transport) and
//! [`export_executor!`](crate::export_executor) include these conversions.
//!
//! ```
//! use wfhost_pack_sdk::records::{CommandResult, Level, PodIdentity};
//!
//! let done = CommandResult { exit_code: Some(0), stdout: "ok\n".into(), ..Default::default() };
//! assert!(!done.timed_out && !done.truncated);
//! let pod = PodIdentity { transport: "local".into(), target: "wf-1".into(), location: "/pods/wf-1".into() };
//! assert_eq!(pod.target, "wf-1");
//! assert_ne!(Level::Warn, Level::Error);
//! ```

pub use crate::kv::Kv;



/// The WIT records of interface `types` that plugins exchange, as plain Rust: expanded here (the
/// SDK's records) and, in the SDK's tests, as the stand-in of the generated `types` module, so
/// both sides of every conversion are defined once. `Kv` is whatever the expanding module names
/// so (the SDK's `(key, value)` tuple, the generated record in the stand-in).
macro_rules! wit_records {
    () => {
        /// `pod-identity`: a pod as a transport names it.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct PodIdentity {
            /// The id of the transport that owns the pod (`local`, `ssh`, ...).
            pub transport: String,
            /// The target string a flow binds to.
            pub target: String,
            /// Where the pod is, in words (a directory, a host name), for evidence only.
            pub location: String,
        }

        /// `pod-state`: what state a pod is in.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum PodState {
            /// It answers and can run commands.
            Ready,
            /// It is being created or started.
            Starting,
            /// It exists but is stopped.
            Stopped,
            /// It does not exist.
            Missing,
        }

        /// `pod-report`: a pod's state and a line of detail.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct PodReport {
            /// The state.
            pub state: PodState,
            /// For messages and evidence.
            pub detail: String,
        }

        /// `provision-mode` (`--provision`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum ProvisionMode {
            /// Create a pod in P10 unless a target is set.
            #[default]
            Auto,
            /// Never create a pod.
            Skip,
        }

        /// `sweep-mode` (`--sweep`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum SweepMode {
            /// Launch the manifest's runs.
            #[default]
            Start,
            /// Continue a sweep already on the target.
            Resume,
            /// Leave the sweep alone.
            Skip,
        }

        /// `fetch-mode` (`--fetch`).
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub enum FetchMode {
            /// Copy nothing back.
            #[default]
            None,
            /// Copy every started run back.
            All,
            /// Copy one run back (its run id, a safe segment).
            Run(String),
        }

        /// `teardown-mode` (`--teardown`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum TeardownMode {
            /// Leave the pod running.
            #[default]
            Keep,
            /// Delete the pod.
            Delete,
        }

        /// `flow-flags`: the flow's flags as the host checked them in P00.
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct FlowFlags {
            /// `--provision`.
            pub provision: ProvisionMode,
            /// `--sweep`.
            pub sweep: SweepMode,
            /// `--wait`.
            pub wait: bool,
            /// `--fetch`.
            pub fetch: FetchMode,
            /// `--teardown`.
            pub teardown: TeardownMode,
            /// `--yes`.
            pub yes: bool,
        }

        /// `command-result`: what one command did, on a pod or on the host.
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct CommandResult {
            /// Exit code; `None` when killed (timeout, signal).
            pub exit_code: Option<i32>,
            /// Captured stdout.
            pub stdout: String,
            /// Captured stderr.
            pub stderr: String,
            /// Killed by the timeout.
            pub timed_out: bool,
            /// Wall-clock duration.
            pub duration_ms: u64,
            /// Output was cut to the capture limit.
            pub truncated: bool,
        }

        /// `action-class`: the side-effect class of a command.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ActionClass {
            /// Reads only.
            Read,
            /// Writes inside the bound pod.
            WriteInternal,
            /// An external side effect.
            WriteExternalSideEffect,
        }

        /// `artifact`: a file a phase produced or copied.
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct Artifact {
            /// Stable name.
            pub name: String,
            /// Path, local or remote.
            pub path: String,
            /// Hex sha256, when the host has the bytes.
            pub sha256: Option<String>,
        }

        /// `phase-status`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum PhaseStatus {
            /// Done.
            Ok,
            /// Nothing to do.
            Skip,
            /// Failed.
            Fail,
        }

        /// `phase-outcome`: what a phase did.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct PhaseOutcome {
            /// Phase ID.
            pub phase: String,
            /// ok, skip or fail.
            pub status: PhaseStatus,
            /// 0 or a failure code of `constitution/codes.toml`.
            pub code: u16,
            /// One line: what happened (and on failure, what to do).
            pub message: String,
            /// Files produced or copied.
            pub artifacts: Vec<Artifact>,
            /// Structured facts.
            pub facts: Vec<Kv>,
            /// Free-form JSON detail for evidence.
            pub details_json: Option<String>,
        }
    };
}

#[allow(unused_imports)] // used by the tests' stand-in bindings
pub(crate) use wit_records;

wit_records!();

impl PhaseStatus {
    /// `ok`, `skip` or `fail` (the WIT names).
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Ok => "ok",
            PhaseStatus::Skip => "skip",
            PhaseStatus::Fail => "fail",
        }
    }
}

impl PodState {
    /// `ready`, `starting`, `stopped` or `missing` (facts and messages).
    pub fn as_str(self) -> &'static str {
        match self {
            PodState::Ready => "ready",
            PodState::Starting => "starting",
            PodState::Stopped => "stopped",
            PodState::Missing => "missing",
        }
    }
}







impl std::fmt::Display for ProvisionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProvisionMode::Auto => "auto",
            ProvisionMode::Skip => "skip",
        })
    }
}

impl std::fmt::Display for SweepMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SweepMode::Start => "start",
            SweepMode::Resume => "resume",
            SweepMode::Skip => "skip",
        })
    }
}

impl std::fmt::Display for FetchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchMode::None => f.write_str("none"),
            FetchMode::All => f.write_str("all"),
            FetchMode::Run(id) => write!(f, "run:{id}"),
        }
    }
}

impl std::fmt::Display for TeardownMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TeardownMode::Keep => "keep",
            TeardownMode::Delete => "delete",
        })
    }
}


/// `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail.
    Debug,
    /// Progress.
    Info,
    /// Something odd.
    Warn,
    /// A failure.
    Error,
}

/// Convert the generated records to the types of [`records`](crate::records) and back.
///
/// `record_conversions!()` must be invoked in the module where `wit_bindgen::generate!` was
/// invoked for a world of `wfhost:plugin` that imports `log` and uses the records of `types`
/// (`executor`, `transport-plugin`): it uses the generated modules `wfhost::plugin::types` and
/// `wfhost::plugin::log` found there. It implements, field for field and variant for variant:
///
/// - `From` between the generated `CommandResult`, `PodIdentity` and `Kv` and
///   [`CommandResult`](crate::records::CommandResult),
///   [`PodIdentity`](crate::records::PodIdentity) and the `(key, value)` tuple
///   [`Kv`](crate::kv::Kv), both ways;
/// - `From` between the generated `PodReport` and `PodState` and
///   [`PodReport`](crate::records::PodReport) and [`PodState`](crate::records::PodState), both
///   ways;
/// - the flags' conversions of [`flag_conversions!`](crate::flag_conversions);
/// - `From<`[`Level`](crate::records::Level)`>` for the generated `log::Level`.
///
/// [`export_transport!`](crate::export_transport) invokes it already; do not invoke both in one
/// module.
///
/// ```text
/// wit_bindgen::generate!({ world: "executor", path: "../../wit" });
/// wfhost_pack_sdk::record_conversions!();
///
/// // then, in the glue:
/// let result: wfhost_pack_sdk::records::CommandResult = gateway::exec(&request)?.into();
/// log::emit(level.into(), message);
/// ```
#[macro_export]
macro_rules! record_conversions {
    () => {
        $crate::__same_fields!(
            self::wfhost::plugin::types::CommandResult,
            $crate::records::CommandResult,
            [exit_code, stdout, stderr, timed_out, duration_ms, truncated]
        );
        $crate::__same_fields!(
            self::wfhost::plugin::types::PodIdentity,
            $crate::records::PodIdentity,
            [transport, target, location]
        );
        $crate::__same_variants!(
            self::wfhost::plugin::types::PodState,
            $crate::records::PodState,
            [Ready, Starting, Stopped, Missing]
        );

        impl ::core::convert::From<self::wfhost::plugin::types::PodReport>
            for $crate::records::PodReport
        {
            fn from(x: self::wfhost::plugin::types::PodReport) -> Self {
                $crate::records::PodReport { state: x.state.into(), detail: x.detail }
            }
        }

        impl ::core::convert::From<$crate::records::PodReport>
            for self::wfhost::plugin::types::PodReport
        {
            fn from(x: $crate::records::PodReport) -> Self {
                self::wfhost::plugin::types::PodReport { state: x.state.into(), detail: x.detail }
            }
        }
        $crate::flag_conversions!();

        impl ::core::convert::From<self::wfhost::plugin::types::Kv>
            for (::std::string::String, ::std::string::String)
        {
            fn from(kv: self::wfhost::plugin::types::Kv) -> Self {
                (kv.key, kv.value)
            }
        }

        impl ::core::convert::From<(::std::string::String, ::std::string::String)>
            for self::wfhost::plugin::types::Kv
        {
            fn from((key, value): (::std::string::String, ::std::string::String)) -> Self {
                self::wfhost::plugin::types::Kv { key, value }
            }
        }

        impl ::core::convert::From<$crate::records::Level> for self::wfhost::plugin::log::Level {
            fn from(level: $crate::records::Level) -> Self {
                use self::wfhost::plugin::log::Level as Wit;
                use $crate::records::Level as Sdk;
                match level {
                    Sdk::Debug => Wit::Debug,
                    Sdk::Info => Wit::Info,
                    Sdk::Warn => Wit::Warn,
                    Sdk::Error => Wit::Error,
                }
            }
        }
    };
}

/// Convert the generated `flow-flags` record and its mode enums to
/// [`FlowFlags`](crate::records::FlowFlags) and its enums (one way: a component receives flags,
/// it never sends them).
///
/// `flag_conversions!()` must be invoked in the module where `wit_bindgen::generate!` was invoked
/// for a world of `wfhost:plugin` (it uses the generated `wfhost::plugin::types`), once:
/// [`record_conversions!`](crate::record_conversions) invokes it already, so only a component
/// that does not use that macro (an auditor) invokes this one.
#[macro_export]
macro_rules! flag_conversions {
    () => {
        $crate::__same_variants!(
            self::wfhost::plugin::types::ProvisionMode,
            $crate::records::ProvisionMode,
            [Auto, Skip]
        );
        $crate::__same_variants!(
            self::wfhost::plugin::types::SweepMode,
            $crate::records::SweepMode,
            [Start, Resume, Skip]
        );
        $crate::__same_variants!(
            self::wfhost::plugin::types::TeardownMode,
            $crate::records::TeardownMode,
            [Keep, Delete]
        );

        impl ::core::convert::From<self::wfhost::plugin::types::FetchMode>
            for $crate::records::FetchMode
        {
            fn from(x: self::wfhost::plugin::types::FetchMode) -> Self {
                use self::wfhost::plugin::types::FetchMode as Wit;
                use $crate::records::FetchMode as Sdk;
                match x {
                    Wit::None => Sdk::None,
                    Wit::All => Sdk::All,
                    Wit::Run(id) => Sdk::Run(id),
                }
            }
        }

        impl ::core::convert::From<self::wfhost::plugin::types::FlowFlags>
            for $crate::records::FlowFlags
        {
            fn from(x: self::wfhost::plugin::types::FlowFlags) -> Self {
                $crate::records::FlowFlags {
                    provision: x.provision.into(),
                    sweep: x.sweep.into(),
                    wait: x.wait,
                    fetch: x.fetch.into(),
                    teardown: x.teardown.into(),
                    yes: x.yes,
                }
            }
        }
    };
}

/// `From` both ways between two fieldless enums with the same variants; every variant must be
/// named (a match missing one does not compile). Used by the conversion macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __same_variants {
    ($a:path, $b:path, [$($variant:ident),+ $(,)?]) => {
        impl ::core::convert::From<$a> for $b {
            fn from(x: $a) -> Self {
                type A = $a;
                match x {
                    $(A::$variant => Self::$variant),+
                }
            }
        }

        impl ::core::convert::From<$b> for $a {
            fn from(x: $b) -> Self {
                type B = $b;
                match x {
                    $(B::$variant => Self::$variant),+
                }
            }
        }
    };
}

/// `From` both ways between two structs with the same fields, each moved as it is; every field
/// must be named (a struct literal missing one does not compile). Used by
/// [`record_conversions!`](crate::record_conversions).
#[doc(hidden)]
#[macro_export]
macro_rules! __same_fields {
    ($a:path, $b:path, [$($field:ident),+ $(,)?]) => {
        impl ::core::convert::From<$a> for $b {
            fn from(x: $a) -> Self {
                $b { $($field: x.$field),+ }
            }
        }

        impl ::core::convert::From<$b> for $a {
            fn from(x: $b) -> Self {
                $a { $($field: x.$field),+ }
            }
        }
    };
}

#[cfg(test)]
mod tests;
