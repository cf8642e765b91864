//! The signed evidence of a flow, for `wfhost verify` (see [`crate::signing`] for what the
//! engine writes).
//!
//! ```text
//! events.jsonl ─► ExpectFold (record by record) ─► Expect (signing header(s), where an
//!                  unfinished flow stopped, how it ended)
//!   no signing header: any signing.pub or *.dsse.json is unexpected; a pinned key fails
//!   signing header ed25519:<id>:
//!     pinned key (--key) ─ its id must be <id>           ┐
//!     signing.pub ──────── its id must be <id>           ├─► the trusted key
//!     phase/phase.<Pxx>.verdict.json ─► its .verdict.dsse.json must exist and verify:
//!         signature (trusted key) ─► payload type ─► Statement v1 ─► predicate type
//!         ─► subject = that verdict file with its sha256 ─► predicate = its JSON
//!     flow.dsse.json (a finished flow) ─► the same, subjects = events.jsonl and
//!         flow.summary.json with their sha256, predicate = {flow_id, exit_code, records}
//! ```
//!
//! Without a pinned key the trusted key is `signing.pub` from the directory itself, which
//! proves only that the files agree with each other; the report says so in a warning.
//! Failures name the file at fault; a file changed after it was signed is named itself.

use super::diff::{context, first_byte_difference, first_json_difference, shown};
use super::verify::{CheckedFile, FailureKind, VerifyFailure};
use super::{file_bytes, pstr, schemas, EVENTS, PHASE_DIR, SUMMARY};
use crate::signing::{self, flow_predicate, verdict_envelope_file, verdict_envelope_phase, verdict_file, FLOW_ENVELOPE, PUBLIC_KEY_FILE, SIGNING_HEADER};
use serde_json::Value;
use std::path::Path;
use wfhost_evidence::dsse::{self, DsseError, PublicKey, Statement};
use wfhost_evidence::Envelope;

/// What the log says about the flow's signatures.
#[derive(Debug, Clone, Default)]
pub(super) struct Expect {
    /// (1-based line, value) of every `signing` header record.
    pub(super) headers: Vec<(u64, String)>,
    /// The phase an unfinished flow stopped in (its last phase.started), whose verdict may
    /// have been written just before the flow stopped, unsigned.
    pub(super) stopped_in: Option<String>,
    /// How a finished flow ended: (flow id, exit status, records, 1-based line of the
    /// flow.summary record).
    pub(super) end: Option<(String, i64, u64, u64)>,
}

/// [`Expect`], folded from the records one at a time.
#[derive(Debug, Clone, Default)]
pub(super) struct ExpectFold {
    headers: Vec<(u64, String)>,
    /// Exit status and 1-based line of the first flow.summary record.
    summary: Option<(i64, u64)>,
    last_started: Option<String>,
}

impl ExpectFold {
    /// Take in the next record.
    pub(super) fn push(&mut self, e: &Envelope) {
        match e.event_type.as_str() {
            "flow.header" if pstr(e, "key") == SIGNING_HEADER => self.headers.push((e.seq + 1, pstr(e, "value").to_string())),
            "flow.summary" if self.summary.is_none() => {
                self.summary = Some((e.payload.get("exit_status").and_then(Value::as_i64).unwrap_or(-1), e.seq + 1));
            }
            "phase.started" => self.last_started = Some(pstr(e, "phase").to_string()),
            _ => {}
        }
    }

    /// What the log of `records` records of flow `flow_id` implies.
    pub(super) fn finish(self, flow_id: &str, records: u64) -> Expect {
        let end = self.summary.map(|(exit, line)| (flow_id.to_string(), exit, records, line));
        let stopped_in = if end.is_some() { None } else { self.last_started };
        Expect { headers: self.headers, stopped_in, end }
    }
}

/// What the signature checks established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningReport {
    /// The id of the key that signed the flow (sha256 of its raw public key).
    pub key_id: String,
    /// Whether the key was pinned by the caller (`--key`) rather than taken from
    /// `signing.pub` in the flow directory.
    pub pinned: bool,
    /// Envelopes verified.
    pub envelopes: usize,
}

/// The findings of [`check`].
#[derive(Debug)]
pub(super) struct Findings {
    pub(super) report: Option<SigningReport>,
    pub(super) checked: Vec<CheckedFile>,
    pub(super) warnings: Vec<String>,
}

/// Names of files at the flow directory's root that belong to signing; the file checks leave
/// them to [`check`].
pub(super) fn is_root_file(name: &str) -> bool {
    name == PUBLIC_KEY_FILE || name == FLOW_ENVELOPE
}

/// Names of files in `phase/` that belong to signing.
pub(super) fn is_phase_file(name: &str) -> bool {
    verdict_envelope_phase(name).is_some()
}

/// Check the signed evidence of the flow in `dir` (module doc); stops at the first problem.
pub(super) fn check(dir: &Path, expect: &Expect, pinned: Option<&PublicKey>) -> Result<Findings, VerifyFailure> {
    let mut findings = Findings { report: None, checked: Vec::new(), warnings: Vec::new() };
    let phase_names = list_phase_dir(dir)?;
    let envelopes: Vec<&str> = phase_names.iter().filter_map(|n| verdict_envelope_phase(n)).collect();
    let Some((line, value)) = expect.headers.first() else {
        if let Some(key) = pinned {
            return Err(VerifyFailure::new(FailureKind::Signature, EVENTS, format!(
                "you gave the key {}, but this flow is not signed: events.jsonl has no `{SIGNING_HEADER}` header \
                 (a flow is signed only when WF_SIGNING_KEY is set); without --key the unsigned flow can be verified",
                key.key_id()
            )));
        }
        let unsigned = "events.jsonl has no `signing` header, so nothing of this flow was signed and no record accounts for this file";
        for name in [PUBLIC_KEY_FILE, FLOW_ENVELOPE] {
            if dir.join(name).symlink_metadata().is_ok() {
                return Err(VerifyFailure::new(FailureKind::Unexpected, name, unsigned));
            }
        }
        if let Some(id) = envelopes.first() {
            return Err(VerifyFailure::new(FailureKind::Unexpected, &verdict_envelope_file(id), unsigned));
        }
        return Ok(findings);
    };
    let header_failure = |line: u64, problem: String| VerifyFailure {
        kind: FailureKind::Signature,
        file: EVENTS.into(),
        line: Some(line),
        field: Some("payload.value".into()),
        problem,
    };
    let key_id = signing::header_key_id(value)
        .ok_or_else(|| header_failure(*line, format!("the `{SIGNING_HEADER}` header is {value:?}, not ed25519:<64 lowercase hex digits>")))?;
    if let Some((other_line, other)) = expect.headers.iter().find(|(_, v)| v != value) {
        return Err(header_failure(*other_line, format!(
            "the `{SIGNING_HEADER}` header is {other:?} here but {value:?} on line {line}; a flow is signed by one key"
        )));
    }
    if let Some(key) = pinned {
        if key.key_id() != key_id {
            return Err(header_failure(*line, format!(
                "signed by key {key_id}, not the key you gave ({}); verify with the public key of the key that \
                 signed this flow, or treat the flow as not yours",
                key.key_id()
            )));
        }
    }
    // signing.pub: present, a public key, the header's key.
    if dir.join(PUBLIC_KEY_FILE).symlink_metadata().is_err() {
        return Err(VerifyFailure {
            kind: FailureKind::Missing,
            file: PUBLIC_KEY_FILE.into(),
            line: Some(*line),
            field: None,
            problem: format!("events.jsonl line {line} says the flow is signed by {value}, whose public key is written to {PUBLIC_KEY_FILE}, but it is missing"),
        });
    }
    let text = std::fs::read_to_string(dir.join(PUBLIC_KEY_FILE))
        .map_err(|e| VerifyFailure::new(FailureKind::Unreadable, PUBLIC_KEY_FILE, format!("cannot read: {e}")))?;
    let public = PublicKey::from_pem(&text, PUBLIC_KEY_FILE).map_err(|e| VerifyFailure::new(FailureKind::Format, PUBLIC_KEY_FILE, e.to_string()))?;
    if public.key_id() != key_id {
        return Err(VerifyFailure::new(FailureKind::Signature, PUBLIC_KEY_FILE, format!(
            "holds key {}, but events.jsonl line {line} says the flow is signed by {key_id}", public.key_id()
        ))
        .with_line(*line));
    }
    findings.checked.push(CheckedFile {
        path: PUBLIC_KEY_FILE.into(),
        checks: format!("SPKI PEM ed25519 public key; its id is the `{SIGNING_HEADER}` header's (events.jsonl line {line})"),
    });
    let trusted = pinned.unwrap_or(&public);
    if pinned.is_none() {
        findings.warnings.push(format!(
            "signatures checked against {PUBLIC_KEY_FILE} from the flow directory itself (key {key_id}), which shows the \
             files agree with each other, not who signed them: pass --key <public key PEM> to pin the key you trust"
        ));
    }
    let mut verified = 0;
    // Every verdict file has its envelope.
    for name in &phase_names {
        let Some(id) = name.strip_prefix("phase.").and_then(|r| r.strip_suffix(".verdict.json")) else { continue };
        if envelopes.contains(&id) {
            continue;
        }
        if expect.stopped_in.as_deref() == Some(id) {
            findings.warnings.push(format!(
                "{}: not signed; the flow stopped in {id} before it wrote {}",
                verdict_file(id),
                verdict_envelope_file(id)
            ));
            continue;
        }
        return Err(VerifyFailure::new(FailureKind::Missing, &verdict_envelope_file(id), format!(
            "the flow is signed ({value}), so every verdict is signed, but {} has no envelope", verdict_file(id)
        )));
    }
    // Every envelope signs its verdict file.
    for id in &envelopes {
        let rel = verdict_envelope_file(id);
        let subject = verdict_file(id);
        if !phase_names.iter().any(|n| format!("{PHASE_DIR}/{n}") == subject) {
            return Err(VerifyFailure::new(FailureKind::Unexpected, &rel, format!("there is no {subject} for it to sign")));
        }
        let statement = envelope(dir, &rel, trusted, dsse::VERDICT_PREDICATE)?;
        let bytes = std::fs::read(dir.join(&subject)).map_err(|e| VerifyFailure::new(FailureKind::Unreadable, &subject, format!("cannot read: {e}")))?;
        subjects_match(&rel, &statement, &[(&subject, wfhost_evidence::hash::sha256_hex(&bytes))])?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| VerifyFailure::new(FailureKind::Format, &subject, format!("not JSON: {e}")))?;
        predicate_matches(&rel, &statement, &value, &subject)?;
        verified += 1;
        findings.checked.push(CheckedFile {
            path: rel,
            checks: format!(
                "DSSE envelope, schema dsse-envelope; signature by {key_id} verified; in-toto Statement v1, predicate \
                 {}; the subject is {subject} with its sha256; the predicate is its JSON",
                dsse::VERDICT_PREDICATE
            ),
        });
    }
    // The whole flow, once it finished.
    let exists = dir.join(FLOW_ENVELOPE).symlink_metadata().is_ok();
    match &expect.end {
        None if exists => {
            return Err(VerifyFailure::new(FailureKind::Unexpected, FLOW_ENVELOPE, format!(
                "the flow did not finish (events.jsonl has no flow.summary record), and {FLOW_ENVELOPE} is signed only after it: \
                 records were cut off the end of the log"
            )));
        }
        None => {}
        Some((_, _, _, summary_line)) if !exists => {
            return Err(VerifyFailure {
                kind: FailureKind::Missing,
                file: FLOW_ENVELOPE.into(),
                line: Some(*summary_line),
                field: None,
                problem: format!("the flow is signed ({value}) and finished (events.jsonl line {summary_line}), but its signed statement is missing"),
            });
        }
        Some((flow_id, exit, records, _)) => {
            let statement = envelope(dir, FLOW_ENVELOPE, trusted, dsse::FLOW_PREDICATE)?;
            // Hashed as they are read (the log may be long).
            let mut files = Vec::new();
            for name in [EVENTS, SUMMARY] {
                let sha = wfhost_evidence::hash::sha256_file(&dir.join(name))
                    .map_err(|e| VerifyFailure::new(FailureKind::Unreadable, name, format!("cannot read: {}", e.source)))?;
                files.push((name, sha));
            }
            subjects_match(FLOW_ENVELOPE, &statement, &files)?;
            predicate_matches(FLOW_ENVELOPE, &statement, &flow_predicate(flow_id, *exit, *records), "the log (flow id, the summary record's exit_status, its record count)")?;
            verified += 1;
            findings.checked.push(CheckedFile {
                path: FLOW_ENVELOPE.into(),
                checks: format!(
                    "DSSE envelope, schema dsse-envelope; signature by {key_id} verified; in-toto Statement v1, predicate {}; \
                     the subjects are {EVENTS} and {SUMMARY} with their sha256; flow id, exit status and {records} record(s) as in the log",
                    dsse::FLOW_PREDICATE
                ),
            });
        }
    }
    findings.report = Some(SigningReport { key_id: key_id.to_string(), pinned: pinned.is_some(), envelopes: verified });
    Ok(findings)
}

/// The names in `phase/`, sorted (none when there is no `phase/`).
fn list_phase_dir(dir: &Path) -> Result<Vec<String>, VerifyFailure> {
    let path = dir.join(PHASE_DIR);
    if !path.is_dir() {
        return Ok(Vec::new());
    }
    let cannot = |e: std::io::Error| VerifyFailure::new(FailureKind::Unreadable, PHASE_DIR, format!("cannot list: {e}"));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&path).map_err(cannot)? {
        names.push(entry.map_err(cannot)?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Read the envelope `rel`: JSON, canonical form, schema, then the signature and Statement.
fn envelope(dir: &Path, rel: &str, trusted: &PublicKey, predicate_type: &str) -> Result<Statement, VerifyFailure> {
    let bytes = std::fs::read(dir.join(rel)).map_err(|e| VerifyFailure::new(FailureKind::Unreadable, rel, format!("cannot read: {e}")))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        VerifyFailure::new(FailureKind::Format, rel, format!("not JSON: {e}")).field(format!("line {} column {}", e.line(), e.column()))
    })?;
    let canonical = file_bytes(&value).map_err(|e| VerifyFailure::new(FailureKind::Format, rel, e.to_string()))?;
    if let Some(at) = first_byte_difference(&canonical, &bytes) {
        return Err(VerifyFailure::new(FailureKind::Format, rel, format!(
            "not RFC 8785 canonical JSON followed by one newline (constitution/ops.md O11): first difference at byte {at}: \
             the file has {}, canonical form {}",
            context(&bytes, at),
            context(&canonical, at)
        )));
    }
    let schema = schemas::named("dsse-envelope").ok_or_else(|| VerifyFailure::new(FailureKind::Internal, rel, "no schema dsse-envelope"))?;
    match schema.check(&value) {
        Err(e) => return Err(VerifyFailure::new(FailureKind::Internal, rel, e)),
        Ok(Some((at, message))) => {
            return Err(VerifyFailure::new(FailureKind::Schema, rel, format!("does not meet {}: {message}", schema.path)).field(at))
        }
        Ok(None) => {}
    }
    dsse::verify_envelope(&bytes, trusted, predicate_type).map_err(|e| {
        let field = match &e {
            DsseError::PayloadType { .. } => Some("/payloadType"),
            DsseError::Untrusted { .. } => Some("/signatures"),
            DsseError::BadSignature { .. } => Some("/signatures"),
            DsseError::Statement(_) | DsseError::PredicateType { .. } => Some("/payload"),
            _ => None,
        };
        let failure = VerifyFailure::new(FailureKind::Signature, rel, e.to_string());
        match field {
            Some(f) => failure.field(f),
            None => failure,
        }
    })
}

/// The statement's subjects are exactly `files` (name, sha256). A file whose digest differs is
/// named itself: it changed after it was signed.
fn subjects_match(rel: &str, statement: &Statement, files: &[(&str, String)]) -> Result<(), VerifyFailure> {
    let names: Vec<&str> = statement.subjects.iter().map(|s| s.name.as_str()).collect();
    let mut want: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let mut got = names.clone();
    want.sort_unstable();
    got.sort_unstable();
    if got != want {
        return Err(VerifyFailure::new(FailureKind::Signature, rel, format!(
            "the signed statement is about {names:?}, but this envelope must be about {want:?}; it was made for other files"
        ))
        .field("/payload"));
    }
    for (name, sha) in files {
        if let Some(s) = statement.subjects.iter().find(|s| s.name == *name && s.sha256 != *sha) {
            return Err(VerifyFailure::new(FailureKind::Signature, name, format!(
                "its sha256 is {sha}, but {rel} signed sha256 {}: the file changed after it was signed",
                s.sha256
            )));
        }
    }
    Ok(())
}

/// The statement's predicate is `want` (what `source` holds).
fn predicate_matches(rel: &str, statement: &Statement, want: &Value, source: &str) -> Result<(), VerifyFailure> {
    if statement.predicate == *want {
        return Ok(());
    }
    let (field, what) = match first_json_difference(&statement.predicate, want) {
        Some(d) => (format!("/predicate{}", d.pointer), format!("it has {}, {source} has {}", shown(&d.left), shown(&d.right))),
        None => ("/predicate".to_string(), format!("it differs from {source}")),
    };
    Err(VerifyFailure::new(FailureKind::Signature, rel, format!("the signed predicate is not what it attests: {what}")).field(field))
}

#[cfg(test)]
mod tests {
    use super::super::verify::{verify, verify_with, VerifyOptions};
    use super::*;
    use crate::signing::{header_value, sign_flow, sign_verdict, write_public_key};
    use serde_json::json;
    use wfhost_evidence::atomic;
    use wfhost_evidence::dsse::Signer;
    use wfhost_evidence::{Actor, EventDraft, EventLog};

    fn key(n: u8) -> Signer {
        Signer::from_seed(&[n; 32])
    }

    fn verdict(id: &str, court: &str) -> Value {
        json!({"phase": id, "court": court, "code": 0, "violated_laws": []})
    }

    /// A flow directory with signed verdicts of P00 and P30 (no log: [`Expect`] says what the
    /// log would), and the [`Expect`] of a flow signed by `signer` that is still running.
    fn signed_phases(signer: &Signer) -> (tempfile::TempDir, Expect) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(PHASE_DIR)).expect("mkdir");
        for id in ["P00", "P30"] {
            atomic::write_json(&dir.path().join(verdict_file(id)), &verdict(id, "pass")).expect("write");
            sign_verdict(signer, dir.path(), id).expect("signs");
        }
        write_public_key(signer, dir.path()).expect("writes");
        let expect = Expect { headers: vec![(3, header_value(signer))], stopped_in: None, end: None };
        (dir, expect)
    }

    #[test]
    fn signed_verdicts_verify_and_an_unpinned_key_is_warned_about() {
        let s = key(1);
        let (dir, expect) = signed_phases(&s);
        let found = check(dir.path(), &expect, None).expect("verifies");
        assert_eq!(found.report, Some(SigningReport { key_id: s.key_id().into(), pinned: false, envelopes: 2 }));
        let paths: Vec<&str> = found.checked.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, [PUBLIC_KEY_FILE, "phase/phase.P00.verdict.dsse.json", "phase/phase.P30.verdict.dsse.json"]);
        assert!(found.warnings.iter().any(|w| w.contains("--key")), "{:?}", found.warnings);
        let pinned = check(dir.path(), &expect, Some(s.public_key())).expect("verifies pinned");
        assert_eq!(pinned.report.map(|r| r.pinned), Some(true));
        assert!(pinned.warnings.is_empty(), "{:?}", pinned.warnings);
    }

    #[test]
    fn a_verdict_changed_after_signing_is_named() {
        let s = key(1);
        let (dir, expect) = signed_phases(&s);
        atomic::write_json(&dir.path().join(verdict_file("P30")), &verdict("P30", "fail")).expect("rewrite");
        let f = check(dir.path(), &expect, Some(s.public_key())).expect_err("fails");
        assert_eq!(f.kind, FailureKind::Signature, "{f}");
        assert_eq!(f.file, "phase/phase.P30.verdict.json");
        assert!(f.problem.contains("changed after it was signed") && f.problem.contains("phase/phase.P30.verdict.dsse.json"), "{f}");
        // The same verdict re-signed over the changed file, but the predicate left as it was.
        let (dir, expect) = signed_phases(&s);
        let rel = verdict_file("P30");
        let changed = verdict("P30", "fail");
        atomic::write_json(&dir.path().join(&rel), &changed).expect("rewrite");
        let bytes = std::fs::read(dir.path().join(&rel)).expect("read");
        let st = dsse::statement(&[(&rel, &wfhost_evidence::hash::sha256_hex(&bytes))], dsse::VERDICT_PREDICATE, verdict("P30", "pass"));
        atomic::write_json(&dir.path().join(verdict_envelope_file("P30")), &dsse::sign_statement(&s, &st).expect("signs")).expect("write");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str(), f.field.as_deref()), (FailureKind::Signature, "phase/phase.P30.verdict.dsse.json", Some("/predicate/court")), "{f}");
    }

    #[test]
    fn a_missing_envelope_fails_unless_the_flow_stopped_there() {
        let s = key(1);
        let (dir, mut expect) = signed_phases(&s);
        std::fs::remove_file(dir.path().join(verdict_envelope_file("P30"))).expect("rm");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Missing, "phase/phase.P30.verdict.dsse.json"), "{f}");
        expect.stopped_in = Some("P30".into());
        let found = check(dir.path(), &expect, None).expect("an interrupted flow's last verdict may be unsigned");
        assert!(found.warnings.iter().any(|w| w.contains("stopped in P30")), "{:?}", found.warnings);
        assert_eq!(found.report.map(|r| r.envelopes), Some(1));
        // The earlier phase is still required.
        std::fs::remove_file(dir.path().join(verdict_envelope_file("P00"))).expect("rm");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!(f.file, "phase/phase.P00.verdict.dsse.json");
    }

    #[test]
    fn another_pinned_key_fails_and_pinning_catches_a_replaced_key() {
        let (s, other) = (key(1), key(2));
        let (dir, expect) = signed_phases(&s);
        let f = check(dir.path(), &expect, Some(other.public_key())).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str(), f.line), (FailureKind::Signature, EVENTS, Some(3)), "{f}");
        assert!(
            f.problem.contains(&format!("signed by key {}, not the key you gave ({})", s.key_id(), other.key_id())),
            "{f}"
        );
        // Someone re-signs everything with their own key and replaces signing.pub: the header
        // (in the hash-chained log) still names the first key.
        for id in ["P00", "P30"] {
            sign_verdict(&other, dir.path(), id).expect("re-signs");
        }
        write_public_key(&other, dir.path()).expect("writes");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Signature, PUBLIC_KEY_FILE), "{f}");
        // If they rewrite the log's header too, only a pinned key tells.
        let rewritten = Expect { headers: vec![(3, header_value(&other))], ..expect.clone() };
        check(dir.path(), &rewritten, None).expect("self-consistent without a pinned key");
        let f = check(dir.path(), &rewritten, Some(s.public_key())).expect_err("fails pinned");
        assert!(f.problem.contains("not the key you gave"), "{f}");
        // An envelope by another key than signing.pub's.
        let (dir, expect) = signed_phases(&s);
        sign_verdict(&other, dir.path(), "P00").expect("signs");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str(), f.field.as_deref()), (FailureKind::Signature, "phase/phase.P00.verdict.dsse.json", Some("/signatures")), "{f}");
    }

    #[test]
    fn an_envelope_made_for_another_file_fails() {
        let s = key(1);
        let (dir, expect) = signed_phases(&s);
        std::fs::copy(dir.path().join(verdict_envelope_file("P00")), dir.path().join(verdict_envelope_file("P30"))).expect("copy");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Signature, "phase/phase.P30.verdict.dsse.json"), "{f}");
        assert!(f.problem.contains("phase/phase.P00.verdict.json"), "{f}");
        // An envelope with no verdict file.
        let (dir, expect) = signed_phases(&s);
        std::fs::copy(dir.path().join(verdict_envelope_file("P00")), dir.path().join(verdict_envelope_file("P40"))).expect("copy");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Unexpected, "phase/phase.P40.verdict.dsse.json"), "{f}");
    }

    #[test]
    fn envelopes_are_canonical_and_meet_their_schema() {
        let s = key(1);
        let (dir, expect) = signed_phases(&s);
        let path = dir.path().join(verdict_envelope_file("P30"));
        let value: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        std::fs::write(&path, serde_json::to_vec_pretty(&value).expect("pretty")).expect("write");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Format, "phase/phase.P30.verdict.dsse.json"), "{f}");
        let mut extra = value.clone();
        extra["note"] = json!("x");
        atomic::write_json(&path, &extra).expect("write");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!(f.kind, FailureKind::Schema, "{f}");
    }

    #[test]
    fn the_signing_header_and_signing_pub_are_checked() {
        let s = key(1);
        let (dir, expect) = signed_phases(&s);
        let bad = Expect { headers: vec![(3, "ed25519:XYZ".into())], ..expect.clone() };
        let f = check(dir.path(), &bad, None).expect_err("fails");
        assert_eq!((f.kind, f.line), (FailureKind::Signature, Some(3)), "{f}");
        let two = Expect { headers: vec![(3, header_value(&s)), (9, header_value(&key(2)))], ..expect.clone() };
        let f = check(dir.path(), &two, None).expect_err("fails");
        assert_eq!(f.line, Some(9), "{f}");
        std::fs::write(dir.path().join(PUBLIC_KEY_FILE), "not a key").expect("write");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Format, PUBLIC_KEY_FILE), "{f}");
        std::fs::remove_file(dir.path().join(PUBLIC_KEY_FILE)).expect("rm");
        let f = check(dir.path(), &expect, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Missing, PUBLIC_KEY_FILE), "{f}");
    }

    #[test]
    fn an_unsigned_flow_has_no_signature_files() {
        let s = key(1);
        let (dir, _) = signed_phases(&s);
        let unsigned = Expect::default();
        let f = check(dir.path(), &unsigned, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Unexpected, PUBLIC_KEY_FILE), "{f}");
        std::fs::remove_file(dir.path().join(PUBLIC_KEY_FILE)).expect("rm");
        let f = check(dir.path(), &unsigned, None).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Unexpected, "phase/phase.P00.verdict.dsse.json"), "{f}");
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(check(empty.path(), &unsigned, None).expect("nothing to check").report, None);
        let f = check(empty.path(), &unsigned, Some(s.public_key())).expect_err("a pinned key needs a signed flow");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Signature, EVENTS), "{f}");
        assert!(f.problem.contains("not signed"), "{f}");
    }

    const FLOW_ID: &str = "20260101T000000Z-abcdef";

    /// A real flow directory of a flow with no phases (`flow.started`, the signing header when
    /// `signer` is given, and, when `finish`, `flow.summary`, the summary file and
    /// `flow.dsse.json`), as the engine writes it.
    fn zero_phase_flow(dir: &Path, signer: Option<&Signer>, finish: bool, workdir: &str) {
        let c = wfhost_constitution::Constitution::get().expect("constitution");
        let mut log = EventLog::create(&dir.join(EVENTS), FLOW_ID).expect("log");
        let mut append = |ty: &str, native: &str, payload: Value| {
            log.append(EventDraft::new(ty, Actor::new("host", "wfhost"), format!("wfhost/flow/{FLOW_ID}"), native, payload)).expect("append");
        };
        append("flow.started", "flow", json!({
            "flow_id": FLOW_ID, "command": "flow", "flags": {}, "workdir": workdir, "phases": [], "wfhost_version": "0.1.0"
        }));
        if let Some(s) = signer {
            append("flow.header", "header/signing", json!({"key": SIGNING_HEADER, "value": header_value(s)}));
            write_public_key(s, dir).expect("signing.pub");
        }
        if finish {
            append("flow.summary", "flow/summary", json!({
                "verdict": "pass", "first_failure_phase": null, "first_failure_code": null, "exit_status": 0,
                "target": null, "target_source": null, "pod_state": "none", "delete_command": null, "fsm_state": c.fsm.initial
            }));
            drop(log);
            crate::summary::write(dir).expect("summary");
            if let Some(s) = signer {
                // flow.started, flow.header, flow.summary.
                sign_flow(s, dir, FLOW_ID, 0, 3).expect("flow.dsse.json");
            }
        }
    }

    #[test]
    fn a_signed_flow_verifies_end_to_end() {
        let s = key(1);
        let dir = tempfile::tempdir().expect("tempdir");
        zero_phase_flow(dir.path(), Some(&s), true, "/w");
        let report = verify(dir.path()).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(report.signing, Some(SigningReport { key_id: s.key_id().into(), pinned: false, envelopes: 1 }));
        assert!(report.render().contains("signatures: 1 envelope(s) verified"), "{}", report.render());
        assert!(report.warnings.iter().any(|w| w.contains("--key")), "{:?}", report.warnings);
        assert_eq!(report.to_json()["signing"]["envelopes"], 1);
        assert!(report.files.iter().any(|f| f.path == FLOW_ENVELOPE));
        let pinned = verify_with(dir.path(), &VerifyOptions { key: Some(s.public_key().clone()) }).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(pinned.signing.map(|r| r.pinned), Some(true));
        let f = verify_with(dir.path(), &VerifyOptions { key: Some(key(2).public_key().clone()) }).expect_err("another key");
        assert_eq!((f.kind, f.file.as_str(), f.line), (FailureKind::Signature, EVENTS, Some(2)), "{f}");
        assert!(f.problem.contains(&format!("signed by key {}, not the key you gave ({})", s.key_id(), key(2).key_id())), "{f}");
        std::fs::remove_file(dir.path().join(FLOW_ENVELOPE)).expect("rm");
        let f = verify(dir.path()).expect_err("missing envelope");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Missing, FLOW_ENVELOPE), "{f}");
    }

    #[test]
    fn a_rewritten_log_fails_against_the_signed_flow() {
        let s = key(1);
        let (signed, forged) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        zero_phase_flow(signed.path(), Some(&s), true, "/w");
        // The same flow rebuilt with another workdir: its hash chain and summary are valid.
        zero_phase_flow(forged.path(), Some(&s), true, "/elsewhere");
        std::fs::copy(signed.path().join(FLOW_ENVELOPE), forged.path().join(FLOW_ENVELOPE)).expect("copy");
        let f = verify(forged.path()).expect_err("fails");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Signature, EVENTS), "{f}");
        assert!(f.problem.contains("changed after it was signed"), "{f}");
    }

    #[test]
    fn unsigned_flows_verify_and_refuse_a_pinned_key_or_stray_signatures() {
        let dir = tempfile::tempdir().expect("tempdir");
        zero_phase_flow(dir.path(), None, true, "/w");
        let report = verify(dir.path()).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(report.signing, None);
        assert!(report.render().contains("signatures: none"), "{}", report.render());
        let f = verify_with(dir.path(), &VerifyOptions { key: Some(key(1).public_key().clone()) }).expect_err("not signed");
        assert_eq!(f.kind, FailureKind::Signature, "{f}");
        write_public_key(&key(1), dir.path()).expect("write");
        let f = verify(dir.path()).expect_err("stray key");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Unexpected, PUBLIC_KEY_FILE), "{f}");
        // A signed flow that has not finished has no flow.dsse.json yet.
        let running = tempfile::tempdir().expect("tempdir");
        zero_phase_flow(running.path(), Some(&key(1)), false, "/w");
        let report = verify(running.path()).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(report.signing.map(|r| r.envelopes), Some(0));
        std::fs::copy(dir.path().join(PUBLIC_KEY_FILE), running.path().join(FLOW_ENVELOPE)).expect("copy");
        let f = verify(running.path()).expect_err("envelope of an unfinished flow");
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::Unexpected, FLOW_ENVELOPE), "{f}");
    }
}
