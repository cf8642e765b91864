//! `wfhost verify`: re-check a flow's evidence from its files alone.
//!
//! Data flow: one pass over `events.jsonl` (`pass::accept`, shared with `replay`), which
//! hands each record to the walk and the file checks; then what needs the whole log. Memory is
//! bounded by a constant plus what the phase table bounds (the records of the phase being
//! checked, a mark per phase): the log is never held. Each step stops at the first problem:
//!
//! 1. `events.jsonl` through [`wfhost_evidence::Verifier`]: line format, envelope, event rules,
//!    IDs, the hash chain; a crash's partial last line is reported, not fatal. The log-level
//!    rules: at least one complete record, the first `flow.started`, nothing after
//!    `flow.summary` (no record, no partial line), no `flow.summary.json` without its record.
//! 2. A walk over the records ([`Walk`]): phases run in the
//!    order of the command's phase list and of the constitution's table; each phase records
//!    outcome → deterministic → auditor → verdict; the verdict's court is deterministic pass
//!    AND constitutional pass with the code the court rules give; the flow stops at its first
//!    failing verdict; capabilities are granted before use, used in scope and unexpired;
//!    provisioning has a consent before it; receipts match a call; the summary record agrees
//!    with what came before.
//! 3. Every file of the directory (a phase's files as soon as its verdict is in): known names only; each parses, is canonical JSON plus one
//!    newline, meets its published schema (docs/schemas); outcome, deterministic, auditor and
//!    verdict files are byte-identical to the payload of the record that carries them; the pack
//!    and `fsm.json` are cross-checked member by member against the records.
//! 4. `flow.summary.json` is byte-identical to `summary::project` of the records.
//! 5. When the log has a `signing` header, the signed evidence (`signatures`): `signing.pub` is
//!    the header's key (and the key given with [`VerifyOptions::key`], when one is), every
//!    verdict file has a verifying envelope, and a finished flow has `flow.dsse.json`; each
//!    envelope's signature, payload type, predicate type, subjects' sha256 and predicate hold.
//!    Without a signing header, signature files are unexpected.
//!
//! The first failure names the file, the line (for the log) and the member, and says what is
//! wrong. Departures from constitution/ops.md that the engine is known to make and that do not
//! put the record in doubt are reported as warnings.

use super::files::Files;
use super::signatures::{self, ExpectFold, SigningReport};
use super::walk::Walk;
use super::{check_flow_dir, pass, EVENTS};
use serde_json::{json, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use wfhost_constitution::Constitution;
use wfhost_evidence::dsse::PublicKey;
use wfhost_evidence::{Envelope, Tail};

/// What kind of problem stopped verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The path is not a flow's evidence directory (a usage error).
    NotAFlow,
    /// A file could not be read.
    Unreadable,
    /// `events.jsonl` fails the log rules (hash chain, envelope, line format).
    Chain,
    /// A file is not JSON, or not canonical JSON followed by one newline.
    Format,
    /// A file does not meet its published schema.
    Schema,
    /// A file differs from what the records say it holds.
    Mismatch,
    /// A file the records say was written is absent.
    Missing,
    /// A file that no record accounts for.
    Unexpected,
    /// The records break the phase order or the court's rules.
    Order,
    /// The records break the capability, consent or receipt rules.
    Capability,
    /// `flow.summary.json` is not the projection of the records.
    Projection,
    /// A signature does not hold: a signed file changed, an envelope does not verify, or the
    /// flow was signed by another key than the one given.
    Signature,
    /// The embedded constitution or a schema is broken (a build problem).
    Internal,
    /// `events.jsonl` holds no complete record, so the directory holds no flow to verify.
    NoRecords,
}

impl FailureKind {
    /// Lower-case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NotAFlow => "not_a_flow",
            FailureKind::Unreadable => "unreadable",
            FailureKind::Chain => "chain",
            FailureKind::Format => "format",
            FailureKind::Schema => "schema",
            FailureKind::Mismatch => "mismatch",
            FailureKind::Missing => "missing",
            FailureKind::Unexpected => "unexpected",
            FailureKind::Order => "order",
            FailureKind::Capability => "capability",
            FailureKind::Projection => "projection",
            FailureKind::Signature => "signature",
            FailureKind::Internal => "internal",
            FailureKind::NoRecords => "no_records",
        }
    }
}

/// The first problem verification found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.located())]
pub struct VerifyFailure {
    /// What kind of problem.
    pub kind: FailureKind,
    /// The file, relative to the flow directory (`events.jsonl`, `phase/phase.P30.json`).
    pub file: String,
    /// 1-based line of `events.jsonl` (the record at fault), when the problem is in the log or
    /// involves one of its records.
    pub line: Option<u64>,
    /// The member at fault: an envelope member, `payload.<x>`, or a JSON pointer into the file.
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl VerifyFailure {
    pub(super) fn new(kind: FailureKind, file: &str, problem: impl Into<String>) -> VerifyFailure {
        VerifyFailure { kind, file: file.to_string(), line: None, field: None, problem: problem.into() }
    }

    pub(super) fn record(kind: FailureKind, e: &Envelope, field: &str, problem: impl Into<String>) -> VerifyFailure {
        VerifyFailure::at_line(kind, e.seq + 1, field, problem)
    }

    /// A problem with the record at 1-based `line` of the log.
    pub(super) fn at_line(kind: FailureKind, line: u64, field: &str, problem: impl Into<String>) -> VerifyFailure {
        VerifyFailure {
            kind,
            file: EVENTS.to_string(),
            line: Some(line),
            field: Some(field.to_string()),
            problem: problem.into(),
        }
    }

    pub(super) fn field(mut self, field: impl Into<String>) -> VerifyFailure {
        self.field = Some(field.into());
        self
    }

    fn located(&self) -> String {
        let mut s = self.file.clone();
        if let Some(line) = self.line {
            if self.file == EVENTS {
                s.push_str(&format!(":{line}"));
            }
        }
        if let Some(f) = &self.field {
            s.push_str(&format!(": {f}"));
        }
        format!("{s}: {}", self.problem)
    }

    /// What to do about it.
    pub fn next_step(&self) -> &'static str {
        match self.kind {
            FailureKind::NotAFlow => "pass a flow's evidence directory (the directory the PHASE lines' paths are in)",
            FailureKind::Internal => "this wfhost build is broken; reinstall it",
            FailureKind::NoRecords => {
                "pass the evidence directory of a flow that recorded its start (the directory the PHASE lines' paths are \
                 in); a flow killed before its first record left nothing to verify: run it again"
            }
            FailureKind::Signature => {
                "the signed evidence does not hold (a file changed after it was signed, an envelope does not verify, or \
                 the flow is not signed by the key given): keep the directory as it is, and check that --key names the \
                 .pub of the key WF_SIGNING_KEY names"
            }
            FailureKind::Order | FailureKind::Capability => {
                "the log's hash chain is intact but it records something the flow engine must never do: keep the \
                 directory as it is and report it"
            }
            _ => {
                "the evidence was changed or damaged after it was written: keep the directory as it is for \
                 inspection; `wfhost replay <flow_dir>` shows which rebuilt files differ"
            }
        }
    }

    /// The failure as JSON (for `wfhost verify --json`).
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind.as_str(),
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "problem": self.problem,
            "next_step": self.next_step(),
        })
    }
}

/// One phase as the records tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseLine {
    /// Phase id.
    pub phase: String,
    /// Outcome status (`ok`, `skip`, `fail`), if recorded.
    pub status: Option<String>,
    /// Outcome code, if recorded.
    pub code: Option<u64>,
    /// The court's verdict (`pass`, `fail`), if recorded.
    pub court: Option<String>,
}

/// One file verification checked, and against what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFile {
    /// Path relative to the flow directory.
    pub path: String,
    /// What was checked (schema, record it equals, cross-checks, what is not anchored).
    pub checks: String,
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    /// The flow directory.
    pub flow_dir: PathBuf,
    /// The flow id (empty for a log without records).
    pub flow_id: String,
    /// Complete records in `events.jsonl`.
    pub records: u64,
    /// record_hash of the last complete record.
    pub last_record_hash: String,
    /// What follows the last complete record (a crash's partial line, or nothing).
    pub tail: Tail,
    /// Whether the flow finished (its log holds the `flow.summary` record).
    pub finished: bool,
    /// The flow's verdict (`pass`, `halted`) when it finished.
    pub verdict: Option<String>,
    /// The phases, in the order they ran.
    pub phases: Vec<PhaseLine>,
    /// Every file checked besides `events.jsonl`.
    pub files: Vec<CheckedFile>,
    /// Departures from constitution/ops.md that do not put the record in doubt, and leftovers
    /// (temporary files of an interrupted write, fetched files changed since).
    pub warnings: Vec<String>,
    /// The signatures checked, when the flow is signed.
    pub signing: Option<SigningReport>,
    /// Evidence files the flow could not write (its `evidence.write_failed` records): a failed
    /// write, which halted the flow, not a change made afterwards.
    pub write_failures: Vec<WriteFailure>,
}

/// An evidence file the flow could not write, as its log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFailure {
    /// The file, relative to the flow directory.
    pub file: String,
    /// The error the write met.
    pub error: String,
    /// 1-based line of `events.jsonl` that records it.
    pub line: u64,
}

/// How to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The public key the flow must be signed by (`wfhost verify --key`). With a key, an
    /// unsigned flow or a flow signed by another key fails; without one, a signed flow is
    /// checked against its own `signing.pub` and the report warns that the key is not pinned.
    pub key: Option<PublicKey>,
}

impl VerifyReport {
    /// The report as text for people.
    pub fn render(&self) -> String {
        let mut out = format!("verified: {}\n", self.flow_dir.display());
        let judged = self.phases.iter().filter(|p| p.court.is_some()).count();
        let state = match (&self.verdict, self.finished) {
            (Some(v), true) => format!("finished, verdict {v}, {judged} phase(s) judged"),
            _ => format!(
                "NOT FINISHED: the log ends before the flow.summary record ({judged} phase(s) judged{})",
                self.phases.last().filter(|p| p.court.is_none()).map(|p| format!(", {} in progress", p.phase)).unwrap_or_default()
            ),
        };
        out.push_str(&format!("flow {}: {state}\n", if self.flow_id.is_empty() { "(no records)" } else { &self.flow_id }));
        out.push_str(&format!(
            "events.jsonl: {} record(s), hash chain intact, last record_hash {}\n",
            self.records, self.last_record_hash
        ));
        if let Tail::Partial { line, offset, len, .. } = &self.tail {
            out.push_str(&format!(
                "events.jsonl: partial line {line} ({len} byte(s) at offset {offset}): a crash's unfinished append, not counted\n"
            ));
        }
        out.push_str(&format!(
            "files: {} checked (canonical JSON, published schema, and the records that carry or imply them)\n",
            self.files.len()
        ));
        match &self.signing {
            Some(s) => out.push_str(&format!(
                "signatures: {} envelope(s) verified, signed by ed25519:{} ({})\n",
                s.envelopes,
                s.key_id,
                if s.pinned { "the key given with --key" } else { "key from signing.pub, not pinned" }
            )),
            None => out.push_str("signatures: none (the flow is not signed)\n"),
        }
        for f in &self.write_failures {
            out.push_str(&format!(
                "write failed: the flow could not write {} ({}; disk full or not writable?), recorded at events.jsonl line {}: \
                 the file was never written, it was not changed afterwards; the flow halted with the internal-error status\n",
                f.file, f.error, f.line
            ));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }

    /// The report as JSON (for `wfhost verify --json`).
    pub fn to_json(&self) -> Value {
        json!({
            "ok": true,
            "flow_dir": self.flow_dir.display().to_string(),
            "flow_id": self.flow_id,
            "records": self.records,
            "last_record_hash": self.last_record_hash,
            "tail": match &self.tail {
                Tail::Clean => json!(null),
                Tail::Partial { line, offset, len, sha256 } => json!({"line": line, "offset": offset, "len": len, "sha256": sha256}),
            },
            "finished": self.finished,
            "verdict": self.verdict,
            "phases": self.phases.iter().map(|p| json!({"phase": p.phase, "status": p.status, "code": p.code, "court": p.court})).collect::<Vec<_>>(),
            "files": self.files.iter().map(|f| json!({"path": f.path, "checks": f.checks})).collect::<Vec<_>>(),
            "warnings": self.warnings,
            "signing": self.signing.as_ref().map(|s| json!({"key_id": s.key_id, "pinned": s.pinned, "envelopes": s.envelopes})),
            "write_failures": self.write_failures.iter().map(|f| json!({"file": f.file, "error": f.error, "line": f.line})).collect::<Vec<_>>(),
        })
    }
}

/// Verify the evidence of the flow in `flow_dir` from its files alone (module doc), with no
/// pinned key.
pub fn verify(flow_dir: &Path) -> Result<VerifyReport, VerifyFailure> {
    verify_with(flow_dir, &VerifyOptions::default())
}

/// Verify the evidence of the flow in `flow_dir` from its files alone (module doc), as
/// `options` say.
pub fn verify_with(flow_dir: &Path, options: &VerifyOptions) -> Result<VerifyReport, VerifyFailure> {
    let flow_dir = check_flow_dir(flow_dir).map_err(|m| VerifyFailure::new(FailureKind::NotAFlow, ".", m))?;
    let c = Constitution::get().map_err(|e| VerifyFailure::new(FailureKind::Internal, ".", e.to_string()))?;
    let mut walk = Walk::new(c);
    let mut files = Files::new(&flow_dir);
    let mut expect = ExpectFold::default();
    let log = pass::accept(&flow_dir, |record, _| {
        let e = record.envelope;
        files.fold(&e);
        expect.push(&e);
        walk.step(e)?;
        if let Some(judged) = walk.take_judged() {
            files.check_phase(&walk, &judged, None);
        }
        Ok(())
    })?;
    walk.finish(&flow_dir)?;
    if let Some(running) = walk.running() {
        files.check_phase(&walk, running, Some(log.finished));
    }
    files.finish(&walk, log.finished)?;
    let (mut checked, file_warnings) = files.into_findings();
    let mut warnings: Vec<String> = walk.warnings.iter().cloned().collect();
    warnings.extend(file_warnings);
    let expect = expect.finish(&log.flow_id, log.chain.records);
    let signed = signatures::check(&flow_dir, &expect, options.key.as_ref())?;
    checked.extend(signed.checked);
    warnings.extend(signed.warnings);
    Ok(VerifyReport {
        flow_dir,
        flow_id: log.flow_id,
        records: log.chain.records,
        last_record_hash: log.chain.last_record_hash,
        tail: log.chain.tail,
        finished: log.finished,
        verdict: walk.summary.as_ref().map(|(_, verdict)| verdict.clone()),
        phases: walk
            .phases
            .iter()
            .map(|p| PhaseLine { phase: p.id.clone(), status: p.status.clone(), code: p.code, court: p.court.clone() })
            .collect(),
        files: checked,
        warnings,
        signing: signed.report,
        write_failures: walk
            .write_failures
            .iter()
            .map(|(line, f)| WriteFailure { file: f.file.clone(), error: f.error.clone(), line: *line })
            .collect(),
    })
}

impl VerifyFailure {
    pub(super) fn with_line(mut self, line: u64) -> VerifyFailure {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
