//! `WF_SUBAGENT_VALIDATOR_CMD`: an external auditor command, for existing setups.
//!
//! The command runs as `sh -c '<cmd> --evidence E --output O --phase Pxx'` with the audit
//! request as JSON both in file E and on stdin, a hard timeout
//! (`WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS`), a cleared environment and its own process group.
//! It must write a verdict JSON (`status`, `violated_laws`, `evidence_refs`, `reasons`,
//! `remediation`) to O, or to stdout. Anything else — a timeout, a non-zero exit, no verdict,
//! malformed JSON, an unknown status — is `unverified`.

use super::AuditorRecord;
use crate::types::{AuditRequest, Verdict, VerdictStatus};
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
    pub fn audit(&self, req: &AuditRequest, flow_dir: &Path) -> AuditorRecord {
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
        let body = match serde_json::to_vec_pretty(req) {
            Ok(b) => b,
            Err(e) => return unverified("internal", format!("cannot encode the evidence pack: {e}")),
        };
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&evidence, &body)) {
            return unverified("internal", format!("cannot write {}: {e}", evidence.display()));
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
            return unverified("exit_status", format!("{} exited with {:?}: {}", self.command, result.exit_code, tail(&String::from_utf8_lossy(&result.stderr))));
        }
        let text = std::fs::read_to_string(&output).ok().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| String::from_utf8_lossy(&result.stdout).into_owned());
        match parse_verdict(&text, req) {
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

/// Parse and sanity-check a verdict document.
pub fn parse_verdict(text: &str, req: &AuditRequest) -> Result<Verdict, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("verdict is not JSON: {e}"))?;
    let status = match v.get("status").and_then(Value::as_str) {
        Some("pass") => VerdictStatus::Pass,
        Some("fail") => VerdictStatus::Fail,
        Some("unverified") => VerdictStatus::Unverified,
        other => return Err(format!("verdict status {other:?} is not pass, fail or unverified")),
    };
    let strings = |k: &str| -> Result<Vec<String>, String> {
        match v.get(k) {
            None => Ok(vec![]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(|| format!("{k} must hold strings")))
                .collect(),
            Some(_) => Err(format!("{k} must be a list of strings")),
        }
    };
    let verdict = Verdict {
        status,
        violated_laws: strings("violated_laws")?,
        evidence_refs: strings("evidence_refs")?,
        reasons: strings("reasons")?,
        remediation: v.get("remediation").and_then(Value::as_str).unwrap_or("").to_string(),
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
