//! The layout of a flow's evidence directory: every file name wfhost writes there, in one place.
//!
//! ```text
//! <evidence root>/<flow_id>/            FlowDir
//!   events.jsonl                        FlowDir::events      (the write truth)
//!   flow.start.json                     FlowDir::start       (P00's artifact, projection)
//!   flow.summary.json                   FlowDir::summary     (projection of the log)
//!   fsm.json                            FlowDir::fsm         (mirror of the last transition)
//!   signing.pub, flow.dsse.json         FlowDir::public_key, FlowDir::flow_envelope
//!   .space-reserve                      SPACE_RESERVE        (while the flow runs; not evidence)
//!   phase/phase.<Pxx><suffix>.json      FlowDir::phase_file(id, PhaseFile)
//! ```
//!
//! The engine writes through these names, `verify`/`replay`/`explain` read through them and the
//! external auditor's input and output files are named here too, so a file name changes in one
//! place. Writes are atomic canonical JSON ([`write_json`]).

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The hash-chained event log.
pub const EVENTS: &str = "events.jsonl";
/// The flow summary, a projection of the log.
pub const SUMMARY: &str = "flow.summary.json";
/// P00's artifact: the flow's start (flow.started and P00's header), a projection of the log.
pub const FLOW_START: &str = "flow.start.json";
/// The local mirror of the remote FSM state file.
pub const FSM: &str = "fsm.json";
/// The directory of the per-phase files.
pub const PHASE_DIR: &str = "phase";
/// The signer's public key (signed flows).
pub const PUBLIC_KEY: &str = "signing.pub";
/// The DSSE envelope over the finished flow (signed flows).
pub const FLOW_ENVELOPE: &str = "flow.dsse.json";
/// Space the engine holds while a flow runs and gives back when a write fails or the flow
/// ends, so that a full disk can still be recorded (the failure, the halt, the summary).
/// Not evidence; a flow killed while running leaves it behind.
pub const SPACE_RESERVE: &str = ".space-reserve";

/// The kinds of per-phase files, by the suffix after `phase.<Pxx>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PhaseFile {
    /// `phase.<Pxx>.json`: the phase's outcome.
    Outcome,
    /// `.deterministic.json`: the deterministic validator's checks.
    Deterministic,
    /// `.pack.json`: the evidence pack the auditors judged.
    Pack,
    /// `.constitutional.json`: the auditors' verdicts.
    Constitutional,
    /// `.verdict.json`: the court's decision.
    Verdict,
    /// `.external-input.json`: what the external auditor command was given.
    ExternalInput,
    /// `.external-verdict.json`: what the external auditor command wrote.
    ExternalVerdict,
    /// `.verdict.dsse.json`: the signature over the verdict (signed flows).
    VerdictEnvelope,
}

impl PhaseFile {
    /// Every kind, in the order a phase writes them.
    pub const ALL: [PhaseFile; 8] = [
        PhaseFile::Outcome,
        PhaseFile::Deterministic,
        PhaseFile::Pack,
        PhaseFile::ExternalInput,
        PhaseFile::ExternalVerdict,
        PhaseFile::Constitutional,
        PhaseFile::Verdict,
        PhaseFile::VerdictEnvelope,
    ];

    /// The file name's suffix after `phase.<Pxx>`, before `.json`.
    pub fn suffix(self) -> &'static str {
        match self {
            PhaseFile::Outcome => "",
            PhaseFile::Deterministic => ".deterministic",
            PhaseFile::Pack => ".pack",
            PhaseFile::Constitutional => ".constitutional",
            PhaseFile::Verdict => ".verdict",
            PhaseFile::ExternalInput => ".external-input",
            PhaseFile::ExternalVerdict => ".external-verdict",
            PhaseFile::VerdictEnvelope => ".verdict.dsse",
        }
    }

    /// The phase id and kind of a file name in `phase/` (no directory), if wfhost writes it.
    pub fn parse(name: &str) -> Option<(String, PhaseFile)> {
        let rest = name.strip_prefix("phase.")?.strip_suffix(".json")?;
        let (id, kind) = rest.split_once('.').unwrap_or((rest, ""));
        if !is_phase_id(id) {
            return None;
        }
        let kind = PhaseFile::ALL.into_iter().find(|k| k.suffix().strip_prefix('.').unwrap_or("") == kind)?;
        Some((id.to_string(), kind))
    }
}

/// `Pnn`: a `P` and two digits.
pub fn is_phase_id(id: &str) -> bool {
    id.len() == 3 && id.starts_with('P') && id[1..].bytes().all(|b| b.is_ascii_digit())
}

/// `phase/phase.<id><suffix>.json`, relative to the flow directory.
pub fn rel_phase_file(id: &str, kind: PhaseFile) -> String {
    format!("{PHASE_DIR}/phase.{id}{}.json", kind.suffix())
}

/// A flow's evidence directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowDir {
    root: PathBuf,
}

impl FlowDir {
    /// The flow directory at `root` (nothing is created or checked).
    pub fn new(root: impl Into<PathBuf>) -> FlowDir {
        FlowDir { root: root.into() }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A file of the flow by its path relative to the directory.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// `events.jsonl`.
    pub fn events(&self) -> PathBuf {
        self.root.join(EVENTS)
    }

    /// `flow.start.json`.
    pub fn start(&self) -> PathBuf {
        self.root.join(FLOW_START)
    }

    /// `flow.summary.json`.
    pub fn summary(&self) -> PathBuf {
        self.root.join(SUMMARY)
    }

    /// `fsm.json`.
    pub fn fsm(&self) -> PathBuf {
        self.root.join(FSM)
    }

    /// `phase/`.
    pub fn phase_dir(&self) -> PathBuf {
        self.root.join(PHASE_DIR)
    }

    /// `signing.pub`.
    pub fn public_key(&self) -> PathBuf {
        self.root.join(PUBLIC_KEY)
    }

    /// `flow.dsse.json`.
    pub fn flow_envelope(&self) -> PathBuf {
        self.root.join(FLOW_ENVELOPE)
    }

    /// `phase/phase.<id><suffix>.json`.
    pub fn phase_file(&self, id: &str, kind: PhaseFile) -> PathBuf {
        self.root.join(rel_phase_file(id, kind))
    }
}

/// Write a JSON evidence file atomically (canonical bytes and one `\n`), creating its parent
/// directory; returns its sha256.
pub fn write_json(path: &Path, value: &Value) -> std::io::Result<String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    wfhost_evidence::atomic::write_json(path, value).map_err(std::io::Error::other)
}

/// Read a JSON file back.
pub fn read_json(path: &Path) -> std::io::Result<Value> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_file_names_round_trip() {
        for kind in PhaseFile::ALL {
            let rel = rel_phase_file("P30", kind);
            let name = rel.strip_prefix("phase/").unwrap();
            assert_eq!(PhaseFile::parse(name), Some(("P30".to_string(), kind)), "{rel}");
        }
        assert_eq!(rel_phase_file("P30", PhaseFile::Outcome), "phase/phase.P30.json");
        assert_eq!(rel_phase_file("P30", PhaseFile::VerdictEnvelope), "phase/phase.P30.verdict.dsse.json");
        for bad in ["phase.P3.json", "phase.X30.json", "phase.P30.other.json", "phase.P300.json", "P30.json"] {
            assert_eq!(PhaseFile::parse(bad), None, "{bad}");
        }
    }
}
