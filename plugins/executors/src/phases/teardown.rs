//! P90 TEARDOWN: keep the pod (default) or delete it (`--teardown delete` only).
//!
//! A kept pod loses the runs' secrets file (WF_RUN_SECRETS, `OUT/_control/run-secrets.env`)
//! unless its runner still works (then the runner removes it when its last run ends).
//!
//! Facts: `deleted` (true|false), `already_gone` when the pod to delete did not exist any more
//! (the goal of the phase holds, so that is ok), `run_secrets` (removed|kept|none) when
//! WF_RUN_SECRETS is set.

use super::{remote_path, slurm_array};
use crate::context::{config, PhaseContext};
use crate::host::{ActionClass, GatewayError, Host, Level};
use wfhost_pack_sdk::shell::shell_quote;
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
        TeardownMode::Keep => {
            let secrets = forget_secrets(act)?;
            Ok((Status::Ok, format!("pod {target} is kept{secrets}; delete it later with `wfhost pod-delete --target {target} --yes`")))
        }
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

/// With WF_RUN_SECRETS set: remove the runs' secrets file from the kept pod unless its runner
/// is alive (`runner.sh forget-secrets`). Returns what the phase message adds.
fn forget_secrets<H: Host>(act: &mut Act<'_, H>) -> Result<String, Failure> {
    if act.ctx.config("WF_RUN_SECRETS").is_none() {
        return Ok(String::new());
    }
    let out = remote_path(act.ctx, config::OPS_REMOTE_OUTPUTS_DIR, code::TEARDOWN_FAILED)?;
    let out_r = act.resolve(&out)?;
    let runner = shell_quote(&format!("{out_r}/_sweep/runner.sh"));
    let file = shell_quote(&format!("{out_r}/_control/run-secrets.env"));
    let res = act.exec_ok(
        "removing the runs' secrets file",
        &format!(
            "if [ -f {runner} ]; then sh {runner} forget-secrets {}; elif [ -e {file} ]; then rm -f {file} && echo removed; else echo none; fi",
            shell_quote(&out_r)
        ),
        None,
        &[],
        60_000,
        ActionClass::WriteInternal,
        code::TEARDOWN_FAILED,
        &format!("remove {out}/_control/run-secrets.env on the pod by hand"),
    )?;
    let state = res.stdout.lines().map(str::trim).rfind(|l| matches!(*l, "removed" | "kept" | "none")).unwrap_or("");
    if state.is_empty() {
        return Err(Failure::new(
            code::TEARDOWN_FAILED,
            format!("removing the runs' secrets file answered {:?}; remove {out}/_control/run-secrets.env on the pod by hand", res.stdout.trim()),
        ));
    }
    act.facts.set("run_secrets", state);
    Ok(match state {
        "removed" => "; the runs' secrets file is removed".to_string(),
        "kept" => "; the runs' secrets stay until its runner's last run ends (the runner removes them)".to_string(),
        _ => String::new(),
    })
}
