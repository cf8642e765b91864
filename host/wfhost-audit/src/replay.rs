//! `wfhost replay`: rebuild what can be rebuilt from `events.jsonl` and compare byte for byte.
//!
//! The log is read once through `pass::accept`, the log-level acceptance `verify` applies
//! (hash chain, record rules, tail rule, a flow's log: records, flow.started first, nothing
//! after flow.summary); a log it refuses is never replayed and nothing is written, so a rebuilt
//! file can never launder a changed record, and replay accepts exactly the logs verify accepts
//! at the log level. (The court and order rules of the records are verify's.) In the same pass,
//! from the complete records:
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
//! missing, or not rebuilt (and why). With `write`, once the log is accepted, differing and
//! missing files are replaced atomically by the rebuilt bytes: the projections from the pass,
//! the phase files from a second read of just their records' lines, each checked to be the line
//! the first read accepted. Memory: the projections and one entry per rebuilt file, never the
//! log.

use super::diff::{context, first_byte_difference};
use super::verify::{FailureKind, VerifyFailure};
use crate::layout::{rel_phase_file, PhaseFile};
use super::{check_flow_dir, file_bytes, pass, pstr, EVENTS, FLOW_START, FSM, SUMMARY};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wfhost_evidence::hash::sha256_hex;
use wfhost_evidence::{Envelope, Tail};

/// Why a flow could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The path is not a flow's evidence directory.
    #[error("{0}")]
    NotAFlow(String),
    /// The log fails the log-level rules `verify` applies, so nothing is rebuilt from it.
    #[error("{0}; replay rebuilds only from a log that verifies, so nothing was compared or written (run `wfhost verify <flow_dir>` for the whole picture)")]
    Log(VerifyFailure),
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

/// One rebuilt file: its bytes (or why there are none), and for a phase file the line and
/// sha256 of the record that carries it.
struct Rebuilt {
    rel: String,
    bytes: Result<Vec<u8>, String>,
    record: Option<(u64, String)>,
}

/// Rebuild the projections of the flow in `flow_dir` from its log and compare them with the
/// files; with `write`, replace the files that differ or are missing.
pub fn replay(flow_dir: &Path, write: bool) -> Result<ReplayReport, ReplayError> {
    let flow_dir = check_flow_dir(flow_dir).map_err(ReplayError::NotAFlow)?;
    let mut start = crate::start::Projection::default();
    let mut summary = crate::summary::Projection::default();
    // The last fsm.transition record, and the status of the first outcome of its phase after it.
    let mut transition: Option<(Envelope, Option<String>)> = None;
    // Phase files, compared as their records are read; the bytes of those to write are not kept.
    let mut phase_files: Vec<(Rebuilt, ReplayOutcome)> = Vec::new();
    let log = pass::accept(&flow_dir, |record, line| {
        let e = record.envelope;
        start.push(&e);
        summary.push(&e);
        match e.event_type.as_str() {
            "fsm.transition" => transition = Some((e, None)),
            "phase.outcome" | "court.deterministic" | "court.auditor" | "court.verdict" => {
                if let Some((t, status @ None)) = &mut transition {
                    if e.event_type == "phase.outcome" && pstr(&e, "phase") == pstr(t, "phase") {
                        *status = Some(pstr(&e, "status").to_string());
                    }
                }
                let kind = match e.event_type.as_str() {
                    "phase.outcome" => PhaseFile::Outcome,
                    "court.deterministic" => PhaseFile::Deterministic,
                    "court.auditor" => PhaseFile::Constitutional,
                    _ => PhaseFile::Verdict,
                };
                let phase = pstr(&e, "phase");
                if wfhost_config::is_safe_segment(phase) {
                    let rebuilt = Rebuilt {
                        rel: rel_phase_file(phase, kind),
                        bytes: file_bytes(&e.payload).map_err(|e| e.to_string()),
                        record: Some((record.line, sha256_hex(line))),
                    };
                    let outcome = compare(&flow_dir, &rebuilt);
                    let keep = Rebuilt { bytes: rebuilt.bytes.map(|_| Vec::new()), ..rebuilt };
                    phase_files.push((keep, outcome));
                }
            }
            _ => {}
        }
        Ok(())
    })
    .map_err(ReplayError::Log)?;

    let mut rebuilt = Vec::new();
    // The flow's start (P00's artifact).
    match start.finish() {
        Some(value) if start.due() || flow_dir.join(FLOW_START).exists() => {
            rebuilt.push(Rebuilt { rel: FLOW_START.to_string(), bytes: file_bytes(&value).map_err(|e| e.to_string()), record: None });
        }
        _ => rebuilt.push(Rebuilt {
            rel: FLOW_START.to_string(),
            bytes: Err("P00 has no outcome in events.jsonl, so the flow has no start file yet".into()),
            record: None,
        }),
    }
    // The summary.
    let bytes = if log.finished {
        file_bytes(&summary.finish()).map_err(|e| e.to_string())
    } else {
        Err("the flow did not finish (events.jsonl has no flow.summary record), so it has no summary".into())
    };
    rebuilt.push(Rebuilt { rel: SUMMARY.to_string(), bytes, record: None });

    let mut files = Vec::new();
    for r in rebuilt {
        let outcome = compare(&flow_dir, &r);
        files.push(ReplayFile { outcome: settle(&flow_dir, &r, outcome, write)?, path: r.rel });
    }
    // Files that are the payload of a record, written from a second read of their lines.
    let to_write: BTreeMap<u64, (usize, String)> = phase_files
        .iter()
        .enumerate()
        .filter(|(_, (r, outcome))| write && r.bytes.is_ok() && *outcome != ReplayOutcome::Identical)
        .filter_map(|(i, (r, _))| r.record.clone().map(|(line, sha)| (line, (i, sha))))
        .collect();
    let mut written = write_phase_files(&flow_dir, &phase_files, &to_write)?;
    for (i, (r, outcome)) in phase_files.into_iter().enumerate() {
        let outcome = if written.remove(&i) { ReplayOutcome::Written } else { outcome };
        files.push(ReplayFile { path: r.rel, outcome });
    }
    // The FSM mirror.
    if let Some((t, status)) = &transition {
        let r = Rebuilt { rel: FSM.to_string(), bytes: fsm_mirror(&flow_dir, t, status.as_deref()), record: None };
        let outcome = compare(&flow_dir, &r);
        files.push(ReplayFile { outcome: settle(&flow_dir, &r, outcome, write)?, path: r.rel });
    }
    Ok(ReplayReport {
        flow_dir,
        records: log.chain.records,
        partial_tail: matches!(log.chain.tail, Tail::Partial { .. }),
        files,
    })
}

/// The file as found against the rebuilt bytes.
fn compare(flow_dir: &Path, r: &Rebuilt) -> ReplayOutcome {
    let want = match &r.bytes {
        Err(why) => return ReplayOutcome::NotRebuilt(why.clone()),
        Ok(want) => want,
    };
    match std::fs::read(flow_dir.join(&r.rel)) {
        Ok(have) => match first_byte_difference(&have, want) {
            None => ReplayOutcome::Identical,
            Some(at) => ReplayOutcome::Differs { offset: at as u64, found: context(&have, at), rebuilt: context(want, at) },
        },
        Err(_) => ReplayOutcome::Missing,
    }
}

/// With `write`, replace a file that differs or is missing by the rebuilt bytes.
fn settle(flow_dir: &Path, r: &Rebuilt, outcome: ReplayOutcome, write: bool) -> Result<ReplayOutcome, ReplayError> {
    match (&r.bytes, &outcome) {
        (Ok(want), ReplayOutcome::Differs { .. } | ReplayOutcome::Missing) if write => {
            write_file(flow_dir, &r.rel, want)?;
            Ok(ReplayOutcome::Written)
        }
        _ => Ok(outcome),
    }
}

fn write_file(flow_dir: &Path, rel: &str, bytes: &[u8]) -> Result<(), ReplayError> {
    let path = flow_dir.join(rel);
    let failed = |e: String| ReplayError::Write { path: rel.to_string(), message: e };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
    }
    wfhost_evidence::atomic::write_bytes(&path, bytes).map(|_| ()).map_err(|e| failed(e.to_string()))
}

/// Write the phase files at `lines` (line -> (index in `phase_files`, sha256 of the line the
/// first read accepted)) from a second read of the log: each line must be the one accepted,
/// or nothing more is written. Returns the indices written.
fn write_phase_files(
    flow_dir: &Path,
    phase_files: &[(Rebuilt, ReplayOutcome)],
    lines: &BTreeMap<u64, (usize, String)>,
) -> Result<std::collections::BTreeSet<usize>, ReplayError> {
    let mut written = std::collections::BTreeSet::new();
    let Some(&last) = lines.keys().next_back() else { return Ok(written) };
    let changed = |line: u64| {
        ReplayError::Log(VerifyFailure::new(FailureKind::Chain, EVENTS, format!(
            "line {line} changed while replay read the log; the files of the records before it were written"
        )))
    };
    let mut reader = wfhost_evidence::Reader::open(&flow_dir.join(EVENTS)).map_err(|e| ReplayError::Log(pass::chain_failure(e)))?;
    while let Some(record) = reader.next() {
        let record = record.map_err(|e| ReplayError::Log(pass::chain_failure(e)))?;
        if let Some((i, sha)) = lines.get(&record.line) {
            if sha256_hex(reader.line_bytes()) != *sha {
                return Err(changed(record.line));
            }
            let bytes = file_bytes(&record.envelope.payload).map_err(|e| ReplayError::Write { path: phase_files[*i].0.rel.clone(), message: e.to_string() })?;
            write_file(flow_dir, &phase_files[*i].0.rel, &bytes)?;
            written.insert(*i);
        }
        if record.line >= last {
            return Ok(written);
        }
    }
    Err(changed(last))
}

/// `fsm.json` as the engine writes it after the transition record `e`, whose phase's first
/// outcome after it has `status`; all of it from the record (logs written before `updated_at`
/// and `host` were recorded take those two from the existing file).
fn fsm_mirror(flow_dir: &Path, e: &Envelope, status: Option<&str>) -> Result<Vec<u8>, String> {
    let phase = pstr(e, "phase");
    let code = e.payload.get("code").cloned().unwrap_or(Value::Null);
    let status = status.map(str::to_string).unwrap_or_else(|| if code.as_u64() == Some(0) { "ok".into() } else { "fail".into() });
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
