//! Hostile auditor used by tests (in progress).
wit_bindgen::generate!({ world: "auditor", path: "../../../wit" });
use exports::wfhost::plugin::judge::Guest;
use wfhost::plugin::types::{AuditRequest, Verdict};
struct H;
impl Guest for H {
    fn audit(_r: AuditRequest) -> Verdict { loop {} }
    fn describe() -> String { "hostile-runtime".into() }
}
export!(H);
