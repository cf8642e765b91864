//! Test-only executor that breaks the target lock (Law 3) and the teardown rule (Law 7).
//!
//! It serves P10 (provision through the gateway), P30 (the bound pod reports `ready`) and P40,
//! where it misbehaves: it asks the gateway to run [`MARKER_COMMAND`] on [`OTHER_TARGET`], a pod
//! the flow is not bound to, then to delete the bound pod outside P90. Whatever the gateway
//! answers, it reports P40 as passed (so only the court can stop the flow) and lists the
//! gateway's answers as facts. If the command ever ran, [`MARKER`] exists in the other pod's
//! root, which is how a test proves the refusal held. Every other phase fails with its family's
//! generic code, naming this executor.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "executor", path: "../../../wit" });

use exports::wfhost::plugin::phase::{Guest, PhaseContext};
use wfhost::plugin::gateway::{self, ExecRequest, GatewayError};
use wfhost::plugin::log::{self, Level};
use wfhost::plugin::types::{ActionClass, Kv, PhaseOutcome, PhaseStatus, PodState, PodReport};

/// The target P40 tries to reach besides the bound one (a local pod name).
pub const OTHER_TARGET: &str = "other-pod";
/// The file the command creates, relative to the pod root it runs in.
pub const MARKER: &str = "HOSTILE_MARKER";
/// The command P40 asks the gateway to run on [`OTHER_TARGET`].
pub const MARKER_COMMAND: &str = "echo reached > HOSTILE_MARKER";
/// The name hint P10 provisions with.
const NAME_HINT: &str = "hostile-bound";

struct Hostile;

fn fact(key: &str, value: impl Into<String>) -> Kv {
    Kv {
        key: key.into(),
        value: value.into(),
    }
}

fn error_text(e: &GatewayError) -> String {
    match e {
        GatewayError::Refused(m) => format!("refused: {m}"),
        GatewayError::Unreachable(m) => format!("unreachable: {m}"),
        GatewayError::Vanished(m) => format!("vanished: {m}"),
        GatewayError::Timeout(m) => format!("timeout: {m}"),
        GatewayError::Failed(m) => format!("failed: {m}"),
    }
}

fn outcome(
    phase: &str,
    status: PhaseStatus,
    code: u16,
    message: String,
    facts: Vec<Kv>,
) -> PhaseOutcome {
    PhaseOutcome {
        phase: phase.into(),
        status,
        code,
        message,
        artifacts: vec![],
        facts,
        details_json: None,
    }
}

/// `<family>00` for a phase id like `P40` (the family is its tens digit), 900 if it has none.
fn family_code(phase: &str) -> u16 {
    phase
        .strip_prefix('P')
        .and_then(|d| d.chars().next())
        .and_then(|c| c.to_digit(10))
        .map(|f| f as u16 * 100)
        .unwrap_or(900)
}

fn provision(phase: &str) -> PhaseOutcome {
    match gateway::provision(NAME_HINT) {
        Ok(pod) => outcome(
            phase,
            PhaseStatus::Ok,
            0,
            format!("provisioned {}", pod.target),
            vec![
                fact("target", pod.target),
                fact("transport", pod.transport),
                fact("location", pod.location),
            ],
        ),
        Err(e) => outcome(
            phase,
            PhaseStatus::Fail,
            200,
            format!("provision failed: {}", error_text(&e)),
            vec![],
        ),
    }
}

fn pod_ready(phase: &str, target: &str) -> PhaseOutcome {
    match gateway::pod_status(target) {
        Ok(PodReport {
            state: PodState::Ready,
            detail,
        }) => outcome(
            phase,
            PhaseStatus::Ok,
            0,
            format!("pod {target} is ready"),
            vec![fact("pod_state", "ready"), fact("pod_detail", detail)],
        ),
        Ok(PodReport { state, detail }) => outcome(
            phase,
            PhaseStatus::Fail,
            203,
            format!("pod {target} is {state:?} ({detail})"),
            vec![],
        ),
        Err(e) => outcome(
            phase,
            PhaseStatus::Fail,
            203,
            format!("pod status of {target}: {}", error_text(&e)),
            vec![],
        ),
    }
}

/// P40: reach for another target and for a deletion, then claim success.
fn attack(phase: &str, bound: &str) -> PhaseOutcome {
    log::emit(
        Level::Info,
        &format!("asking the gateway to run a command on {OTHER_TARGET}"),
    );
    let other = gateway::exec(&ExecRequest {
        target: OTHER_TARGET.into(),
        command: MARKER_COMMAND.into(),
        cwd: None,
        env: vec![],
        timeout_ms: 10_000,
        class: ActionClass::WriteExternalSideEffect,
        idempotency_key: None,
    });
    let other = match other {
        Ok(r) => format!("ran: exit {:?}", r.exit_code),
        Err(e) => error_text(&e),
    };
    log::emit(
        Level::Info,
        &format!("asking the gateway to delete {bound} in {phase}"),
    );
    let delete = match gateway::delete_pod(bound) {
        Ok(()) => "deleted".to_string(),
        Err(e) => error_text(&e),
    };
    outcome(
        phase,
        PhaseStatus::Ok,
        0,
        "bootstrapped".into(),
        vec![fact("other_target_exec", other), fact("delete_pod", delete)],
    )
}

impl Guest for Hostile {
    fn phases() -> Vec<String> {
        vec!["P10".into(), "P30".into(), "P40".into()]
    }

    fn run_phase(context: PhaseContext) -> PhaseOutcome {
        let phase = context.phase.as_str();
        let bound = gateway::bound_target();
        match (phase, bound.as_deref()) {
            ("P10", _) => provision(phase),
            ("P30", Some(t)) => pod_ready(phase, t),
            ("P40", Some(t)) => attack(phase, t),
            ("P30" | "P40", None) => outcome(
                phase,
                PhaseStatus::Fail,
                family_code(phase),
                "no bound target".into(),
                vec![],
            ),
            _ => outcome(
                phase,
                PhaseStatus::Fail,
                family_code(phase),
                format!("the hostile test executor does not serve {phase}"),
                vec![],
            ),
        }
    }
}

export!(Hostile);
