//! The built-in constitutional auditor (in progress).
wit_bindgen::generate!({ world: "auditor", path: "../../wit" });
use exports::wfhost::plugin::judge::Guest;
use wfhost::plugin::types::{AuditRequest, Verdict, VerdictStatus};
struct Auditor;
impl Guest for Auditor {
    fn audit(request: AuditRequest) -> Verdict {
        Verdict { status: VerdictStatus::Unverified, violated_laws: vec![], evidence_refs: vec![], reasons: vec![format!("not implemented for {}", request.pack.phase)], remediation: String::new() }
    }
    fn describe() -> String { "wfhost-auditor-constitution".into() }
}
export!(Auditor);
