//! `wfhost explain --json`: the story of [`crate::explain`] as one JSON document
//! (`docs/schemas/cli-explain.schema.json`).
//!
//! ```text
//! flow_dir ─► Story::read (the records) ─┐
//!          └► verify (the evidence holds?) ┴► { flow, evidence, halt (code name and text, law
//!                                               titles from the constitution), phases, ... }
//! ```
//!
//! Like the text form it reports a tampered flow (evidence.verified false, with the first
//! problem) and still tells what the records say.

use crate::story::{Story, StoryError};
use crate::verify;
use serde_json::{json, Value};
use std::path::Path;
use wfhost_constitution::Constitution;

/// Whether the evidence of `flow_dir` verifies, as JSON: `{verified, records, warnings,
/// problem, signing}`.
pub fn evidence_json(flow_dir: &Path) -> Value {
    match verify(flow_dir) {
        Ok(r) => json!({
            "verified": true,
            "records": r.records,
            "warnings": r.warnings,
            "problem": null,
            "signing": r.signing.as_ref().map(|s| json!({"key_id": s.key_id, "pinned": s.pinned, "envelopes": s.envelopes})),
        }),
        Err(f) => json!({
            "verified": false,
            "records": null,
            "warnings": [],
            "problem": f.to_json(),
            "signing": null,
        }),
    }
}

/// The halt of `story` with the constitution's words for its code and laws, or null.
pub fn halt_json(story: &Story) -> Value {
    let Some(h) = story.halt() else { return Value::Null };
    let c = Constitution::get().ok();
    let code = h.code.and_then(|code| u16::try_from(code).ok());
    let known = code.and_then(|code| c.and_then(|c| c.code(code)));
    json!({
        "phase": h.phase,
        "code": h.code,
        "code_name": known.map(|k| k.name.clone()),
        "code_text": known.map(|k| k.text.clone()),
        "reason": h.halt_reason,
        "violated_laws": h.violated_laws.iter().map(|l| json!({
            "id": l,
            "title": c.and_then(|c| c.law(l)).map(|law| law.title.clone()),
        })).collect::<Vec<_>>(),
        "next_command": h.next_command,
        "verdict_file": story.flow_dir.join(crate::layout::rel_phase_file(&h.phase, crate::layout::PhaseFile::Verdict)).display().to_string(),
    })
}

/// The flow in `flow_dir` as the `explain --json` document.
pub fn explain_json(flow_dir: &Path) -> Result<Value, StoryError> {
    let story = Story::read(flow_dir)?;
    let mut doc = serde_json::to_value(&story).unwrap_or(Value::Null);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("evidence".into(), evidence_json(flow_dir));
        obj.insert("halt".into(), halt_json(&story));
        obj.insert("next_command".into(), json!(story.next_command()));
    }
    Ok(doc)
}
