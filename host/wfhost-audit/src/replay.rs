//! `wfhost replay`: rebuild what can be rebuilt from `events.jsonl` and compare byte for byte.
//!
//! The log is verified first (hash chain and record rules); a log that fails is never replayed,
//! so a rebuilt file can never launder a changed record. Then, from the complete records:
//!
//! - `flow.summary.json` = `summary::project(records)` (only when the flow finished: the engine
//!   writes the summary after its `flow.summary` record);
//! - `phase/phase.<Pxx>.json`, `.deterministic.json`, `.constitutional.json`, `.verdict.json` =
//!   the payload of their `phase.outcome`, `court.deterministic`, `court.auditor` and
//!   `court.verdict` records;
//! - `fsm.json` from the last `fsm.transition` record (state, previous state, phase, reason,
//!   flow id); `updated_at` and `host` are not in the log, so they are taken from the file.
//!
//! Each file is reported identical, different (first differing byte and a short context),
//! missing, or not rebuilt (and why). With `write`, differing and missing files are replaced
//! atomically by the rebuilt bytes.

use super::diff::{context, first_byte_difference};
use crate::layout::{rel_phase_file, PhaseFile};
use super::{check_flow_dir, file_bytes, pstr, Log, EVENTS, FLOW_START, FSM, SUMMARY};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use wfhost_evidence::Tail;

/// Why a flow could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The path is not a flow's evidence directory.
    #[error("{0}")]
    NotAFlow(String),
    /// The log fails verification, so nothing is rebuilt from it.
    #[error("{0}; replay rebuilds only from a log that verifies, so nothing was compared or written (run `wfhost verify` for the whole picture)")]
    Log(#[from] wfhost_evidence::VerifyError),
    /// A rebuilt file could not be written.
    #[error("cannot write {path}: {message}; check the directory's permissions and free space")]
    Write {
        /// The file, relative to the flow directory.
        path: String,
        /// Why.
        message: String,
    },
}

/// What replay found for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// The file holds exactly the rebuilt bytes.
    Identical,
    /// The file differs from the rebuilt bytes.
    Differs {
        /// First differing byte offset.
        offset: u64,
        /// The file's bytes around it.
        found: String,
        /// The rebuilt bytes around it.
        rebuilt: String,
    },
    /// The file is absent.
    Missing,
    /// The file was replaced by (or created with) the rebuilt bytes (`write`).
    Written,
    /// Nothing was rebuilt for this file; the reason is given.
    NotRebuilt(String),
}

/// One file's replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFile {
    /// Path relative to the flow directory.
    pub path: String,
    /// What was found.
    pub outcome: ReplayOutcome,
}

/// The result of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// The flow directory.
    pub flow_dir: PathBuf,
    /// Complete records replayed.
    pub records: u64,
    /// Whether a crash's partial last line follows them (it is not replayed).
    pub partial_tail: bool,
    /// Every file considered, summary first.
    pub files: Vec<ReplayFile>,
}

impl ReplayReport {
    /// Whether every rebuilt file now matches the evidence (identical, or written).
    pub fn identical(&self) -> bool {
        self.files.iter().all(|f| matches!(f.outcome, ReplayOutcome::Identical | ReplayOutcome::Written | ReplayOutcome::NotRebuilt(_)))
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = format!("replayed {} record(s) of {}\n", self.records, self.flow_dir.display());
        if self.partial_tail {
            out.push_str("events.jsonl ends in a crash's partial line; it is not replayed\n");
        }
        for f in &self.files {
            let line = match &f.outcome {
                ReplayOutcome::Identical => "identical".to_string(),
                ReplayOutcome::Differs { offset, found, rebuilt } => {
                    format!("DIFFERS at byte {offset}: the file has {found}, rebuilt from the log: {rebuilt}")
                }
                ReplayOutcome::Missing => "MISSING".to_string(),
                ReplayOutcome::Written => "written from the log".to_string(),
                ReplayOutcome::NotRebuilt(why) => format!("not rebuilt: {why}"),
            };
            out.push_str(&format!("{}: {line}\n", f.path));
        }
        let (same, other) = self.files.iter().fold((0, 0), |(s, o), f| match f.outcome {
            ReplayOutcome::Identical => (s + 1, o),
            ReplayOutcome::Differs { .. } | ReplayOutcome::Missing => (s, o + 1),
            _ => (s, o),
        });
        out.push_str(&format!("{same} identical, {other} different or missing\n"));
        out
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "flow_dir": self.flow_dir.display().to_string(),
            "records": self.records,
            "partial_tail": self.partial_tail,
            "identical": self.identical(),
            "files": self.files.iter().map(|f| {
                let (state, detail) = match &f.outcome {
                    ReplayOutcome::Identical => ("identical", Value::Null),
                    ReplayOutcome::Differs { offset, found, rebuilt } => ("differs", json!({"offset": offset, "found": found, "rebuilt": rebuilt})),
                    ReplayOutcome::Missing => ("missing", Value::Null),
                    ReplayOutcome::Written => ("written", Value::Null),
                    ReplayOutcome::NotRebuilt(why) => ("not_rebuilt", json!(why)),
                };
                json!({"path": f.path, "state": state, "detail": detail})
            }).collect::<Vec<_>>(),
        })
    }
}

/// Rebuild the projections of the flow in `flow_dir` from its log and compare them with the
/// files; with `write`, replace the files that differ or are missing.
pub fn replay(flow_dir: &Path, write: bool) -> Result<ReplayReport, ReplayError> {
    let flow_dir = check_flow_dir(flow_dir).map_err(ReplayError::NotAFlow)?;
    let chain = wfhost_evidence::verify(&flow_dir.join(EVENTS))?;
    let log = Log::read(&flow_dir)?;
    let mut rebuilt: Vec<(String, Result<Vec<u8>, String>)> = Vec::new();

    // The flow's start (P00's artifact).
    match crate::start::project(&log.values) {
        Some(start) if crate::start::due(&log.values) || flow_dir.join(FLOW_START).exists() => rebuilt.push((FLOW_START.to_string(), file_bytes(&start).map_err(|e| e.to_string()))),
        _ => rebuilt.push((FLOW_START.to_string(), Err("P00 has no outcome in events.jsonl, so the flow has no start file yet".into()))),
    }

    // The summary.
    if log.finished() {
        let bytes = file_bytes(&crate::summary::project(&log.values)).map_err(|e| e.to_string());
        rebuilt.push((SUMMARY.to_string(), bytes));
    } else {
        rebuilt.push((SUMMARY.to_string(), Err("the flow did not finish (events.jsonl has no flow.summary record), so it has no summary".into())));
    }

    // Files that are the payload of a record.
    for e in &log.events {
        let kind = match e.event_type.as_str() {
            "phase.outcome" => PhaseFile::Outcome,
            "court.deterministic" => PhaseFile::Deterministic,
            "court.auditor" => PhaseFile::Constitutional,
            "court.verdict" => PhaseFile::Verdict,
            _ => continue,
        };
        let phase = pstr(e, "phase");
        if !wfhost_config::is_safe_segment(phase) {
            continue;
        }
        rebuilt.push((rel_phase_file(phase, kind), file_bytes(&e.payload).map_err(|e| e.to_string())));
    }

    // The FSM mirror.
    if let Some(t) = log.events.iter().rposition(|e| e.event_type == "fsm.transition") {
        rebuilt.push((FSM.to_string(), fsm_mirror(&flow_dir, &log, t)));
    }

    let mut files = Vec::new();
    for (rel, bytes) in rebuilt {
        let path = flow_dir.join(&rel);
        let want = match bytes {
            Err(why) => {
                files.push(ReplayFile { path: rel, outcome: ReplayOutcome::NotRebuilt(why) });
                continue;
            }
            Ok(want) => want,
        };
        let outcome = match std::fs::read(&path) {
            Ok(have) => match first_byte_difference(&have, &want) {
                None => ReplayOutcome::Identical,
                Some(at) => ReplayOutcome::Differs { offset: at as u64, found: context(&have, at), rebuilt: context(&want, at) },
            },
            Err(_) => ReplayOutcome::Missing,
        };
        let outcome = if write && outcome != ReplayOutcome::Identical {
            let failed = |e: String| ReplayError::Write { path: rel.clone(), message: e };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
            }
            wfhost_evidence::atomic::write_bytes(&path, &want).map_err(|e| failed(e.to_string()))?;
            ReplayOutcome::Written
        } else {
            outcome
        };
        files.push(ReplayFile { path: rel, outcome });
    }
    Ok(ReplayReport {
        flow_dir,
        records: chain.records,
        partial_tail: matches!(log.tail, Tail::Partial { .. }),
        files,
    })
}

/// `fsm.json` as the engine writes it after the transition record `t`, all of it from the
/// record (logs written before `updated_at` and `host` were recorded take those two from the
/// existing file).
fn fsm_mirror(flow_dir: &Path, log: &Log, t: usize) -> Result<Vec<u8>, String> {
    let e = &log.events[t];
    let phase = pstr(e, "phase");
    let code = e.payload.get("code").cloned().unwrap_or(Value::Null);
    let status = log
        .events
        .iter()
        .skip(t)
        .find(|o| o.event_type == "phase.outcome" && pstr(o, "phase") == phase)
        .map(|o| pstr(o, "status").to_string())
        .unwrap_or_else(|| if code.as_u64() == Some(0) { "ok".into() } else { "fail".into() });
    // Flows record updated_at and host in the transition; older logs did not, and for them the
    // values are carried over from the existing file.
    let existing: Option<Value> = std::fs::read(flow_dir.join(FSM)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let carried = |key: &str| {
        e.payload
            .get(key)
            .filter(|v| v.is_string())
            .or_else(|| existing.as_ref().and_then(|v| v.get(key)).filter(|v| v.is_string()))
            .cloned()
    };
    let (Some(updated_at), Some(host)) = (carried("updated_at"), carried("host")) else {
        return Err(format!(
            "updated_at and host are not recorded in events.jsonl and {FSM} does not hold them, so it cannot be rebuilt byte for byte"
        ));
    };
    let state = json!({
        "state": pstr(e, "to"),
        "previous_state": pstr(e, "from"),
        "reason": format!("{phase} {status} code {code}"),
        "updated_at": updated_at,
        "host": host,
        "flow_id": e.correlation_id,
        "phase": phase,
    });
    file_bytes(&state).map_err(|e| e.to_string())
}
