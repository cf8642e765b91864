//! The JSON Schemas of the evidence files, published in `docs/schemas/` and embedded here.
//!
//! Each [`Schema`] names a file kind, the published file and its text; [`Schema::check`]
//! compiles it once (JSON Schema draft 2020-12, the `jsonschema` crate) and returns the first
//! violation as (JSON pointer into the instance, message). The schemas are the published
//! contract for tools reading evidence; the tests compile every one and check real evidence.

use serde_json::Value;
use std::sync::OnceLock;

/// One published schema.
#[derive(Debug)]
pub struct Schema {
    /// Short name used in reports (`phase-outcome`, ...).
    pub name: &'static str,
    /// Which evidence files it describes.
    pub describes: &'static str,
    /// Path of the published file, relative to the repository root.
    pub path: &'static str,
    /// The schema text.
    pub text: &'static str,
    compiled: OnceLock<Result<jsonschema::Validator, String>>,
}

macro_rules! schema {
    ($name:literal, $describes:literal) => {
        Schema {
            name: $name,
            describes: $describes,
            path: concat!("docs/schemas/", $name, ".schema.json"),
            text: include_str!(concat!("../../../docs/schemas/", $name, ".schema.json")),
            compiled: OnceLock::new(),
        }
    };
}

/// Every published schema.
pub static SCHEMAS: [Schema; 9] = [
    schema!("phase-outcome", "phase/phase.<Pxx>.json"),
    schema!("phase-deterministic", "phase/phase.<Pxx>.deterministic.json"),
    schema!("phase-pack", "phase/phase.<Pxx>.pack.json"),
    schema!("phase-constitutional", "phase/phase.<Pxx>.constitutional.json"),
    schema!("phase-verdict", "phase/phase.<Pxx>.verdict.json"),
    schema!("flow-start", "flow.start.json"),
    schema!("flow-summary", "flow.summary.json"),
    schema!("fsm-mirror", "fsm.json"),
    schema!("dsse-envelope", "phase/phase.<Pxx>.verdict.dsse.json, flow.dsse.json"),
];

/// The published schemas of the read commands' `--json` documents (`docs/schemas/cli-*`): one
/// per command, plus the error document any of them prints when it cannot produce its own. A
/// new read command (the pack listing) adds its `cli-<command>` schema here and prints through
/// the CLI's one JSON printer.
pub static OUTPUTS: [Schema; 10] = [
    schema!("cli-verify", "wfhost verify --json"),
    schema!("cli-replay", "wfhost replay --json"),
    schema!("cli-explain", "wfhost explain --json"),
    schema!("cli-doctor", "wfhost doctor --json"),
    schema!("cli-fsm-status", "wfhost fsm-status --json"),
    schema!("cli-sweep-status", "wfhost sweep-status --json"),
    schema!("cli-status", "wfhost status --json"),
    schema!("cli-task-status", "wfhost task status --id ID --json"),
    schema!("cli-task-list", "wfhost task list --json"),
    schema!("cli-error", "wfhost <read command> --json, when it fails"),
];

/// The schema of the `--json` document called `name` (`cli-status`, ...).
pub fn output(name: &str) -> Option<&'static Schema> {
    OUTPUTS.iter().find(|s| s.name == name)
}

/// The schema called `name`.
pub(crate) fn named(name: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.name == name)
}

impl Schema {
    fn validator(&self) -> Result<&jsonschema::Validator, String> {
        self.compiled
            .get_or_init(|| {
                let schema: Value = serde_json::from_str(self.text)
                    .map_err(|e| format!("schema {} is not JSON: {e}", self.path))?;
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .build(&schema)
                    .map_err(|e| format!("schema {} does not compile: {e}", self.path))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The first violation of this schema by `instance`: (JSON pointer, message). `Err` when
    /// the embedded schema itself is broken (a build problem).
    pub fn check(&self, instance: &Value) -> Result<Option<(String, String)>, String> {
        let validator = self.validator()?;
        Ok(validator.iter_errors(instance).next().map(|e| {
            let at = e.instance_path().to_string();
            (if at.is_empty() { "/".to_string() } else { at }, e.to_string())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_schema_compiles_and_rejects_an_empty_object() {
        for s in SCHEMAS.iter().chain(OUTPUTS.iter()) {
            let found = s.check(&json!({})).unwrap_or_else(|e| panic!("{e}"));
            assert!(found.is_some(), "{} accepts {{}}", s.name);
            let declared: Value = serde_json::from_str(s.text).unwrap();
            assert_eq!(declared["$schema"], "https://json-schema.org/draft/2020-12/schema", "{}", s.name);
        }
    }

    #[test]
    fn a_verdict_that_passes_with_a_failing_validator_is_rejected() {
        let s = named("phase-verdict").unwrap();
        let mut v = json!({
            "phase": "P30", "court": "pass", "deterministic": "pass", "constitutional": "pass",
            "code": 0, "halt_reason": null, "violated_laws": [], "next_command": null, "court_ms": 3,
            "evidence": {"outcome": "phase/phase.P30.json", "deterministic": "phase/phase.P30.deterministic.json",
                         "constitutional": "phase/phase.P30.constitutional.json"}
        });
        assert_eq!(s.check(&v).unwrap(), None);
        v["deterministic"] = json!("fail");
        let (at, msg) = s.check(&v).unwrap().expect("rejected");
        assert_eq!(at, "/deterministic", "{msg}");
        v["deterministic"] = json!("pass");
        v["extra"] = json!(1);
        assert!(s.check(&v).unwrap().is_some(), "unknown members are rejected");
    }
}
