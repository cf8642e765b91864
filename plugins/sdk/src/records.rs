//! The records every plugin role that talks to pods exchanges with the host, as plain Rust:
//! `command-result` and `pod-identity` of interface `types`, and `level` of interface `log`
//! (key/value entries are [`crate::kv::Kv`]). Executors receive them from the `gateway` import,
//! transports return them from their exports and receive them from the `process` import.
//!
//! Data flow: the glue of a component converts the records wit-bindgen generates to these and
//! back, field for field, with the `From` impls [`record_conversions!`](crate::record_conversions)
//! writes; plugin logic sees only the types here, so it compiles and is unit-tested on the host
//! target. [`export_transport!`](crate::export_transport) includes these conversions; an
//! executor's glue invokes the macro itself.
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
