//! The built-in phase executors (in progress).
wit_bindgen::generate!({ world: "executor", path: "../../wit" });
use exports::wfhost::plugin::phase::{Guest, PhaseContext};
use wfhost::plugin::types::{PhaseOutcome, PhaseStatus};
struct Executors;
impl Guest for Executors {
    fn phases() -> Vec<String> { vec![] }
    fn run_phase(context: PhaseContext) -> PhaseOutcome {
        PhaseOutcome { phase: context.phase, status: PhaseStatus::Fail, code: 0, message: "not implemented".into(), artifacts: vec![], facts: vec![], details_json: None }
    }
}
export!(Executors);
