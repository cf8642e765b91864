//! The court on a phase: the court's inputs gathered and recorded, its decision taken by
//! `wfhost_audit::decision::decide` (the same rule `wfhost verify` applies), and the verdict
//! written, signed and printed.
//!
//! ```text
//! outcome ─► phase.<Pxx>.json, then phase.outcome ─► PHASE line
//!         ─► deterministic checks ─► .deterministic.json, then court.deterministic
//!         ─► evidence pack ─► .pack.json ─► auditors ─► .constitutional.json, then court.auditor
//!         ─► decide ─► .verdict.json (+ .verdict.dsse.json), then court.verdict ─► COURT line
//! ```
//!
//! Every file is written before the record that names it; the first write or append that
//! fails ends the court at once (the sink has recorded it), so no record names a missing file
//! and no COURT line is printed for a phase whose verdict is not on record.

use super::{record_status, PhaseRun, Run, TargetSource};
use crate::court::{self, deterministic};
use crate::types::Artifact;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;
use wfhost_audit::decision::{self, OutcomeView};
use wfhost_audit::pack;
use wfhost_audit::layout::{rel_phase_file, FlowDir, PhaseFile};
use wfhost_audit::records::{self, ArtifactRecord, DeterministicRecord, PassFail, PhaseOutcomeRecord, VerdictEvidence, VerdictRecord};
use wfhost_constitution::{keys, Phase, PhaseId};

impl Run<'_> {
    pub(super) fn facts(&self, phase: &Phase, run: Option<(&PhaseRun, Result<(), String>)>) -> deterministic::Facts {
        let config_sha_now = match (&self.config, phase.id.as_str()) {
            (Some(c), _) => c.rehash().ok(),
            (None, _) => None,
        };
        let mut f = deterministic::Facts {
            config_sha_start: self.config_sha_start.clone(),
            config_sha_now,
            court_enforce: self.config.as_ref().and_then(|c| c.get(keys::WF_PHASE_COURT_ENFORCE)).map(str::to_string),
            flag_problems: self.flag_problems.clone(),
            provision_needed: self.provision_needed(),
            consent: self.consent,
            bound_target: self.target.clone(),
            drift: self.gateway.drift(),
            refused: self.gateway.refused(),
            fsm_before: self.fsm.clone(),
            fsm_after: self.fsm.clone(),
            flags: self.flags.clone(),
            ..Default::default()
        };
        if let Some((run, recorded)) = run {
            f.outcome_recorded = Some(recorded);
            f.status = record_status(run.outcome.status).as_str().to_string();
            f.code = run.outcome.code;
            f.outcome_facts = run.outcome.facts.iter().map(|k| (k.key.clone(), k.value.clone())).collect();
            f.fsm_before = run.fsm_before.clone();
            f.fsm_after = run.fsm_after.clone();
            f.remote_state = run.remote_state.clone();
            f.artifacts = run
                .outcome
                .artifacts
                .iter()
                .map(|a| (a.name.clone(), artifact_problem(a, self.gateway.fetched(Path::new(&a.path)))))
                .collect();
        }
        f
    }

    pub(super) fn judge(&mut self, phase: &Phase, run: PhaseRun) -> bool {
        let fd = FlowDir::new(&self.flow_dir);
        let rel = |kind: PhaseFile| rel_phase_file(&phase.id, kind);
        let path = |kind: PhaseFile| fd.phase_file(&phase.id, kind);
        let calls = self.gateway.calls();
        let outcome = PhaseOutcomeRecord {
            phase: phase.id.to_string(),
            name: phase.name.clone(),
            status: record_status(run.outcome.status),
            code: run.outcome.code,
            message: run.outcome.message.clone(),
            started_at: run.started_at.clone(),
            duration_ms: run.duration_ms,
            target: self.target.clone(),
            fsm_before: run.fsm_before.clone(),
            fsm_after: run.fsm_after.clone(),
            facts: run.outcome.facts.iter().map(|k| (k.key.clone(), k.value.clone())).collect(),
            artifacts: run
                .outcome
                .artifacts
                .iter()
                .map(|a| ArtifactRecord { name: a.name.clone(), path: a.path.clone(), sha256: a.sha256.clone() })
                .collect(),
            details: run.outcome.details_json.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
            process_ms: self.gateway.process_ms(),
            gateway_ms: calls.iter().map(|c| c.duration_ms).sum(),
            gateway_calls: calls,
        };
        let outcome_json = records::to_value(&outcome);
        let outcome_path = path(PhaseFile::Outcome);
        // Each file is written before the record that names it; a write or an append that
        // fails stops the court here (the sink recorded it; the flow halts as internal).
        if self.sink.error().is_some() || self.sink.write_json(&rel(PhaseFile::Outcome), &outcome_path, &outcome_json).is_none() {
            return false;
        }
        let recorded = wfhost_audit::layout::read_json(&outcome_path).map(|_| ()).map_err(|e| e.to_string());
        if self.sink.event(records::PHASE_OUTCOME, &format!("{}/outcome", phase.id), outcome_json).is_none() {
            return false;
        }
        if phase.id == PhaseId::P20 {
            self.recorded_target = outcome.target.clone();
        }
        self.out.phase(&phase.id, outcome.status.as_str(), outcome.code, &outcome_path.display().to_string());

        let court_started = Instant::now();
        let facts = self.facts(phase, Some((&run, recorded)));
        let mut checks = run.pre.clone();
        checks.extend(deterministic::run(self.c, phase, deterministic::Stage::Post, &phase.post, &facts));
        let det = DeterministicRecord {
            phase: phase.id.to_string(),
            pass: decision::deterministic_pass(outcome.status, &checks),
            checks,
        };
        let det_json = records::to_value(&det);
        if !self.file_then_record(&rel(PhaseFile::Deterministic), &path(PhaseFile::Deterministic), det_json, records::COURT_DETERMINISTIC, phase, "deterministic") {
            return false;
        }

        let pack = court::evidence_pack(court::PackInput {
            c: self.c,
            phase,
            flow_id: &self.flow_id,
            config: self.config.as_ref(),
            config_sha_start: &self.config_sha_start,
            config_sha_now: facts.config_sha_now.as_deref(),
            transport: self.plugins.as_ref().map(|p| p.transport_id.clone()).unwrap_or_default(),
            bound_target: self.target.clone(),
            phase_target: self.gateway.phase_target().or(self.target.clone()),
            target_source: self.target_source.map(TargetSource::as_str).unwrap_or("pending"),
            outcome: &run.outcome,
            flags: &self.flags,
            consent: self.consent,
            fsm_before: &run.fsm_before,
            fsm_after: &run.fsm_after,
            det_pass: det.pass,
            findings: det.checks.iter().filter(|r| !r.pass).map(|r| format!("{}: {}", r.check, r.finding)).collect(),
        });
        let skipped = outcome.status == records::PhaseStatus::Skip;
        let minimum = self.pack_minimum(phase, &outcome, skipped);
        let pack_file = match court::pack_value(&pack) {
            Ok(v) => pack::flat(&minimum, v),
            Err(e) => {
                self.sink.write_failed(&rel(PhaseFile::Pack), &e);
                return false;
            }
        };
        let Some(pack_sha256) = self.sink.write_json(&rel(PhaseFile::Pack), &path(PhaseFile::Pack), &pack_file) else {
            return false;
        };
        let constitutional = match &self.plugins {
            Some(p) => court::constitutional(self.c, phase, &pack, Some(&pack_file), p, &self.flow_dir),
            None => court::constitutional_without_plugins(self.c, phase, &pack, &self.req.env),
        }
        .record(&phase.id, Some(pack_sha256));
        // An external auditor whose input file could not be written was never asked: that is
        // a failed evidence write, not the auditor's verdict.
        if let Some(a) = constitutional.auditors.iter().find(|a| a.reason_kind.as_deref() == Some(court::EVIDENCE_WRITE)) {
            self.sink.write_failed(&rel(PhaseFile::ExternalInput), &a.message);
            return false;
        }
        let const_json = records::to_value(&constitutional);
        if !self.file_then_record(&rel(PhaseFile::Constitutional), &path(PhaseFile::Constitutional), const_json, records::COURT_AUDITOR, phase, "constitutional") {
            return false;
        }

        let d = decision::decide(
            self.c,
            phase,
            OutcomeView { status: outcome.status, code: outcome.code, message: &outcome.message },
            &det.checks,
            &constitutional.auditors,
        );
        let verdict_path = path(PhaseFile::Verdict);
        let verdict = VerdictRecord {
            phase: phase.id.to_string(),
            court: PassFail::from_bool(d.court),
            deterministic: PassFail::from_bool(d.deterministic),
            constitutional: d.constitutional,
            code: d.code,
            next_command: (!d.court).then(|| self.next_command(d.code)),
            halt_reason: d.halt_reason,
            violated_laws: d.violated_laws,
            court_ms: court_started.elapsed().as_millis() as u64,
            evidence: VerdictEvidence {
                outcome: rel(PhaseFile::Outcome),
                deterministic: rel(PhaseFile::Deterministic),
                constitutional: rel(PhaseFile::Constitutional),
            },
        };
        let verdict_json = records::to_value(&verdict);
        if self.sink.write_json(&rel(PhaseFile::Verdict), &verdict_path, &verdict_json).is_none() {
            return false;
        }
        // The signature over the verdict file is written before the record, like the file.
        if let Some(signer) = &self.signer {
            if let Err(e) = wfhost_audit::signing::sign_verdict(signer, &self.flow_dir, &phase.id) {
                self.sink.write_failed(&rel(PhaseFile::VerdictEnvelope), &e);
                return false;
            }
        }
        if self.sink.event(records::COURT_VERDICT, &format!("{}/verdict", phase.id), verdict_json).is_none() {
            return false;
        }
        self.out.court(
            &phase.id,
            verdict.court.as_str(),
            verdict.deterministic.as_str(),
            verdict.constitutional.as_str(),
            &verdict_path.display().to_string(),
        );
        if !d.court {
            self.first_failure = Some((phase.id.to_string(), verdict.code));
            if let Some(reason) = &verdict.halt_reason {
                self.out.note(&format!("halted at {} (code {}): {reason}", phase.id, verdict.code));
            }
        }
        d.court
    }

    /// Write an evidence file, then append the record that carries it; false (the flow halts,
    /// the sink recorded why) when either fails.
    fn file_then_record(&self, rel: &str, path: &Path, value: Value, record: &str, phase: &Phase, what: &str) -> bool {
        self.sink.write_json(rel, path, &value).is_some() && self.sink.event(record, &format!("{}/{what}", phase.id), value).is_some()
    }

    /// The minimum members of the phase's evidence pack (the constitution's names).
    fn pack_minimum(&self, phase: &Phase, outcome: &PhaseOutcomeRecord, skipped: bool) -> pack::Minimum {
        let config = self.config.as_ref();
        let setting = |key: &str| config.and_then(|c| c.get_by_name(key)).filter(|v| !v.is_empty()).map(str::to_string);
        let transport = self.plugins.as_ref().map(|p| p.transport_id.clone()).unwrap_or_default();
        let mut flags: std::collections::BTreeMap<String, String> = self.flags.to_pairs().into_iter().collect();
        // A phase named by the command as typed (phases.toml `command_flag = "command"`).
        flags.insert("command".into(), self.req.plan.name().to_string());
        pack::Minimum {
            flow_id: self.flow_id.clone(),
            phase_id: phase.id.to_string(),
            started_at: outcome.started_at.clone(),
            ended_at: pack::ended_at(&outcome.started_at, outcome.duration_ms),
            active_config_path: config.map(|c| c.path().display().to_string()),
            active_config_sha256: self.config_sha_start.clone(),
            lium_target: outcome.target.clone(),
            ops_default_host: setting(keys::OPS_DEFAULT_HOST.name()),
            transport_hint: pack::transport_hint(&transport, outcome.target.as_deref()),
            remote_env_path: setting(keys::REMOTE_ENV_PATH.name()),
            fsm_before: outcome.fsm_before.clone(),
            fsm_after: outcome.fsm_after.clone(),
            command_name: phase.command_name(&flags, skipped).unwrap_or_default().to_string(),
            command_rc: outcome.code,
            phase_status: outcome.status.as_str().to_string(),
            repo_url: setting(keys::REPO_URL.name()),
            teardown_mode: self.flags.teardown.to_string(),
            applicable_laws: pack::law_aliases(self.c, &phase.laws),
            flow_start_artifact: wfhost_audit::layout::FLOW_START.to_string(),
        }
    }

    pub(super) fn next_command(&self, code: u16) -> String {
        let target = self.target.clone().or_else(|| self.explicit_target.clone()).unwrap_or_else(|| "<target>".into());
        self.c
            .code(code)
            .map(|c| c.next.replace("{flow_dir}", &self.flow_dir.display().to_string()).replace("{target}", &target))
            .unwrap_or_else(|| format!("wfhost explain {}", self.flow_dir.display()))
    }
}

/// What is wrong with a local artifact the phase listed (missing, not a regular file, digest
/// mismatch), if anything; remote paths are the phase's own checks' business. A file a fetch
/// wrote (`recorded`: its sha256 and size, hashed once as it was written) is checked against
/// that record and its size on disk, never hashed again; any other file is hashed as a stream.
fn artifact_problem(a: &Artifact, recorded: Option<(String, u64)>) -> Option<String> {
    let path = Path::new(&a.path);
    if !path.is_absolute() {
        return None; // A remote path: the phase's own checks cover it.
    }
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) => return Some(format!("{} unreadable: {e}", a.path)),
        Ok(m) if !m.is_file() => return Some(format!("{} is not a regular file", a.path)),
        Ok(m) => m,
    };
    let actual = match recorded {
        Some((sha, size)) if size == meta.len() => sha,
        Some((_, size)) => return Some(format!("{} is {} bytes, {size} when it was fetched", a.path, meta.len())),
        None => match wfhost_evidence::hash::sha256_file(path) {
            Ok(sha) => sha,
            Err(e) => return Some(format!("{} unreadable: {e}", a.path)),
        },
    };
    match &a.sha256 {
        Some(want) if *want != actual => Some(format!("{} sha256 mismatch", a.path)),
        _ => None,
    }
}
