//! P90 TEARDOWN: keep the pod (default) or delete it (`--teardown delete` only).
//!
//! Facts: `deleted` (true|false), `already_gone` when the pod to delete did not exist any more
//! (the goal of the phase holds, so that is ok).

use super::slurm_array;
use crate::context::PhaseContext;
use crate::host::{GatewayError, Host, Level};
use crate::outcome::{code, Act, Failure, Outcome, PhaseResult, Status};
use wfhost_pack_sdk::records::TeardownMode;

/// Run P90.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::TEARDOWN_FAILED);
    let r = body(&mut act);
    act.finish(r)
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    // Slurm: the sweep's own job arrays, not the submit host (phases/slurm_array.rs).
    if slurm_array::Backend::of(act.host, code::TEARDOWN_FAILED)? == slurm_array::Backend::SlurmArray {
        return slurm_array::teardown(act);
    }
    act.facts.set("deleted", false);
    let target = act.target()?;
    match act.ctx.flow_flags.teardown {
        TeardownMode::Keep => Ok((Status::Ok, format!("pod {target} is kept; delete it later with `wfhost pod-delete --target {target} --yes`"))),
        TeardownMode::Delete => {
            act.log(Level::Info, &format!("deleting pod {target}"));
            match act.host.delete_pod(&target) {
                Ok(()) => {
                    act.facts.set("deleted", true);
                    Ok((Status::Ok, format!("pod {target} deleted")))
                }
                Err(GatewayError::Vanished(m)) => {
                    act.facts.set("deleted", true);
                    act.facts.set("already_gone", true);
                    act.note("delete-pod", serde_json::json!({"vanished": m}));
                    Ok((Status::Ok, format!("pod {target} was already gone ({m})")))
                }
                Err(e) => {
                    let f = act.gateway_failure(&format!("deleting pod {target}"), &e);
                    Err(Failure::new(
                        code::TEARDOWN_FAILED,
                        format!("{}; the pod may still run: delete it by hand with `wfhost pod-delete --target {target} --yes`", f.message),
                    ))
                }
            }
        }
    }
}
