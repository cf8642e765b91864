//! One module per phase, and the dispatch of `run-phase`.
//!
//! Each phase module exposes `run(host, ctx) -> Outcome`: it builds an [`Act`] with the phase's
//! catch-all failure code, does its work through the gateway, and finishes the outcome.

use crate::context::{config, Defaults, PhaseContext};
use crate::host::Host;
use crate::outcome::{code, Act, Failure, Outcome, Status};
use wfhost_pack_sdk::executor::Executor;
use wfhost_pack_sdk::path::normalize_abs_path;

pub mod bootstrap;
pub mod checkout;
pub mod fetch;
pub mod monitor;
pub mod pod_ready;
pub mod provision;
pub mod slurm_array;
pub mod sweep;
pub mod task;
pub mod teardown;

/// The phases this executor serves.
pub const PHASES: [&str; 9] = ["P10", "P30", "P40", "P50", "P60", "P70", "P75", "P80", "P90"];

/// The built-in executors as the SDK's [`Executor`], for
/// [`export_executor!`](wfhost_pack_sdk::export_executor).
pub struct Builtin<'h, H: Host> {
    host: &'h H,
}

impl<'h, H: Host> Builtin<'h, H> {
    /// Serve phases with `host`.
    pub fn new(host: &'h H) -> Self {
        Builtin { host }
    }
}

impl<H: Host> Executor for Builtin<'_, H> {
    fn phases(&self) -> Vec<String> {
        PHASES.iter().map(|p| p.to_string()).collect()
    }

    fn run_phase(&self, ctx: &PhaseContext) -> Outcome {
        run_phase(self.host, ctx)
    }
}

/// Run `ctx.phase`.
pub fn run_phase<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    match ctx.phase.as_str() {
        "P10" => provision::run(host, ctx),
        "P30" => pod_ready::run(host, ctx),
        "P40" => bootstrap::run(host, ctx),
        "P50" => checkout::run(host, ctx),
        "P60" => sweep::run(host, ctx),
        "P70" => monitor::run(host, ctx),
        "P75" => task::run(host, ctx),
        "P80" => fetch::run(host, ctx),
        "P90" => teardown::run(host, ctx),
        other => unknown_phase(host, ctx, other),
    }
}

/// A phase this executor does not serve: fail with the generic code of the phase's family
/// (the constitution's phase table and `generic` codes; a phase the table does not have counts
/// as the config/policy family's, whose generic code says a plugin could not do the job).
fn unknown_phase<H: Host>(host: &H, ctx: &PhaseContext, phase: &str) -> Outcome {
    let code = code::generic_of_phase(phase);
    let act = Act::new(host, ctx, code);
    act.finish(Err(Failure::new(
        code,
        format!(
            "this executor does not serve phase {phase:?}; it serves {}",
            PHASES.join(", ")
        ),
    )))
}

/// A remote directory from config `key` (or its default), normalised; a bad value fails with
/// `code`.
pub(crate) fn remote_path(ctx: &PhaseContext, key: config::Text, code: u16) -> Result<String, Failure> {
    let key_name = key.name;
    let raw = ctx.value(key);
    normalize_abs_path(raw).map_err(|e| {
        Failure::new(
            code,
            format!("{key_name}={raw:?} is not usable: {e}; fix it in the config"),
        )
    })
}

/// `Ok((Status::Skip, why))`.
pub(crate) fn skip(why: impl Into<String>) -> Result<(Status, String), Failure> {
    Ok((Status::Skip, why.into()))
}

#[cfg(test)]
pub(crate) mod testhost;

#[cfg(test)]
mod tests;
