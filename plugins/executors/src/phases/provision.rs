//! P10 PROVISION: create a pod through the transport, unless provisioning is skipped or an
//! explicit target (LIUM_TARGET) is set. Facts: `target`, `transport`, `location`.

use super::skip;
use crate::context::PhaseContext;
use crate::host::{Host, Level};
use wfhost_pack_sdk::records::ProvisionMode;
use crate::outcome::{code, Act, Outcome, PhaseResult, Status};

/// Run P10.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::PROVISION_FAILED);
    let r = body(&mut act);
    act.finish(r)
}

/// `wf-` and up to 8 safe characters of the flow ID's unique suffix (the part after its last
/// `-`; flow IDs are `<UTC timestamp>-<hex>`), so pods of flows started the same day differ.
pub fn name_hint(flow_id: &str) -> String {
    let unique = flow_id.rsplit('-').next().unwrap_or(flow_id);
    let part: String = unique
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(8)
        .collect();
    if part.is_empty() {
        "wf-flow".to_string()
    } else {
        format!("wf-{part}")
    }
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    if act.ctx.flow_flags.provision == ProvisionMode::Skip {
        return skip("--provision skip: no pod is created");
    }
    if let Some(t) = act.ctx.config("LIUM_TARGET") {
        return skip(format!(
            "LIUM_TARGET={t} is set and takes precedence; no pod is created"
        ));
    }
    let hint = name_hint(&act.ctx.flow_id);
    act.log(
        Level::Info,
        &format!("provisioning a pod named like {hint}"),
    );
    let pod = act
        .host
        .provision(&hint)
        .map_err(|e| act.gateway_failure(&format!("provisioning pod {hint}"), &e))?;
    act.facts.set("target", &pod.target);
    act.facts.set("transport", &pod.transport);
    act.facts.set("location", &pod.location);
    Ok((
        Status::Ok,
        format!(
            "provisioned pod {} on {} at {}",
            pod.target, pod.transport, pod.location
        ),
    ))
}
