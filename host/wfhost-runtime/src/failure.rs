//! What goes wrong when a plugin runs, as data.
//!
//! Every way a call into a component can end badly (out of fuel, past the deadline, over its
//! memory, a trap, a guest panic, output that is malformed or too large, a refused load) is one
//! [`FailureKind`] with a stable machine-readable name. The store module classifies wasmtime errors
//! into a [`PluginFailure`]; the auditor turns it into an `unverified` verdict, the executor and
//! transport APIs return it as an error.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Why a plugin call did not produce a usable result. `as_str` is the machine-readable name
/// written into evidence (`fuel_exhausted`, `deadline`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The component could not be loaded for its role (bad bytes, forbidden import, wrong world).
    LoadRefused,
    /// The call used up its fuel (instruction budget).
    FuelExhausted,
    /// The call ran past its wall-clock deadline.
    Deadline,
    /// The component tried to grow its memory past the limit.
    MemoryLimit,
    /// The component overflowed the WebAssembly call stack (runaway recursion).
    StackOverflow,
    /// The component trapped (unreachable, out-of-bounds access, bad lift/lower, ...).
    Trap,
    /// The component panicked (Rust guest: a panic message on stderr, then an abort).
    GuestPanic,
    /// The component called `exit` instead of returning.
    GuestExit,
    /// An auditor returned a verdict that breaks the verdict contract.
    MalformedVerdict,
    /// The component returned more output than the limit allows.
    OversizedOutput,
    /// The host could not set up the call (store, instance); not the plugin's fault.
    HostError,
}

impl FailureKind {
    /// The machine-readable name, e.g. `fuel_exhausted`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::LoadRefused => "load_refused",
            FailureKind::FuelExhausted => "fuel_exhausted",
            FailureKind::Deadline => "deadline",
            FailureKind::MemoryLimit => "memory_limit",
            FailureKind::StackOverflow => "stack_overflow",
            FailureKind::Trap => "trap",
            FailureKind::GuestPanic => "guest_panic",
            FailureKind::GuestExit => "guest_exit",
            FailureKind::MalformedVerdict => "malformed_verdict",
            FailureKind::OversizedOutput => "oversized_output",
            FailureKind::HostError => "host_error",
        }
    }

    /// What the user should do next, one sentence, for evidence and error output.
    pub fn remediation(self) -> &'static str {
        match self {
            FailureKind::LoadRefused => {
                "use a component built for this role against the wit/ contract shipped with this \
                 wfhost that imports only what the role allows"
            }
            FailureKind::FuelExhausted => {
                "the plugin ran too long; fix the plugin, or raise its fuel (WF_AUDITOR_FUEL for \
                 auditors) if the work is legitimate"
            }
            FailureKind::Deadline => {
                "the plugin ran past its deadline; fix the plugin, or raise the timeout \
                 (WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS for auditors)"
            }
            FailureKind::MemoryLimit => {
                "the plugin needs more memory than allowed; fix the plugin, or raise the limit \
                 (WF_AUDITOR_MEMORY_MB for auditors)"
            }
            FailureKind::StackOverflow => "the plugin recursed without bound; fix the plugin",
            FailureKind::Trap | FailureKind::GuestPanic | FailureKind::GuestExit => {
                "the plugin crashed; see the message and stderr tail, then fix or replace the plugin"
            }
            FailureKind::MalformedVerdict => {
                "the auditor broke the verdict contract; fix or replace the auditor"
            }
            FailureKind::OversizedOutput => {
                "the plugin returned more output than allowed; fix the plugin or raise the output \
                 limit"
            }
            FailureKind::HostError => "retry; if it persists, report it with this message",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin call that failed, with what it cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("plugin {plugin}: {kind}: {message}")]
pub struct PluginFailure {
    /// The component's name (built-in name or file name).
    pub plugin: String,
    /// Machine-readable cause.
    pub kind: FailureKind,
    /// Human-readable detail (includes the stderr tail for panics and traps).
    pub message: String,
    /// Fuel consumed before the call ended.
    pub fuel_used: u64,
    /// Wall-clock time of the call.
    pub duration: Duration,
}
