//! The one pass over a flow's `events.jsonl` that `verify` and `replay` share, and the
//! log-level rules that decide whether a log is a flow's log at all ([`accept`]).
//!
//! ```text
//! events.jsonl ─► wfhost_evidence::Verifier (line format, envelope, rules, IDs, hash chain,
//!                 │                          tail rule; one line in memory at a time)
//!                 ├─► LogRules::record: starts with flow.started, one flow.started, nothing
//!                 │                      after flow.summary
//!                 └─► visit(record): the caller's own fold (verify's walk, replay's projections)
//! end of the log ─► LogRules::end: at least one complete record; no partial line after
//!                   flow.summary; a flow.summary.json only with a flow.summary record
//! ```
//!
//! The first failure wins in this order: a chain failure anywhere in the log; then the first
//! record a log rule or the visitor refuses (by line); then the end rules. A log `accept`
//! refuses is refused by `verify` and `replay` alike, with the same words; `explain` tells what
//! such a log says but marks it as not verifying. Memory: what the visitor keeps, plus a
//! constant.

use super::verify::{FailureKind, VerifyFailure};
use super::{EVENTS, SUMMARY};
use std::path::Path;
use wfhost_evidence::{Envelope, Record, Tail, VerifyError, VerifyReport};

/// What an accepted log holds.
#[derive(Debug, Clone)]
pub(crate) struct Accepted {
    /// The chain's report (records, last record hash, tail).
    pub(crate) chain: VerifyReport,
    /// The flow id (correlation id of every record).
    pub(crate) flow_id: String,
    /// Whether the log holds the `flow.summary` record.
    pub(crate) finished: bool,
}

/// The log-level rules, record by record.
#[derive(Debug, Default)]
struct LogRules {
    records: u64,
    summary: bool,
    flow_id: Option<String>,
}

impl LogRules {
    fn record(&mut self, e: &Envelope) -> Result<(), VerifyFailure> {
        let first = self.records == 0;
        self.records += 1;
        if first {
            self.flow_id = Some(e.correlation_id.clone());
            if e.event_type != "flow.started" {
                return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", format!(
                    "a flow's log starts with flow.started, this one with {}", e.event_type
                )));
            }
        }
        if self.summary {
            return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", format!(
                "{} comes after the flow.summary record, which is always the last", e.event_type
            )));
        }
        if !first && e.event_type == "flow.started" {
            return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", "a second flow.started record"));
        }
        if e.event_type == "flow.summary" {
            self.summary = true;
        }
        Ok(())
    }

    fn end(&self, flow_dir: &Path, chain: &VerifyReport) -> Result<(), VerifyFailure> {
        if chain.records == 0 {
            return Err(no_records(flow_dir, &chain.tail));
        }
        if self.summary && matches!(chain.tail, Tail::Partial { .. }) {
            return Err(VerifyFailure::new(
                FailureKind::Chain,
                EVENTS,
                "a partial line follows the flow.summary record, but nothing is ever appended after a flow's summary",
            ));
        }
        if !self.summary && flow_dir.join(SUMMARY).exists() {
            let anchor = std::fs::read(flow_dir.join(SUMMARY)).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let said = anchor
                .map(|v| format!(
                    " (it anchors {} record(s) ending in record_hash {})",
                    v.get("events").cloned().unwrap_or_default(),
                    v.get("last_record_hash").cloned().unwrap_or_default()
                ))
                .unwrap_or_default();
            return Err(VerifyFailure::new(FailureKind::Projection, SUMMARY, format!(
                "the summary exists, but events.jsonl ({} record(s)) has no flow.summary record{said}: records were cut off the end of the log",
                chain.records
            )));
        }
        Ok(())
    }
}

/// A log without a complete record: what was found, and what a flow's directory holds.
pub(crate) fn no_records(flow_dir: &Path, tail: &Tail) -> VerifyFailure {
    let found = match tail {
        Tail::Partial { len, .. } => format!("holds no complete record, only an unterminated line of {len} byte(s)"),
        Tail::Clean => "is empty".to_string(),
    };
    let mut others: Vec<String> = std::fs::read_dir(flow_dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != EVENTS).collect())
        .unwrap_or_default();
    others.sort();
    let beside = match others.len() {
        0 => "nothing else".to_string(),
        n => format!(
            "{n} other entr{} ({}{})",
            if n == 1 { "y" } else { "ies" },
            others.iter().take(5).map(String::as_str).collect::<Vec<_>>().join(", "),
            if n > 5 { ", ..." } else { "" }
        ),
    };
    VerifyFailure::new(FailureKind::NoRecords, EVENTS, format!(
        "the log {found}, and the directory holds {beside}: a flow's log always starts with its flow.started \
         record, so this is not the evidence of a flow (a flow killed before its first record leaves this). A flow's \
         evidence directory holds {EVENTS} starting with flow.started, flow.start.json once P00 ran, phase/ with \
         each phase's files, and flow.summary.json once it finished"
    ))
}

/// The failure for a log that breaks the chain rules.
pub(crate) fn chain_failure(e: VerifyError) -> VerifyFailure {
    match e {
        VerifyError::Record { line, field, defect, .. } => VerifyFailure {
            kind: FailureKind::Chain,
            file: EVENTS.into(),
            line: Some(line),
            field: Some(field),
            problem: defect.to_string(),
        },
        VerifyError::Io { source, .. } => VerifyFailure::new(FailureKind::Unreadable, EVENTS, format!("cannot read: {source}")),
        e @ VerifyError::Scratch { .. } => VerifyFailure::new(FailureKind::Unreadable, EVENTS, e.to_string()),
        VerifyError::Ops(e) => VerifyFailure::new(FailureKind::Internal, EVENTS, e.to_string()),
    }
}

/// Read the log of the flow in `flow_dir` once, checking the chain and the log rules, and hand
/// each record (with its line's bytes) to `visit` until the visitor or a rule refuses one
/// (module doc for which failure wins). The log is read to its end either way, so a chain
/// failure later in the log is the one reported.
pub(crate) fn accept(
    flow_dir: &Path,
    mut visit: impl FnMut(Record, &[u8]) -> Result<(), VerifyFailure>,
) -> Result<Accepted, VerifyFailure> {
    let mut verifier = wfhost_evidence::Verifier::open(&flow_dir.join(EVENTS)).map_err(chain_failure)?;
    let mut rules = LogRules::default();
    let mut refused = None;
    while let Some(record) = verifier.next() {
        let checked = rules.record(&record.envelope).and_then(|()| visit(record, verifier.line_bytes()));
        if let Err(f) = checked {
            refused = Some(f);
            break;
        }
    }
    let chain = verifier.finish().map_err(chain_failure)?;
    if let Some(f) = refused {
        return Err(f);
    }
    rules.end(flow_dir, &chain)?;
    Ok(Accepted { flow_id: rules.flow_id.clone().unwrap_or_default(), finished: rules.summary, chain })
}
