//! P40 BOOTSTRAP: the evidence directories under OUT, the config copy at REMOTE_ENV_PATH
//! (mode 0600), and BOOTSTRAP_SCRIPT when given (written to OUT/_control/bootstrap.sh and run
//! with `sh` in OUT/_control, with WF_OUTPUTS_DIR and WF_ENV_FILE set to the resolved paths).
//! It records the pod's GPUs ([`crate::gpus`]).
//! Facts: `bootstrap_script` (none|ran), `remote_env_path`, `outputs_dir`, `gpus`, `gpu_count`,
//! `gpus_source`.

use super::remote_path;
use crate::context::{config, PhaseContext};
use crate::host::{ActionClass, Host, Level};
use crate::outcome::{code, Act, Failure, Outcome, PhaseResult, Status};
use wfhost_pack_sdk::path::join;
use wfhost_pack_sdk::shell::shell_join;

const MKDIR_TIMEOUT_MS: u64 = 60_000;

/// Run P40.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::BOOTSTRAP_FAILED);
    let r = body(&mut act);
    act.finish(r)
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    let out = remote_path(
        act.ctx,
        config::OPS_REMOTE_OUTPUTS_DIR,
        code::BOOTSTRAP_FAILED,
    )?;
    let env_path = remote_path(
        act.ctx,
        config::REMOTE_ENV_PATH,
        code::BOOTSTRAP_FAILED,
    )?;
    let config_text = act.ctx.input("config_text").ok_or_else(|| {
        Failure::new(
            code::BOOTSTRAP_FAILED,
            "the host gave no config_text to copy to the pod; this is a wfhost bug, report it",
        )
    })?;
    act.facts.set("outputs_dir", &out);
    act.facts.set("remote_env_path", &env_path);
    act.facts.set("bootstrap_script", "none");

    let out_r = act.resolve(&out)?;
    let dirs: Vec<String> = ["_control", "_manifests", "_sweep", "runs"]
        .iter()
        .map(|d| join(&out_r, d))
        .collect();
    let mkdir = format!("mkdir -p {}", shell_join(&dirs));
    act.exec_ok(
        "creating the evidence directories",
        &mkdir,
        None,
        &[],
        MKDIR_TIMEOUT_MS,
        ActionClass::WriteInternal,
        code::BOOTSTRAP_FAILED,
        &format!("check that {out} (OPS_REMOTE_OUTPUTS_DIR) is writable on the pod"),
    )?;
    act.put(&env_path, config_text.as_bytes(), 0o600)?;
    let gpus = crate::gpus::detect(act)?;
    gpus.record(act);

    let script = act.ctx.input("bootstrap_script").unwrap_or("");
    if script.trim().is_empty() {
        return Ok((
            Status::Ok,
            format!("bootstrapped {out}; config copied to {env_path}; no BOOTSTRAP_SCRIPT"),
        ));
    }
    let control = join(&out, "_control");
    act.put(&join(&control, "bootstrap.sh"), script.as_bytes(), 0o700)?;
    let env_r = act.resolve(&env_path)?;
    let timeout_s = act.ctx.secs(act.host, config::WF_BOOTSTRAP_TIMEOUT_SECS);
    act.log(
        Level::Info,
        &format!("running BOOTSTRAP_SCRIPT on the pod (limit {timeout_s} s)"),
    );
    act.exec_ok(
        "BOOTSTRAP_SCRIPT",
        "sh bootstrap.sh",
        Some(&control),
        &[("WF_OUTPUTS_DIR", &out_r), ("WF_ENV_FILE", &env_r)],
        timeout_s.saturating_mul(1000),
        ActionClass::WriteInternal,
        code::BOOTSTRAP_FAILED,
        "read its output in the phase evidence, fix BOOTSTRAP_SCRIPT and rerun with --provision skip",
    )?;
    act.facts.set("bootstrap_script", "ran");
    Ok((
        Status::Ok,
        format!("bootstrapped {out}; config copied to {env_path}; BOOTSTRAP_SCRIPT ran"),
    ))
}
