//! One call into a component: a fresh store with its limits, and the classification of how the
//! call ended.
//!
//! [`Call::new`] builds the per-call store data of the role (`state`: a WASI context that denies
//! everything, bounded stdio, the memory limiter, and the host object the caller passed) in a
//! store of the runtime's engine, installs the limiter, fuel and the epoch deadline (from the
//! runtime's epoch clock), and starts the clock. When the guest returns an error,
//! [`Call::failure`] turns it into a [`PluginFailure`] with a specific [`FailureKind`]: the memory
//! limiter's flag first (a Rust guest turns a refused `memory.grow` into an abort), then a growth
//! the limit allowed but the process's address-space limit did not (see `engine`), then
//! wasmtime's trap codes, then `exit`, then any other mapping refused under the address-space
//! limit, then a generic trap. The stderr tail is appended for traps and panics.

use crate::capability::wasi::{TailPipe, STDIO_TAIL_BYTES};
use crate::engine::{address_space_advice, EpochClock};
use crate::failure::{FailureKind, PluginFailure};
use crate::limits::Limits;
use crate::state::{RoleHost, Sandbox, State};
use std::time::{Duration, Instant};
use wasmtime::{Engine, PoolConcurrencyLimitError, Store, Trap};
use wasmtime_wasi::I32Exit;

/// How much of stderr a failure message quotes.
const STDERR_IN_MESSAGE: usize = 2048;

/// A store ready for one call, with its captured stdio and start time.
pub(crate) struct Call<H: RoleHost> {
    pub(crate) store: Store<State<H>>,
    pub(crate) plugin: String,
    stderr: TailPipe,
    started: Instant,
    fuel: u64,
}

impl<H: RoleHost> Call<H> {
    pub(crate) fn new(
        engine: &Engine,
        clock: &EpochClock,
        plugin: &str,
        limits: &Limits,
        host: H,
    ) -> Result<Call<H>, PluginFailure> {
        let started = Instant::now();
        let stdout = TailPipe::new(STDIO_TAIL_BYTES);
        let stderr = TailPipe::new(STDIO_TAIL_BYTES);
        let sandbox = Sandbox::new(limits, &stdout, &stderr, started + limits.wall);
        let mut store = Store::new(engine, State::new(sandbox, host));
        store.limiter(|state| &mut state.sandbox_mut().limiter);
        store.set_epoch_deadline(clock.deadline_ticks(limits.wall));
        store.epoch_deadline_trap();
        let mut call = Call {
            store,
            plugin: plugin.to_string(),
            stderr,
            started,
            fuel: limits.fuel,
        };
        if let Err(e) = call.store.set_fuel(limits.fuel) {
            return Err(
                call.failure_with(FailureKind::HostError, format!("cannot set fuel: {e:#}"))
            );
        }
        Ok(call)
    }

    pub(crate) fn fuel_used(&self) -> u64 {
        self.store
            .get_fuel()
            .map(|left| self.fuel.saturating_sub(left))
            .unwrap_or(0)
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A failure of a given kind, with this call's costs.
    pub(crate) fn failure_with(&self, kind: FailureKind, message: String) -> PluginFailure {
        PluginFailure {
            plugin: self.plugin.clone(),
            kind,
            message,
            fuel_used: self.fuel_used(),
            duration: self.elapsed(),
        }
    }

    fn stderr_suffix(&self) -> String {
        let tail = self.stderr.tail_text(STDERR_IN_MESSAGE);
        let tail = tail.trim();
        if tail.is_empty() {
            String::new()
        } else {
            format!(
                "; stderr tail (of {} bytes written): {tail}",
                self.stderr.total()
            )
        }
    }

    /// A call that returned, but after its deadline (e.g. it slept in a host call past it), is a
    /// deadline failure: a late answer is not used.
    pub(crate) fn check_deadline(&self, limits: &Limits) -> Result<(), PluginFailure> {
        if self.elapsed() > limits.wall {
            return Err(self.failure_with(
                FailureKind::Deadline,
                format!(
                    "the component returned after its {} ms deadline ({} ms)",
                    limits.wall.as_millis(),
                    self.elapsed().as_millis()
                ),
            ));
        }
        Ok(())
    }

    /// Classify an error returned by instantiation or a guest call.
    pub(crate) fn failure(&self, error: &wasmtime::Error, limits: &Limits) -> PluginFailure {
        let (kind, message) = self.classify(error, limits);
        self.failure_with(kind, message)
    }

    fn classify(&self, error: &wasmtime::Error, limits: &Limits) -> (FailureKind, String) {
        if self.store.data().sandbox().limiter.memory_refused {
            return (
                FailureKind::MemoryLimit,
                format!(
                    "the component tried to grow its memory past {} MiB and then stopped ({}){}",
                    limits.memory_bytes / (1024 * 1024),
                    chain(error),
                    self.stderr_suffix()
                ),
            );
        }
        let limiter = &self.store.data().sandbox().limiter;
        if let Some(advice) = limiter
            .grow_failure
            .as_deref()
            .and_then(address_space_advice)
        {
            // The limit allowed the growth but there was no address space to make it in; the
            // guest then failed its own way (a Rust guest aborts).
            return (
                FailureKind::HostError,
                format!("memory growth failed: {advice}"),
            );
        }
        if let Some(trap) = error.downcast_ref::<Trap>() {
            return match trap {
                Trap::OutOfFuel => (
                    FailureKind::FuelExhausted,
                    format!("the component used all of its {} fuel", limits.fuel),
                ),
                Trap::Interrupt => (
                    FailureKind::Deadline,
                    format!(
                        "the component ran past its {} ms deadline",
                        limits.wall.as_millis()
                    ),
                ),
                Trap::StackOverflow => (
                    FailureKind::StackOverflow,
                    format!(
                        "the component overflowed the wasm call stack{}",
                        self.stderr_suffix()
                    ),
                ),
                _ => {
                    let stderr = self.stderr.tail_text(STDIO_TAIL_BYTES);
                    let kind = if stderr.contains("panicked at") {
                        FailureKind::GuestPanic
                    } else {
                        FailureKind::Trap
                    };
                    (
                        kind,
                        format!("the component trapped: {trap}{}", self.stderr_suffix()),
                    )
                }
            };
        }
        if error.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
            return (
                FailureKind::HostError,
                format!(
                    "too many plugin calls at once ({}); retry when others have finished",
                    chain(error)
                ),
            );
        }
        if let Some(exit) = error.downcast_ref::<I32Exit>() {
            return (
                FailureKind::GuestExit,
                format!(
                    "the component called exit({}) instead of returning{}",
                    exit.0,
                    self.stderr_suffix()
                ),
            );
        }
        if let Some(advice) = address_space_advice(&chain(error)) {
            return (FailureKind::HostError, advice);
        }
        (
            FailureKind::Trap,
            format!("the call failed: {}{}", chain(error), self.stderr_suffix()),
        )
    }
}

/// An error and its causes on one line.
pub(crate) fn chain(error: &wasmtime::Error) -> String {
    let mut out = String::new();
    for (i, cause) in error.chain().enumerate() {
        if i > 0 {
            out.push_str(": ");
        }
        out.push_str(&cause.to_string());
    }
    out
}
