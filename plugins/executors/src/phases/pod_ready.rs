//! P30 POD_READY: the pod reports `ready` (polled while `starting`, up to
//! WF_POD_READY_TIMEOUT_SECS) and answers `echo wfhost-ready` through the transport.
//! Then it finds the pod's GPUs ([`crate::gpus`]).
//! Facts: `pod_state`, `pod_detail`, `status_polls`, `gpus`, `gpu_count`, `gpus_source`.

use crate::context::{config, Defaults, PhaseContext};
use crate::host::{ActionClass, Host, Level, PodState, PodReport};
use crate::outcome::{code, Act, Failure, Outcome, PhaseResult, Status};
use wfhost_pack_sdk::text::last_line;

const POLL_MS: u64 = 2_000;
const ANSWER_TIMEOUT_MS: u64 = 30_000;
const MARK: &str = "wfhost-ready";

/// Run P30.
pub fn run<H: Host>(host: &H, ctx: &PhaseContext) -> Outcome {
    let mut act = Act::new(host, ctx, code::POD_NOT_READY);
    let r = body(&mut act);
    act.finish(r)
}

fn body<H: Host>(act: &mut Act<'_, H>) -> PhaseResult {
    let target = act.target()?;
    let budget_s = act.ctx.secs(act.host, config::WF_POD_READY_TIMEOUT_SECS);
    let deadline = act
        .host
        .now_ms()
        .saturating_add(budget_s.saturating_mul(1000));
    let mut polls = 0u32;
    loop {
        polls += 1;
        act.facts.set("status_polls", polls);
        let PodReport { state, detail } = act
            .host
            .pod_status(&target)
            .map_err(|e| act.gateway_failure("reading the pod status", &e))?;
        act.facts.set("pod_state", state.as_str());
        act.facts.set("pod_detail", &detail);
        match state {
            PodState::Ready => break,
            PodState::Starting => {
                let now = act.host.now_ms();
                if now >= deadline {
                    return Err(Failure::new(
                        code::POD_NOT_READY,
                        format!("pod {target} is still starting after {budget_s} s ({detail}); wait and rerun with --provision skip, or raise WF_POD_READY_TIMEOUT_SECS"),
                    ));
                }
                act.log(Level::Info, &format!("pod {target} is starting ({detail}); waiting"));
                act.host.sleep_ms(POLL_MS.min(deadline - now));
            }
            PodState::Missing => {
                return Err(Failure::new(
                    code::POD_VANISHED_2XX,
                    format!("pod {target} does not exist ({detail}); provision a new one with --provision auto --yes and no LIUM_TARGET"),
                ))
            }
            PodState::Stopped => {
                return Err(Failure::new(
                    code::POD_NOT_READY,
                    format!("pod {target} is stopped ({detail}); start it, then rerun with --provision skip"),
                ))
            }
        }
    }
    let res = act.exec(
        "answering `echo wfhost-ready`",
        &format!("echo {MARK}"),
        None,
        &[],
        ANSWER_TIMEOUT_MS,
        ActionClass::Read,
    )?;
    let answered =
        !res.timed_out && res.exit_code == Some(0) && res.stdout.lines().any(|l| l.trim() == MARK);
    if !answered {
        let why = if res.timed_out {
            format!("no answer within {} s", ANSWER_TIMEOUT_MS / 1000)
        } else {
            format!(
                "exit {}, stdout {:?}, stderr {:?}",
                res.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "none".into()),
                last_line(&res.stdout),
                last_line(&res.stderr)
            )
        };
        return Err(Failure::new(
            code::POD_NOT_READY,
            format!("pod {target} reports ready but does not answer commands ({why}); run `wfhost doctor` to check the transport"),
        ));
    }
    let gpus = crate::gpus::detect(act)?;
    gpus.record(act);
    Ok((
        Status::Ok,
        format!(
            "pod {target} is ready and answers commands; GPUs: {}",
            gpus.describe()
        ),
    ))
}
