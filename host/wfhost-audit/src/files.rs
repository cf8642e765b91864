//! The evidence files of a flow, for `wfhost verify`, checked alongside the one pass over the
//! log.
//!
//! [`Files::new`] lists the flow directory first (only names wfhost writes). While the log is
//! read, [`Files::fold`] folds each record into the summary and start projections and checks
//! each fetched file's recorded sha256, and [`Files::check_phase`] checks a phase's files as
//! soon as the walk has its verdict (then its records are dropped): JSON, canonical bytes and
//! published schema; outcome, deterministic, constitutional and verdict files byte-identical to
//! their record's payload; each pack cross-checked against the records. [`Files::finish`] then
//! reports in a fixed order: unexpected names, files of phases that never started, files a
//! record implies but that are missing, the first phase file at fault, packs that disagree,
//! `fsm.json` against the last transition, `flow.start.json` and `flow.summary.json`
//! byte-identical to their projections. Fetched files that changed since their
//! `artifact.written` record are reported as warnings.

use super::diff::{context, first_byte_difference, first_json_difference, shown};
use super::signatures;
use super::verify::{CheckedFile, FailureKind, VerifyFailure};
use super::walk::{PhaseMark, PhaseRun, TransitionSeen, Walk};
use super::{file_bytes, pstr, schemas, EVENTS, FLOW_START, FSM, PHASE_DIR, SUMMARY};
use crate::layout::{rel_phase_file, PhaseFile};
use wfhost_config::config::{Vocabulary, SECRET_MARKER};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use wfhost_constitution::keys;
use wfhost_evidence::{Envelope, Timestamp};
/// What verify knows of each kind of per-phase file.
trait PhaseFileCheck {
    fn schema(self) -> Option<&'static str>;
    fn record(self, run: &PhaseRun) -> Option<Option<&Envelope>>;
    fn line(self, mark: &PhaseMark) -> Option<&(u64, String)>;
}

impl PhaseFileCheck for PhaseFile {
    fn schema(self) -> Option<&'static str> {
        match self {
            PhaseFile::Outcome => Some("phase-outcome"),
            PhaseFile::Deterministic => Some("phase-deterministic"),
            PhaseFile::Pack => Some("phase-pack"),
            PhaseFile::Constitutional => Some("phase-constitutional"),
            PhaseFile::Verdict => Some("phase-verdict"),
            PhaseFile::ExternalInput | PhaseFile::ExternalVerdict | PhaseFile::VerdictEnvelope => None,
        }
    }

    /// The record that carries this file's JSON as its payload.
    fn record(self, run: &PhaseRun) -> Option<Option<&Envelope>> {
        match self {
            PhaseFile::Outcome => Some(run.outcome.as_ref()),
            PhaseFile::Deterministic => Some(run.det.as_ref()),
            PhaseFile::Constitutional => Some(run.auditor.as_ref()),
            PhaseFile::Verdict => Some(run.verdict.as_ref()),
            _ => None,
        }
    }

    /// The record whose presence says the file was written: the one that carries it, or for
    /// the pack (written before the auditors run) the auditors' record.
    fn line(self, mark: &PhaseMark) -> Option<&(u64, String)> {
        match self {
            PhaseFile::Outcome => mark.outcome.as_ref(),
            PhaseFile::Deterministic => mark.det.as_ref(),
            PhaseFile::Pack | PhaseFile::Constitutional => mark.auditor.as_ref(),
            PhaseFile::Verdict => mark.verdict.as_ref(),
            _ => None,
        }
    }
}

/// The file checks of one flow directory, and what they found.
pub(super) struct Files<'d> {
    dir: &'d Path,
    /// The first unexpected or unreadable entry of the listing.
    listing: Option<VerifyFailure>,
    /// The phase files listed, by phase id.
    found: BTreeMap<String, BTreeMap<PhaseFile, String>>,
    /// The first phase file at fault (phases are checked in order; none after it).
    phase_failure: Option<VerifyFailure>,
    checked: Vec<CheckedFile>,
    warnings: Vec<String>,
    flow_id: Option<String>,
    records: u64,
    summary: crate::summary::Projection,
    start: crate::start::Projection,
    /// Line of the first phase.outcome record.
    first_outcome: Option<u64>,
    /// Fetched files recorded, and those changed or gone since (the first three named).
    fetched: u64,
    changed: u64,
    changed_named: Vec<String>,
}

/// A parsed evidence file.
struct Parsed {
    rel: String,
    bytes: Vec<u8>,
    value: Value,
}

impl<'d> Files<'d> {
    /// The file checks of the flow in `dir`; lists it at once.
    pub(super) fn new(dir: &'d Path) -> Files<'d> {
        let mut files = Files {
            dir,
            listing: None,
            found: BTreeMap::new(),
            phase_failure: None,
            checked: Vec::new(),
            warnings: Vec::new(),
            flow_id: None,
            records: 0,
            summary: crate::summary::Projection::default(),
            start: crate::start::Projection::default(),
            first_outcome: None,
            fetched: 0,
            changed: 0,
            changed_named: Vec::new(),
        };
        files.listing = files.list_all().err();
        files
    }

    /// The files checked and the warnings, once [`Files::finish`] has run.
    pub(super) fn into_findings(self) -> (Vec<CheckedFile>, Vec<String>) {
        (self.checked, self.warnings)
    }

    /// List the directory: only names wfhost writes; the phase files by phase.
    fn list_all(&mut self) -> Result<(), VerifyFailure> {
        for name in self.list(".")? {
            match name.as_str() {
                EVENTS | FLOW_START | SUMMARY | FSM | PHASE_DIR => {}
                // signing.pub, flow.dsse.json: checked by `signatures`.
                n if signatures::is_root_file(n) => {}
                crate::layout::SPACE_RESERVE => self.warnings.push(format!(
                    "{}: the space a running flow holds to record a full disk, left behind because the flow stopped without ending; it is not evidence",
                    crate::layout::SPACE_RESERVE
                )),
                n if is_temp_leftover(n) => self.warnings.push(format!("{n}: a temporary file left by an interrupted write; it is not evidence")),
                n => {
                    return Err(VerifyFailure::new(FailureKind::Unexpected, n, format!(
                        "wfhost writes only {EVENTS}, {FLOW_START}, {SUMMARY}, {FSM}, {PHASE_DIR}/ and, for a signed flow, signing.pub and flow.dsse.json here; nothing in the log accounts for this entry"
                    )))
                }
            }
        }
        let phase_dir = self.dir.join(PHASE_DIR);
        let names = if phase_dir.is_dir() { self.list(PHASE_DIR)? } else { Vec::new() };
        for name in names {
            let rel = format!("{PHASE_DIR}/{name}");
            if is_temp_leftover(&name) {
                self.warnings.push(format!("{rel}: a temporary file left by an interrupted write; it is not evidence"));
                continue;
            }
            if signatures::is_phase_file(&name) {
                continue; // phase.<Pxx>.verdict.dsse.json: checked by `signatures`.
            }
            let Some((id, kind)) = PhaseFile::parse(&name) else {
                return Err(VerifyFailure::new(FailureKind::Unexpected, &rel, "not a file name wfhost writes (phase.<Pxx>[.deterministic|.pack|.constitutional|.verdict].json)"));
            };
            self.found.entry(id).or_default().insert(kind, rel);
        }
        Ok(())
    }

    /// Take in the next record of the log: the projections, the flow id, and a fetched file's
    /// recorded sha256 against the file now.
    pub(super) fn fold(&mut self, e: &Envelope) {
        self.records += 1;
        self.flow_id.get_or_insert_with(|| e.correlation_id.clone());
        self.summary.push(e);
        self.start.push(e);
        match e.event_type.as_str() {
            "phase.outcome" => {
                self.first_outcome.get_or_insert(e.seq + 1);
            }
            "artifact.written" => self.fetched_file(e),
            _ => {}
        }
    }

    /// Check the files of the phase `run` (module doc). `at_end`: the phase the log ends in,
    /// and whether the flow finished (`None` for a phase the flow went on past); the phase an
    /// unfinished flow stopped in may hold a file written just before its record. A problem is
    /// kept for [`Files::finish`], and the files of later phases are not checked.
    pub(super) fn check_phase(&mut self, walk: &Walk, run: &PhaseRun, at_end: Option<bool>) {
        if self.listing.is_some() || self.phase_failure.is_some() {
            return;
        }
        let kinds: Vec<(PhaseFile, String)> = self.found.get(&run.id).map(|m| m.iter().map(|(k, r)| (*k, r.clone())).collect()).unwrap_or_default();
        for (kind, rel) in kinds {
            if let Err(f) = self.phase_file(walk, run, kind, &rel, at_end) {
                self.phase_failure = Some(f);
                return;
            }
        }
    }

    /// Report what the checks found, in the order of the module doc; stops at the first problem.
    pub(super) fn finish(&mut self, walk: &Walk, finished: bool) -> Result<(), VerifyFailure> {
        if let Some(f) = self.listing.take() {
            return Err(f);
        }
        let started: BTreeSet<&str> = walk.phases.iter().map(|p| p.id.as_str()).collect();
        let extra = self
            .found
            .iter()
            .filter(|(id, _)| !started.contains(id.as_str()))
            .flat_map(|(id, m)| m.values().map(move |rel| (id, rel)))
            .min_by_key(|(_, rel)| rel.as_str());
        if let Some((id, rel)) = extra {
            return Err(VerifyFailure::new(FailureKind::Unexpected, rel, format!(
                "events.jsonl has no phase.started record for {id}, so no phase of this flow wrote this file"
            )));
        }
        // Every file a record says exists must exist.
        for mark in &walk.phases {
            for kind in [PhaseFile::Outcome, PhaseFile::Deterministic, PhaseFile::Pack, PhaseFile::Constitutional, PhaseFile::Verdict] {
                let present = self.found.get(&mark.id).is_some_and(|m| m.contains_key(&kind));
                if let (Some((line, event_type)), false) = (kind.line(mark), present) {
                    return Err(VerifyFailure {
                        kind: FailureKind::Missing,
                        file: rel_phase_file(&mark.id, kind),
                        line: Some(*line),
                        field: None,
                        problem: format!("events.jsonl line {line} ({event_type}) shows this file was written, but it is missing"),
                    });
                }
            }
        }
        if let Some(f) = self.phase_failure.take() {
            return Err(f);
        }
        let packs: Vec<String> = walk
            .phases
            .iter()
            .filter_map(|p| self.found.get(&p.id).and_then(|m| m.get(&PhaseFile::Pack)).cloned())
            .collect();
        self.packs_agree(&packs)?;
        self.fsm_file(walk, finished)?;
        self.start_file()?;
        self.summary_file(walk)?;
        self.fetched_warning();
        Ok(())
    }

    fn list(&self, rel: &str) -> Result<Vec<String>, VerifyFailure> {
        let path = if rel == "." { self.dir.to_path_buf() } else { self.dir.join(rel) };
        let rd = std::fs::read_dir(&path).map_err(|e| VerifyFailure::new(FailureKind::Unreadable, rel, format!("cannot list: {e}")))?;
        let mut names = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| VerifyFailure::new(FailureKind::Unreadable, rel, format!("cannot list: {e}")))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Read, parse, and check the canonical form and the schema.
    fn parse(&self, rel: &str, schema: Option<&str>) -> Result<Parsed, VerifyFailure> {
        let bytes = std::fs::read(self.dir.join(rel)).map_err(|e| VerifyFailure::new(FailureKind::Unreadable, rel, format!("cannot read: {e}")))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            VerifyFailure::new(FailureKind::Format, rel, format!("not JSON: {e}")).field(format!("line {} column {}", e.line(), e.column()))
        })?;
        if let Some(name) = schema {
            let canonical = file_bytes(&value).map_err(|e| VerifyFailure::new(FailureKind::Format, rel, e.to_string()))?;
            if let Some(at) = first_byte_difference(&canonical, &bytes) {
                return Err(VerifyFailure::new(FailureKind::Format, rel, format!(
                    "not RFC 8785 canonical JSON followed by one newline (constitution/ops.md O11): first difference at \
                     byte {at}: the file has {}, canonical form {}",
                    context(&bytes, at),
                    context(&canonical, at)
                )));
            }
            let schema = schemas::named(name).ok_or_else(|| VerifyFailure::new(FailureKind::Internal, rel, format!("no schema {name}")))?;
            match schema.check(&value) {
                Err(e) => return Err(VerifyFailure::new(FailureKind::Internal, rel, e)),
                Ok(Some((at, message))) => {
                    return Err(VerifyFailure::new(FailureKind::Schema, rel, format!("does not meet {}: {message}", schema.path)).field(at))
                }
                Ok(None) => {}
            }
        }
        Ok(Parsed { rel: rel.to_string(), bytes, value })
    }

    fn phase_file(&mut self, walk: &Walk, run: &PhaseRun, kind: PhaseFile, rel: &str, at_end: Option<bool>) -> Result<(), VerifyFailure> {
        let parsed = self.parse(rel, kind.schema())?;
        match kind.record(run) {
            Some(Some(e)) => {
                self.equal_to_record(&parsed, e)?;
                self.checked.push(CheckedFile {
                    path: rel.to_string(),
                    checks: format!(
                        "schema {}; byte-identical to the payload of events.jsonl line {} ({})",
                        kind.schema().unwrap_or_default(),
                        e.seq + 1,
                        e.event_type
                    ),
                });
            }
            Some(None) => self.unanchored(walk, at_end, rel, "its record was never appended")?,
            None if kind == PhaseFile::Pack => {
                if run.det.is_none() {
                    return self.unanchored(walk, at_end, rel, "it is written after the court.deterministic record, which is absent");
                }
                self.pack(walk, run, &parsed)?;
                // The court.auditor record names the digest of the pack the auditors judged.
                let recorded = run.auditor.as_ref().and_then(|a| a.payload.get("pack_sha256")).and_then(Value::as_str);
                let digest = match recorded {
                    Some(want) => {
                        let got = wfhost_evidence::hash::sha256_hex(&parsed.bytes);
                        if got != want {
                            let line = run.auditor.as_ref().map(|a| a.seq + 1).unwrap_or(0);
                            return Err(VerifyFailure::new(FailureKind::Mismatch, rel, format!(
                                "its sha256 is {got}, but events.jsonl line {line} (court.auditor) says the auditors judged a pack with sha256 {want}"
                            ))
                            .with_line(line));
                        }
                        "; sha256 equal to the court.auditor record's pack_sha256"
                    }
                    None => "",
                };
                self.checked.push(CheckedFile {
                    path: rel.to_string(),
                    checks: format!(
                        "schema phase-pack; every member except `config` cross-checked against the flow's records; \
                         `config` checked for secret markers and against the header (its other values are not recorded in events.jsonl){digest}"
                    ),
                });
            }
            None => {
                // The external auditor's exchange files: the input repeats the pack.
                if kind == PhaseFile::ExternalInput {
                    let pack_rel = rel_phase_file(&run.id, PhaseFile::Pack);
                    if let Ok(pack) = self.parse(&pack_rel, None) {
                        // An older flow's input was `{laws, pack}`; a court now gets the pack file itself.
                        let given = parsed.value.get("pack").filter(|_| parsed.value.get("laws").is_some()).unwrap_or(&parsed.value);
                        if *given != pack.value {
                            return Err(VerifyFailure::new(FailureKind::Mismatch, rel, format!("it is not the pack {pack_rel}, which the court was given")));
                        }
                    }
                }
                self.checked.push(CheckedFile {
                    path: rel.to_string(),
                    checks: "JSON (the external auditor's exchange file; its verdict is recorded in the court.auditor record)".to_string(),
                });
            }
        }
        Ok(())
    }

    /// A file whose record is absent: allowed only for the phase an unfinished flow stopped in
    /// (the engine writes a file, then appends its record).
    fn unanchored(&mut self, walk: &Walk, at_end: Option<bool>, rel: &str, why: &str) -> Result<(), VerifyFailure> {
        // The phase the flow stopped in: it did not finish, or a failed evidence write halted it
        // (the file was written, the record after it could not be).
        let failed_write = !walk.write_failures.is_empty();
        if at_end == Some(false) || (at_end == Some(true) && failed_write) {
            let how = if failed_write { "a failed write halted the flow" } else { "the flow stopped" };
            self.warnings.push(format!(
                "{rel}: written just before {how} ({why}); nothing in events.jsonl vouches for it"
            ));
            self.checked.push(CheckedFile { path: rel.to_string(), checks: "schema only (not anchored: the flow stopped before its record)".into() });
            return Ok(());
        }
        Err(VerifyFailure::new(FailureKind::Unexpected, rel, format!(
            "no record in events.jsonl carries this file ({why}), and the flow {}",
            if at_end == Some(true) { "finished" } else { "went on past this phase" }
        )))
    }

    fn equal_to_record(&self, parsed: &Parsed, e: &Envelope) -> Result<(), VerifyFailure> {
        let want = file_bytes(&e.payload).map_err(|err| VerifyFailure::record(FailureKind::Mismatch, e, "payload", err.to_string()))?;
        if want == parsed.bytes {
            return Ok(());
        }
        let line = e.seq + 1;
        let (field, problem) = match first_json_difference(&parsed.value, &e.payload) {
            Some(d) => (
                d.at().to_string(),
                format!("the file has {}, events.jsonl line {line} ({}) records {}", shown(&d.left), e.event_type, shown(&d.right)),
            ),
            None => {
                let at = first_byte_difference(&parsed.bytes, &want).unwrap_or(0);
                (format!("byte {at}"), format!("differs from the payload of events.jsonl line {line} ({})", e.event_type))
            }
        };
        Err(VerifyFailure { kind: FailureKind::Mismatch, file: parsed.rel.clone(), line: Some(line), field: Some(field), problem })
    }

    /// Cross-check a pack against the records of its phase.
    fn pack(&self, walk: &Walk, run: &PhaseRun, parsed: &Parsed) -> Result<(), VerifyFailure> {
        let (Some(o), Some(d)) = (&run.outcome, &run.det) else { return Ok(()) };
        let (outcome, det) = (&o.payload, &d.payload);
        let pack = &parsed.value;
        let c = walk.c;
        let fail = |at: &str, want: Value, why: &str| -> Result<(), VerifyFailure> {
            let found = pointer(pack, at);
            if found == want {
                return Ok(());
            }
            Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!(
                "the pack has {}, but {why} gives {}", shown(&Some(found)), shown(&Some(want))
            ))
            .field(at))
        };
        let phase = c.phase(&run.id).map(|p| p.laws.clone()).unwrap_or_default();
        fail("/flow_id", json!(self.flow_id.as_deref().unwrap_or_default()), "the log's flow id")?;
        fail("/phase", json!(run.id), "the file name")?;
        fail("/constitution_version", json!(c.version), "constitution/")?;
        // A pack with the minimum members keeps the WIT law ids as applicable_law_ids and
        // names the laws by alias (an older flow's pack is the WIT record alone).
        let flat = pack.get("applicable_law_ids").is_some();
        fail(if flat { "/applicable_law_ids" } else { "/applicable_laws" }, json!(phase), "constitution/phases.toml")?;
        // The pack is written after the court.deterministic record: a flow killed before its
        // auditors ran has no court.auditor record, and the headers before `d` are the ones
        // the pack saw.
        let verdict_at = run.auditor.as_ref().unwrap_or(d).seq + 1;
        let sha_start = walk.header_before("active_config_sha256", verdict_at).unwrap_or("");
        fail("/config_sha256_at_start", json!(sha_start), "the active_config_sha256 header")?;
        // The hash "now" is what the phase's last config_unchanged check compared; a phase
        // without that check (P99) leaves it unrecorded.
        let unchanged = det
            .get("checks")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().rev().find(|c| c.get("check").and_then(Value::as_str) == Some("config_unchanged")));
        if let Some(check) = unchanged {
            let finding = check.get("finding").and_then(Value::as_str).unwrap_or("");
            let now = if check.get("pass") == Some(&Value::Bool(true)) {
                Some(sha_start.to_string())
            } else if let Some(rest) = finding.strip_suffix(" now") {
                rest.rsplit(' ').next().map(str::to_string)
            } else {
                Some(String::new())
            };
            if let Some(now) = now {
                fail("/config_sha256", json!(now), "the phase's config_unchanged check")?;
            }
        }
        let transport = match &walk.plugins {
            Some((line, transport)) if *line < verdict_at => transport.clone(),
            _ => json!(""),
        };
        fail("/transport", transport, "the plugins.loaded record")?;
        let bound = outcome.get("target").cloned().unwrap_or(Value::Null);
        fail("/bound_target", bound.clone(), "the phase.outcome record's target")?;
        let phase_target = pointer(pack, "/phase_target");
        let call_targets: Vec<&Value> = outcome
            .get("gateway_calls")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|c| c.get("target")).collect())
            .unwrap_or_default();
        if phase_target != bound && !(phase_target.is_string() && call_targets.contains(&&phase_target)) {
            return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!(
                "the pack's phase target {phase_target} is neither the bound target {bound} nor a target the phase's gateway calls named"
            ))
            .field("/phase_target"));
        }
        let source = if bound.is_null() {
            json!("pending")
        } else {
            walk.p20_target_source.clone().unwrap_or(Value::Null)
        };
        fail("/target_source", source, "P20's outcome")?;
        // The outcome as the auditors saw it (the WIT record) against the outcome record.
        let status = match outcome.get("status").and_then(Value::as_str) {
            Some("ok") => "Ok",
            Some("skip") => "Skip",
            Some("fail") => "Fail",
            _ => "",
        };
        fail("/outcome/phase", json!(run.id), "the file name")?;
        fail("/outcome/status", json!(status), "the phase.outcome record")?;
        for m in ["code", "message", "artifacts"] {
            fail(&format!("/outcome/{m}"), outcome.get(m).cloned().unwrap_or(Value::Null), "the phase.outcome record")?;
        }
        let facts: Map<String, Value> = pointer(pack, "/outcome/facts")
            .as_array()
            .map(|a| a.iter().filter_map(|kv| Some((kv.get("key")?.as_str()?.to_string(), kv.get("value")?.clone()))).collect())
            .unwrap_or_default();
        if Value::Object(facts) != outcome.get("facts").cloned().unwrap_or(Value::Null) {
            return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, "the outcome facts differ from the phase.outcome record's").field("/outcome/facts"));
        }
        let details = match pointer(pack, "/outcome/details_json").as_str() {
            Some(text) => serde_json::from_str::<Value>(text).unwrap_or(Value::Null),
            None => Value::Null,
        };
        if details != outcome.get("details").cloned().unwrap_or(Value::Null) {
            return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, "details_json differs from the phase.outcome record's details").field("/outcome/details_json"));
        }
        // Flags: the flow's flags, then the consent the court saw.
        let pairs = kv_pairs(&pointer(pack, "/flow_flags"));
        let Some(((last_key, consent), flags)) = pairs.split_last() else {
            return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, "no flags, not even the consent").field("/flow_flags"));
        };
        let started = walk.flags.clone();
        let flag_map: Map<String, Value> = flags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        if last_key != "consent" || flag_map.len() != flags.len() || Value::Object(flag_map) != started {
            return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!(
                "the flags differ from the flow.started record's {started} followed by consent"
            ))
            .field("/flow_flags"));
        }
        let p00_consent = walk.first_consent_fact.as_deref();
        let consented = walk.first_consent.is_some_and(|line| line < verdict_at);
        let want_consent = match p00_consent {
            Some(v) => Some(v.to_string()),
            None if consented => Some("true".to_string()),
            None => None,
        };
        if let Some(want) = want_consent {
            if *consent != want {
                return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!(
                    "consent {consent:?}, but the records give {want:?}"
                ))
                .field("/flow_flags"));
            }
        }
        // Config: unique keys, secrets only as markers, and what the header repeats.
        let config = kv_pairs(&pointer(pack, "/config"));
        let mut seen = BTreeSet::new();
        let vocab = Vocabulary::get().map_err(|e| VerifyFailure::new(FailureKind::Internal, &parsed.rel, e.to_string()))?;
        // Vocabulary keys come first, in vocabulary order, then keys of families (WF_SECRET_*).
        let mut last_rank = 0usize;
        for (i, (k, v)) in config.iter().enumerate() {
            let at = format!("/config/{i}/value");
            if !seen.insert(k.clone()) {
                return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!("{k} appears twice")).field(format!("/config/{i}/key")));
            }
            let (rank, kind) = match (vocab.keys.iter().position(|s| s.name == *k), vocab.pattern_for(k)) {
                (Some(r), _) => (r, &vocab.keys[r].kind),
                (None, Some(p)) => (vocab.keys.len(), &p.kind),
                (None, None) => {
                    return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!(
                        "{k:?} is not a key of constitution/config.toml, and a pack carries only those"
                    ))
                    .field(format!("/config/{i}/key")))
                }
            };
            if rank < last_rank {
                return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!(
                    "{k} is out of the vocabulary's order (constitution/config.toml), in which a pack lists its config"
                ))
                .field(format!("/config/{i}/key")));
            }
            last_rank = rank;
            if v != SECRET_MARKER {
                if let Err(problem) = kind.check(v) {
                    return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!("{k}={v:?} is not a legal value: {problem}")).field(at));
                }
            }
            if vocab.is_secret(k) && v != SECRET_MARKER {
                return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!(
                    "{k} is a secret, so the pack must show it as {SECRET_MARKER} (Law 10), not a value"
                ))
                .field(at));
            }
            let header = match k.as_str() {
                k if k == keys::WF_TRANSPORT.name() => walk.header_before("transport", verdict_at).map(str::to_string),
                k if k == keys::REMOTE_ENV_PATH.name() => walk.header_before("remote_env_path", verdict_at).map(str::to_string),
                k if k == keys::OPS_REMOTE_OUTPUTS_DIR.name() => walk
                    .header_before("fsm_state_file", verdict_at)
                    .map(|f| f.strip_suffix("/_control/workflow_state.json").unwrap_or(f).to_string())
                    .map(|d| if d.is_empty() { "/".to_string() } else { d }),
                _ => None,
            };
            if let Some(h) = header {
                let mine = if k == keys::OPS_REMOTE_OUTPUTS_DIR.name() { v.trim_end_matches('/').to_string() } else { v.clone() };
                let mine = if mine.is_empty() { "/".to_string() } else { mine };
                if mine != h {
                    return Err(VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, format!(
                        "{k} is {v:?}, but the flow's header gives {h:?}"
                    ))
                    .field(at));
                }
            }
        }
        fail("/fsm_before", outcome.get("fsm_before").cloned().unwrap_or(Value::Null), "the phase.outcome record")?;
        fail("/fsm_after", outcome.get("fsm_after").cloned().unwrap_or(Value::Null), "the phase.outcome record")?;
        fail("/deterministic_pass", det.get("pass").cloned().unwrap_or(Value::Null), "the court.deterministic record")?;
        let findings: Vec<Value> = det
            .get("checks")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|c| c.get("pass") == Some(&Value::Bool(false)))
                    .map(|c| json!(format!("{}: {}", c.get("check").and_then(Value::as_str).unwrap_or(""), c.get("finding").and_then(Value::as_str).unwrap_or(""))))
                    .collect()
            })
            .unwrap_or_default();
        fail("/deterministic_findings", Value::Array(findings), "the court.deterministic record's failed checks")?;
        if flat {
            self.pack_minimum(walk, run, parsed, verdict_at, &fail)?;
        }
        Ok(())
    }

    /// The constitution's minimum members of a pack (crate::pack), against the records: the
    /// phase's outcome, the header, the flags of flow.started and the phase table.
    fn pack_minimum(
        &self,
        walk: &Walk,
        run: &PhaseRun,
        parsed: &Parsed,
        verdict_at: u64,
        fail: &dyn Fn(&str, Value, &str) -> Result<(), VerifyFailure>,
    ) -> Result<(), VerifyFailure> {
        let Some(o) = &run.outcome else { return Ok(()) };
        let outcome = &o.payload;
        let c = walk.c;
        let phase = c.phase(&run.id).ok_or_else(|| VerifyFailure::new(FailureKind::Mismatch, &parsed.rel, "not a phase of the constitution"))?;
        let get = |k: &str| outcome.get(k).cloned().unwrap_or(Value::Null);
        let header = |k: &str| walk.header_before(k, verdict_at).map(|v| json!(v)).unwrap_or(Value::Null);
        let config = kv_pairs(&pointer(&parsed.value, "/config"));
        let setting = |k: &str| config.iter().find(|(key, v)| key == k && !v.is_empty()).map(|(_, v)| json!(v)).unwrap_or(Value::Null);
        let mut flags: BTreeMap<String, String> = walk
            .flags
            .as_object()
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        // A phase named by the command as typed (phases.toml `command_flag = "command"`).
        flags.insert("command".into(), walk.command.clone());
        let status = outcome.get("status").and_then(Value::as_str).unwrap_or("");
        let target = outcome.get("target").and_then(Value::as_str);
        let transport = pointer(&parsed.value, "/transport");
        let started = outcome.get("started_at").and_then(Value::as_str).unwrap_or("");
        let duration = outcome.get("duration_ms").and_then(Value::as_u64).unwrap_or(0);
        fail("/phase_id", json!(run.id), "the file name")?;
        fail("/started_at", get("started_at"), "the phase.outcome record")?;
        fail("/ended_at", json!(crate::pack::ended_at(started, duration)), "the phase.outcome record's start and duration")?;
        fail("/active_config_path", header("active_config_path"), "the active_config_path header")?;
        fail("/active_config_sha256", header("active_config_sha256"), "the active_config_sha256 header")?;
        fail("/lium_target", get("target"), "the phase.outcome record's target")?;
        fail("/transport_hint", json!(crate::pack::transport_hint(transport.as_str().unwrap_or(""), target)), "the pack's transport and the bound target")?;
        fail("/remote_env_path", header("remote_env_path"), "the remote_env_path header")?;
        fail("/ops_default_host", setting(keys::OPS_DEFAULT_HOST.name()), "the pack's config")?;
        fail("/repo_url", setting(keys::REPO_URL.name()), "the pack's config")?;
        fail("/command_name", json!(phase.command_name(&flags, status == "skip")), "constitution/phases.toml and the flow's flags")?;
        fail("/command_rc", get("code"), "the phase.outcome record's code")?;
        fail("/phase_status", get("status"), "the phase.outcome record")?;
        fail("/teardown_mode", json!(flags.get("teardown")), "the flow.started record's flags")?;
        fail("/applicable_laws", json!(crate::pack::law_aliases(c, &phase.laws)), "the aliases of constitution/laws.toml")?;
        fail("/flow_start_artifact", json!(FLOW_START), "the flow directory's layout")?;
        Ok(())
    }

    /// Every pack of a flow carries the config loaded once in P00, the same flags and the same
    /// start hash. The config's values are not in events.jsonl, so the packs vouch for each
    /// other: a pack that differs from the others (the majority; the earlier on a tie) is named.
    fn packs_agree(&self, packs: &[String]) -> Result<(), VerifyFailure> {
        let shared = |v: &Value| {
            json!({"config": v.get("config"), "flow_flags": v.get("flow_flags"),
                   "config_sha256_at_start": v.get("config_sha256_at_start"), "flow_id": v.get("flow_id")})
        };
        let mut parsed = Vec::new();
        for rel in packs {
            parsed.push(self.parse(rel, None)?);
        }
        let mut groups: Vec<(Value, Vec<usize>)> = Vec::new();
        for (i, p) in parsed.iter().enumerate() {
            let key = shared(&p.value);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        if groups.len() <= 1 {
            return Ok(());
        }
        // The largest group is the reference; on a tie the group holding the earliest pack.
        let reference = groups
            .iter()
            .enumerate()
            .max_by_key(|(gi, (_, members))| (members.len(), std::cmp::Reverse(*gi)))
            .map(|(gi, _)| gi)
            .unwrap_or(0);
        let ref_pack = &parsed[groups[reference].1[0]];
        let odd = parsed
            .iter()
            .find(|p| shared(&p.value) != groups[reference].0)
            .unwrap_or(&parsed[0]);
        let d = first_json_difference(&shared(&odd.value), &shared(&ref_pack.value));
        let others = groups[reference].1.len();
        let (field, what) = match d {
            Some(d) => (
                d.at().to_string(),
                format!("this one has {} where {others} other pack(s), {} among them, have {}", shown(&d.left), ref_pack.rel, shown(&d.right)),
            ),
            None => ("/".to_string(), format!("this one differs from {}", ref_pack.rel)),
        };
        Err(VerifyFailure::new(FailureKind::Mismatch, &odd.rel, format!(
            "every pack of a flow carries the same config, flags and start hash (loaded once in P00), but {what}"
        ))
        .field(field))
    }

    fn fsm_file(&mut self, walk: &Walk, finished: bool) -> Result<(), VerifyFailure> {
        let exists = self.dir.join(FSM).exists();
        let ts = &walk.transitions;
        // The engine records a transition, then mirrors it: a mirror it could not write is
        // recorded as such, and then fsm.json is missing or one transition behind.
        let failed = ts.back().and_then(|t| walk.write_failures.iter().find(|(line, f)| *line > t.record.seq + 1 && f.file == FSM)).map(|(line, _)| *line);
        if let (Some(line), false) = (failed, exists) {
            self.warnings.push(format!("{FSM}: missing, because the flow could not write it (events.jsonl line {line})"));
            return Ok(());
        }
        if !exists {
            if let Some(t) = ts.back() {
                let line = t.record.seq + 1;
                return Err(VerifyFailure {
                    kind: FailureKind::Missing,
                    file: FSM.into(),
                    line: Some(line),
                    field: None,
                    problem: format!("events.jsonl line {line} records an FSM transition, which is mirrored in {FSM}, but it is missing"),
                });
            }
            return Ok(());
        }
        let parsed = self.parse(FSM, Some("fsm-mirror"))?;
        let Some(last) = ts.back() else {
            return Err(VerifyFailure::new(FailureKind::Unexpected, FSM, "events.jsonl records no fsm.transition, so no FSM state was ever written"));
        };
        // An interrupted flow may have recorded a transition and stopped before mirroring it.
        let candidates: Vec<&TransitionSeen> = if finished && failed.is_none() { vec![last] } else { ts.iter().rev().take(2).collect() };
        let mut first_problem = None;
        for t in candidates {
            match fsm_matches(walk, &parsed, t) {
                Ok(()) => {
                    let line = t.record.seq + 1;
                    if line != last.record.seq + 1 {
                        self.warnings.push(format!("{FSM}: mirrors the transition before the last one; the flow stopped before it mirrored line {}", last.record.seq + 1));
                    }
                    self.checked.push(CheckedFile {
                        path: FSM.into(),
                        checks: format!(
                            "schema fsm-mirror; state, previous_state, phase, reason and flow_id from events.jsonl line {line} (fsm.transition); \
                             updated_at and host from that record, or (older logs) updated_at within that record's time and the next record's"
                        ),
                    });
                    return Ok(());
                }
                Err(f) => {
                    first_problem.get_or_insert(f);
                }
            }
        }
        Err(first_problem.unwrap_or_else(|| VerifyFailure::new(FailureKind::Mismatch, FSM, "does not match the FSM records")))
    }

    fn summary_file(&mut self, walk: &Walk) -> Result<(), VerifyFailure> {
        let exists = self.dir.join(SUMMARY).exists();
        // A summary without its record (records cut off the end) is refused by `pass::accept`.
        let Some((line, _)) = &walk.summary else {
            return Ok(());
        };
        if !exists {
            return Err(VerifyFailure {
                kind: FailureKind::Missing,
                file: SUMMARY.into(),
                line: Some(*line),
                field: None,
                problem: format!("events.jsonl line {line} records the flow's end, whose projection is {SUMMARY}, but it is missing"),
            });
        }
        let projected = std::mem::take(&mut self.summary).finish();
        let checks = format!("schema flow-summary; byte-identical to summary::project of the {} record(s)", self.records);
        self.projection(SUMMARY, "flow-summary", &projected, "events.jsonl", checks)
    }

    /// `rel` parses under `schema` and is byte for byte `projected`, the projection of `of`;
    /// noted as checked with `checks`.
    fn projection(&mut self, rel: &str, schema: &str, projected: &Value, of: &str, checks: String) -> Result<(), VerifyFailure> {
        let parsed = self.parse(rel, Some(schema))?;
        let want = file_bytes(projected).map_err(|err| VerifyFailure::new(FailureKind::Projection, rel, err.to_string()))?;
        if let Some(at) = first_byte_difference(&parsed.bytes, &want) {
            let field = first_json_difference(&parsed.value, projected);
            let what = field
                .as_ref()
                .map(|d| format!("the file has {}, the projection of events.jsonl has {}", shown(&d.left), shown(&d.right)))
                .unwrap_or_else(|| "the bytes differ".into());
            return Err(VerifyFailure {
                kind: FailureKind::Projection,
                file: rel.into(),
                line: None,
                field: Some(field.map(|d| d.at().to_string()).unwrap_or_else(|| format!("byte {at}"))),
                problem: format!("not the projection of {of} (first difference at byte {at}): {what}"),
            });
        }
        self.checked.push(CheckedFile { path: rel.into(), checks });
        Ok(())
    }

    /// `flow.start.json`: present once the log holds P00's outcome (it is written just before),
    /// and always the projection of the log's start.
    fn start_file(&mut self) -> Result<(), VerifyFailure> {
        let exists = self.dir.join(FLOW_START).exists();
        if !exists {
            if self.start.due() {
                let at = self.first_outcome;
                return Err(VerifyFailure {
                    kind: FailureKind::Missing,
                    file: FLOW_START.into(),
                    line: at,
                    field: None,
                    problem: format!(
                        "events.jsonl line {} records P00's outcome, which follows {FLOW_START} (P00's artifact), but it is missing; `wfhost replay --write` rebuilds it",
                        at.unwrap_or(0)
                    ),
                });
            }
            return Ok(());
        }
        let Some(projected) = self.start.finish() else {
            return Err(VerifyFailure::new(FailureKind::Projection, FLOW_START, "events.jsonl has no flow.started record to project it from"));
        };
        let checks = "schema flow-start; byte-identical to start::project of flow.started and P00's header".to_string();
        self.projection(FLOW_START, "flow-start", &projected, "events.jsonl's start", checks)
    }

    /// A fetched file recorded by artifact.written: note it if it changed or is gone since.
    fn fetched_file(&mut self, e: &Envelope) {
        let (path, want) = (pstr(e, "path"), pstr(e, "sha256"));
        if path.is_empty() || want.is_empty() {
            return;
        }
        self.fetched += 1;
        // Recorded relative to the flow directory (older logs: absolute).
        let state = match wfhost_evidence::hash::sha256_file(&self.dir.join(path)) {
            Ok(sha) if sha == want => return,
            Ok(_) => "changed",
            Err(_) => "gone",
        };
        self.changed += 1;
        if self.changed_named.len() < 3 {
            self.changed_named.push(format!("{path} ({state})"));
        }
    }

    /// The fetched files that no longer match their record, as one warning.
    fn fetched_warning(&mut self) {
        if self.changed > 0 {
            self.warnings.push(format!(
                "{} of {} fetched file(s) no longer match the sha256 recorded when they were fetched (a later fetch \
                 replaces a run's directory): {}{}",
                self.changed,
                self.fetched,
                self.changed_named.join(", "),
                if self.changed > 3 { ", ..." } else { "" }
            ));
        }
    }
}

/// Whether `fsm.json` mirrors the transition `t`.
fn fsm_matches(walk: &Walk, parsed: &Parsed, t: &TransitionSeen) -> Result<(), VerifyFailure> {
    let e = &t.record;
    let phase = pstr(e, "phase");
    let line = e.seq + 1;
    let status = walk
        .phases
        .iter()
        .find(|p| p.transition == Some(line))
        .and_then(|p| p.status.clone())
        .unwrap_or_else(|| if e.payload.get("code").and_then(Value::as_u64) == Some(0) { "ok".into() } else { "fail".into() });
    let code = e.payload.get("code").cloned().unwrap_or(Value::Null);
    let mut want = vec![
        ("/state", json!(pstr(e, "to"))),
        ("/previous_state", json!(pstr(e, "from"))),
        ("/phase", json!(phase)),
        ("/flow_id", json!(e.correlation_id)),
        ("/reason", json!(format!("{phase} {status} code {code}"))),
    ];
    for key in ["updated_at", "host"] {
        if let Some(v) = e.payload.get(key) {
            want.push((if key == "host" { "/host" } else { "/updated_at" }, v.clone()));
        }
    }
    for (at, w) in want {
        let found = pointer(&parsed.value, at);
        if found != w {
            return Err(VerifyFailure::new(FailureKind::Mismatch, FSM, format!(
                "the file has {found}, events.jsonl line {line} (fsm.transition) gives {w}"
            ))
            .field(at)
            .with_line(line));
        }
    }
    let updated = pointer(&parsed.value, "/updated_at");
    let updated = updated.as_str().and_then(|s| Timestamp::parse(s).ok());
    let earliest = e.occurred_at;
    let latest = t.next_at;
    // The record carries updated_at (checked above) and is appended just after it is taken;
    // older logs did not carry it, and then it must fall between the record and the next.
    let recorded = e.payload.get("updated_at").is_some();
    let in_range = recorded || updated.is_some_and(|u| u >= earliest && latest.is_none_or(|l| u <= l));
    if !in_range {
        return Err(VerifyFailure::new(FailureKind::Mismatch, FSM, format!(
            "updated_at {} is not between the transition's record ({earliest}) and the next record ({})",
            pointer(&parsed.value, "/updated_at"),
            latest.map(|l| l.to_string()).unwrap_or_else(|| "none".into())
        ))
        .field("/updated_at")
        .with_line(line));
    }
    Ok(())
}

fn pointer(v: &Value, at: &str) -> Value {
    v.pointer(at).cloned().unwrap_or(Value::Null)
}

fn kv_pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (
                        kv.get("key").and_then(Value::as_str).unwrap_or("").to_string(),
                        kv.get("value").and_then(Value::as_str).unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `.name.XXXXXX.tmp`: what an atomic write leaves when it is interrupted.
fn is_temp_leftover(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_wfhost_writes_are_phase_files() {
        assert_eq!(PhaseFile::parse("phase.P30.json"), Some(("P30".into(), PhaseFile::Outcome)));
        assert_eq!(PhaseFile::parse("phase.P30.verdict.json"), Some(("P30".into(), PhaseFile::Verdict)));
        assert_eq!(PhaseFile::parse("phase.P00.external-input.json"), Some(("P00".into(), PhaseFile::ExternalInput)));
        for bad in ["phase.P3.json", "phase.X30.json", "phase.P30.notes.json", "phase.P30.json.bak", "phase.Pé.json", "P30.json"] {
            assert_eq!(PhaseFile::parse(bad), None, "{bad}");
        }
        assert!(is_temp_leftover(".phase.P30.json.a1B2c3.tmp"));
        assert!(!is_temp_leftover("phase.P30.json"));
    }

    #[test]
    fn string_members_and_key_value_lists_are_read_without_panicking() {
        let v = json!({"config": [{"key": "A", "value": "1"}, {"key": 2}], "x": {"y": [1]}});
        assert_eq!(kv_pairs(&v["config"]), vec![("A".to_string(), "1".to_string()), (String::new(), String::new())]);
        assert_eq!(kv_pairs(&v["nothing"]), vec![]);
        assert_eq!(pointer(&v, "/x/y/0"), json!(1));
        assert_eq!(pointer(&v, "/x/z"), Value::Null);
    }
}
