//! `WF_SUBAGENT_VALIDATOR_CMD`: an external court, as the original workflow ran them.
//!
//! The command runs as `sh -c '<cmd> --evidence E --output O --phase Pxx'` in the flow
//! directory, with the phase's flat evidence pack (`wfhost_audit::pack`: the constitution's
//! minimum members, `applicable_laws` by their descriptive ids, `flow_start_artifact`) as JSON
//! both in file E and on stdin, a hard timeout (`WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS`), a
//! cleared environment and its own process group. It writes a verdict JSON to O, or to stdout:
//! `{phase, status: pass|fail|unverified, pass, violations, violated_laws, remediation, …}`
//! (`status` or `pass`; laws by id `L3` or alias `LAW_3_TARGET_RESOLUTION`). Anything else — a
//! timeout, a non-zero exit, no verdict, malformed JSON, an unknown status or law — is
//! `unverified`, which fails the phase.

use super::AuditorRecord;
use crate::types::{AuditRequest, Verdict, VerdictStatus};
use wfhost_constitution::Constitution;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use std::sync::Arc;
use wfhost_audit::layout::{FlowDir, PhaseFile};
use wfhost_runtime::process::{NoSecrets, ProcessPolicy, ProcessRequest, ProcessRunner};

/// A configured external auditor.
#[derive(Debug, Clone)]
pub struct ExternalAuditor {
    /// The command line.
    pub command: String,
    /// Hard timeout.
    pub timeout: Duration,
    /// The flow's environment (the command gets a cleared one; this only locates programs).
    pub env: std::collections::BTreeMap<String, String>,
}

impl ExternalAuditor {
    /// Run it on one phase. Never fails: problems become `unverified`.
    pub fn audit(&self, c: &Constitution, req: &AuditRequest, pack_file: Option<&Value>, flow_dir: &Path) -> AuditorRecord {
        let t0 = Instant::now();
        let phase = req.pack.phase.clone();
        let fd = FlowDir::new(flow_dir);
        let dir = fd.phase_dir();
        let evidence = fd.phase_file(&phase, PhaseFile::ExternalInput);
        let output = fd.phase_file(&phase, PhaseFile::ExternalVerdict);
        let unverified = |kind: &str, message: String| AuditorRecord {
            name: "external".into(),
            status: VerdictStatus::Unverified,
            verdict: None,
            reason_kind: Some(kind.into()),
            message,
            fuel_used: None,
            duration_ms: t0.elapsed().as_millis() as u64,
        };
        let input = pack_file.cloned().unwrap_or_else(|| super::pack_value(&req.pack).unwrap_or(Value::Null));
        let body = match serde_json::to_vec_pretty(&input) {
            Ok(b) => b,
            Err(e) => return unverified("internal", format!("cannot encode the evidence pack: {e}")),
        };
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&evidence, &body)) {
            return unverified(super::EVIDENCE_WRITE, format!("cannot write {}: {e}", evidence.display()));
        }
        let _ = std::fs::remove_file(&output);
        let line = format!(
            "{} --evidence {} --output {} --phase {phase}",
            self.command,
            wfhost_config::manifest::sh_quote(&evidence.display().to_string()),
            wfhost_config::manifest::sh_quote(&output.display().to_string()),
        );
        let mut policy = ProcessPolicy::new(["sh"], &self.env);
        policy.max_output_bytes = 1 << 20;
        let runner = ProcessRunner::new(policy, Arc::new(NoSecrets));
        let run = runner.run(&ProcessRequest {
            program: "sh".into(),
            args: vec!["-c".into(), line],
            cwd: Some(flow_dir.to_path_buf()),
            env: vec![],
            secret_env: vec![],
            stdin: Some(body),
            timeout: self.timeout,
        });
        let result = match run {
            Ok(r) => r,
            Err(e) => return unverified("spawn_failed", format!("{}: {e}", self.command)),
        };
        if result.timed_out {
            return unverified("deadline", format!("{} did not finish within {}s", self.command, self.timeout.as_secs()));
        }
        if result.exit_code != Some(0) {
            let how = match result.exit_code {
                Some(code) => format!("exited with status {code}"),
                None => "was killed by a signal".to_string(),
            };
            return unverified("exit_status", format!("{} {how}: {}", self.command, tail(&String::from_utf8_lossy(&result.stderr))));
        }
        let text = std::fs::read_to_string(&output).ok().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| String::from_utf8_lossy(&result.stdout).into_owned());
        match parse_verdict(c, &text, req) {
            Ok(v) => AuditorRecord {
                name: "external".into(),
                status: v.status,
                verdict: Some(v),
                reason_kind: None,
                message: String::new(),
                fuel_used: None,
                duration_ms: t0.elapsed().as_millis() as u64,
            },
            Err(e) => unverified("malformed_verdict", e),
        }
    }
}

fn tail(s: &str) -> String {
    let t: Vec<&str> = s.lines().rev().take(5).collect();
    t.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// Parse and sanity-check a verdict document (the original courts' form or the WIT one).
pub fn parse_verdict(c: &Constitution, text: &str, req: &AuditRequest) -> Result<Verdict, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("verdict is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("the verdict is not a JSON object".into());
    }
    let from_status = match v.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "pass" => Some(VerdictStatus::Pass),
        Some(Value::String(s)) if s == "fail" => Some(VerdictStatus::Fail),
        Some(Value::String(s)) if s == "unverified" => Some(VerdictStatus::Unverified),
        Some(other) => return Err(format!("verdict status {other} is not pass, fail or unverified")),
    };
    let from_pass = match v.get("pass") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(true)) => Some(VerdictStatus::Pass),
        Some(Value::Bool(false)) => Some(VerdictStatus::Fail),
        Some(other) => return Err(format!("verdict member pass is {other}, not true or false")),
    };
    let status = match (from_status, from_pass) {
        (Some(s), None) => s,
        (None, Some(p)) => p,
        (Some(VerdictStatus::Unverified), Some(VerdictStatus::Fail)) => VerdictStatus::Unverified,
        (Some(s), Some(p)) if s == p => s,
        (Some(_), Some(_)) => return Err("the verdict's status and pass disagree".into()),
        (None, None) => return Err("the verdict has neither status (pass|fail|unverified) nor pass (true|false)".into()),
    };
    let strings = |k: &str| -> Result<Vec<String>, String> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    // A structured violation is kept as its JSON text.
                    Value::Object(_) if k == "violations" => Ok(x.to_string()),
                    _ => Err(format!("{k} must hold strings")),
                })
                .collect(),
            Some(_) => Err(format!("{k} must be a list of strings")),
        }
    };
    let mut laws = Vec::new();
    for named in strings("violated_laws")? {
        let law = c
            .law_by_id_or_alias(&named)
            .ok_or_else(|| format!("verdict names law {named}, which is neither a law id nor an alias of constitution/laws.toml"))?;
        if !laws.contains(&law.id) {
            laws.push(law.id.clone());
        }
    }
    let mut reasons = strings("reasons")?;
    reasons.extend(strings("violations")?);
    let verdict = Verdict {
        status,
        violated_laws: laws,
        evidence_refs: strings("evidence_refs")?,
        reasons,
        remediation: strings("remediation")?.join("; "),
    };
    for law in &verdict.violated_laws {
        if !req.laws.iter().any(|l| &l.id == law) {
            return Err(format!("verdict names law {law}, which does not apply to {}", req.pack.phase));
        }
    }
    if status == VerdictStatus::Fail && verdict.violated_laws.is_empty() {
        return Err("a fail verdict must name the violated laws".into());
    }
    Ok(verdict)
}
