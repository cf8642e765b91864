//! `wfhost explain`: a flow told in plain text from its event log.
//!
//! The account is built from the records alone (the files they carry say the same, and
//! `verify` proves it): how the flow ended and whether its evidence verifies; the command and
//! flags; the config path and sha256; the target and how it was bound; one line per phase
//! (status, code, court, why); for a halt the code, the reason, the laws broken and the next
//! command; every side effect with what approved it; the pod's state and how to delete it; the
//! files fetched. The text carries no colours or terminal controls, so it reads the same on a
//! terminal, in a pipe and in a file.

use super::{check_flow_dir, pstr, verify, Log, EVENTS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use wfhost_constitution::{Constitution, PhaseId};
use wfhost_evidence::{Envelope, Tail};

/// Why a flow could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The path is not a flow's evidence directory.
    #[error("{0}")]
    NotAFlow(String),
    /// The log cannot be read as records at all.
    #[error("{0}; the log cannot be read as records, so there is nothing to explain (run `wfhost verify` on it)")]
    Log(#[from] wfhost_evidence::VerifyError),
    /// The embedded constitution is broken (a build problem).
    #[error("{0}")]
    Internal(String),
}

/// Longest "why" shown on a phase line.
const WHY: usize = 160;

/// The flow in `flow_dir`, explained (module doc).
pub fn explain(flow_dir: &Path) -> Result<String, ExplainError> {
    let flow_dir = check_flow_dir(flow_dir).map_err(ExplainError::NotAFlow)?;
    let c = Constitution::get().map_err(|e| ExplainError::Internal(e.to_string()))?;
    let log = Log::read(&flow_dir)?;
    let ev = &log.events;
    let mut out = String::new();
    let w = &mut out;
    let first = |ty: &str| ev.iter().find(|e| e.event_type == ty);
    let last = |ty: &str| ev.iter().rev().find(|e| e.event_type == ty);
    let header = |key: &str| ev.iter().rev().find(|e| e.event_type == "flow.header" && pstr(e, "key") == key).map(|e| pstr(e, "value").to_string());
    let summary = last("flow.summary");
    let started = first("flow.started");

    // How it ended.
    let flow_id = log.flow_id().unwrap_or("(no records)");
    // A halt the court did not decide: evidence that could not be written, or a signal.
    let halt = last("flow.halted").and_then(|h| crate::records::parse::<crate::records::FlowHalted>(&h.payload).ok());
    let outside_court = halt.as_ref().filter(|h| h.cause() != crate::records::HaltCause::Court).map(|h| match h.cause() {
        crate::records::HaltCause::Interrupted => format!("INTERRUPTED by {}", h.signal.as_deref().unwrap_or("a signal")),
        _ => format!("HALTED: evidence could not be written ({})", h.reason.as_deref().unwrap_or("see write failures")),
    });
    let ending = match summary {
        Some(s) if pstr(s, "verdict") == "pass" => "PASSED".to_string(),
        Some(s) if outside_court.is_some() => format!(
            "{} (exit status {})",
            outside_court.clone().unwrap_or_default(),
            s.payload.get("exit_status").map(Value::to_string).unwrap_or_default()
        ),
        Some(s) => format!(
            "HALTED at {} with code {} (exit status {})",
            s.payload.get("first_failure_phase").and_then(Value::as_str).unwrap_or("?"),
            s.payload.get("first_failure_code").map(Value::to_string).unwrap_or_default(),
            s.payload.get("exit_status").map(Value::to_string).unwrap_or_default()
        ),
        None => format!(
            "DID NOT FINISH: the log ends after {}{}",
            ev.last().map(|e| format!("{} at line {} ({})", e.event_type, e.seq + 1, e.occurred_at)).unwrap_or_else(|| "no record".into()),
            if matches!(log.tail, Tail::Partial { .. }) { ", followed by a crash's partial line" } else { "" }
        ),
    };
    let _ = writeln!(w, "flow {flow_id}: {ending}");
    let _ = match verify(&flow_dir) {
        Ok(r) => writeln!(w, "evidence: verified ({} records, hash chain intact{})", r.records, if r.warnings.is_empty() { String::new() } else { format!(", {} warning(s): run `wfhost verify`", r.warnings.len()) }),
        Err(f) => writeln!(w, "evidence: DOES NOT VERIFY: {f}\n          what follows is what the records say, and they are in doubt"),
    };
    if let Some(key) = header(crate::signing::SIGNING_HEADER) {
        let _ = writeln!(w, "signed:   {key} (check the signatures against your copy of the key: wfhost verify <flow_dir> --key <key>.pub)");
    }

    // Command, config, target.
    if let Some(s) = started {
        let _ = writeln!(w, "command:  {}", command_line(s));
        let _ = writeln!(w, "workdir:  {}", pstr(s, "workdir"));
        let _ = writeln!(w, "started:  {}{}", s.occurred_at, summary.map(|e| format!(", finished {}", e.occurred_at)).unwrap_or_default());
    }
    let _ = writeln!(w, "config:   {}", header("active_config_path").unwrap_or_else(|| "(not recorded)".into()));
    let sha = header("active_config_sha256").filter(|s| !s.is_empty()).unwrap_or_else(|| "(not read)".into());
    let _ = writeln!(w, "          sha256 {sha}, override {}", header("override_enabled").unwrap_or_else(|| "(not recorded)".into()));
    let bound = ev.iter().find(|e| e.event_type == "phase.outcome" && pstr(e, "phase") == PhaseId::P20);
    let target_line = match bound.and_then(|e| e.payload.get("target")).and_then(Value::as_str) {
        Some(t) => {
            let how = match bound.and_then(|e| e.payload.pointer("/facts/target_source")).and_then(Value::as_str) {
                Some("explicit") => "explicit (LIUM_TARGET or --target)",
                Some("autobind") => "autobind (the pod P10 created)",
                _ => "(source not recorded)",
            };
            format!("{t}, bound in P20: {how}; locked for the rest of the flow (Law 3)")
        }
        None => "none bound".into(),
    };
    let _ = writeln!(w, "target:   {target_line}");
    let _ = writeln!(w, "transport: {}", header("transport").unwrap_or_else(|| "(not recorded)".into()));

    // Phases.
    let _ = writeln!(w, "phases:");
    let mut any = false;
    for s in ev.iter().filter(|e| e.event_type == "phase.started") {
        any = true;
        let id = pstr(s, "phase");
        let name = c.phase(id).map(|p| p.name.as_str()).unwrap_or("?");
        let of = |ty: &str| ev.iter().find(|e| e.event_type == ty && pstr(e, "phase") == id);
        let line = match (of("phase.outcome"), of("court.verdict")) {
            (None, _) => "did not finish (no outcome recorded)".to_string(),
            (Some(o), v) => {
                let status = pstr(o, "status");
                let code = o.payload.get("code").map(Value::to_string).unwrap_or_default();
                let court = match v {
                    Some(v) if pstr(v, "court") == "pass" => "court pass".to_string(),
                    Some(v) => format!("court FAIL (deterministic {}, constitutional {})", pstr(v, "deterministic"), pstr(v, "constitutional")),
                    None => "no verdict recorded".to_string(),
                };
                let why = match v {
                    Some(v) if pstr(v, "court") != "pass" => pstr(v, "halt_reason").to_string(),
                    _ => pstr(o, "message").to_string(),
                };
                format!("{status:<4} code {code:<3}  {court}  {}", shorten(&why, WHY))
            }
        };
        let _ = writeln!(w, "  {id} {name:<13} {line}");
    }
    if !any {
        let _ = writeln!(w, "  (none ran)");
    }

    // The halt.
    if let Some(v) = ev.iter().find(|e| e.event_type == "court.verdict" && pstr(e, "court") != "pass") {
        let code = v.payload.get("code").and_then(Value::as_u64).unwrap_or(0);
        let known = u16::try_from(code).ok().and_then(|code| c.code(code));
        let _ = writeln!(w, "halt:");
        let _ = writeln!(w, "  {} code {code} {}: {}", pstr(v, "phase"), known.map(|k| k.name.as_str()).unwrap_or("?"), known.map(|k| k.text.as_str()).unwrap_or("(not in constitution/codes.toml)"));
        let _ = writeln!(w, "  reason: {}", pstr(v, "halt_reason"));
        let laws: Vec<String> = v
            .payload
            .get("violated_laws")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(|l| match c.law(l) { Some(law) => format!("{l} ({})", law.title), None => l.to_string() }).collect())
            .unwrap_or_default();
        let _ = writeln!(w, "  violated laws: {}", if laws.is_empty() { "none".to_string() } else { laws.join("; ") });
        let _ = writeln!(w, "  next: {}", pstr(v, "next_command"));
        let _ = writeln!(w, "  verdict: {}", flow_dir.join(crate::layout::rel_phase_file(pstr(v, "phase"), crate::layout::PhaseFile::Verdict)).display());
    }

    // Side effects and what approved them.
    let _ = writeln!(w, "side effects:");
    let receipts: Vec<&Envelope> = ev.iter().filter(|e| e.event_type == "receipt.side_effect").collect();
    for r in &receipts {
        let approval = approval(ev, r);
        let _ = writeln!(
            w,
            "  {} {} on {} (idempotency key {}): approved by {}{approval}",
            pstr(r, "phase"),
            pstr(r, "op"),
            pstr(r, "target"),
            pstr(r, "idempotency_key"),
            pstr(r, "approved_by")
        );
    }
    if receipts.is_empty() {
        let _ = writeln!(w, "  none recorded");
    }
    // Secrets the host handed to processes, by handle (never the value).
    let mut issued: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in ev.iter().filter(|e| e.event_type == "secret.issued") {
        *issued.entry((pstr(e, "handle").to_string(), pstr(e, "requester").to_string())).or_insert(0) += 1;
    }
    if !issued.is_empty() {
        let _ = writeln!(w, "secrets issued (handles only; the values never left the host):");
        for ((handle, requester), n) in issued {
            let _ = writeln!(w, "  {handle} to {requester}, {n} time(s)");
        }
    }
    // Host keys trusted on first use (WF_SSH_ACCEPT_NEW=1).
    let accepted: Vec<&Envelope> = ev.iter().filter(|e| e.event_type == "host_key.accepted").collect();
    if !accepted.is_empty() {
        let _ = writeln!(w, "host keys trusted on first use (WF_SSH_ACCEPT_NEW=1):");
        for a in accepted {
            let _ = writeln!(w, "  {} {} {} (added to {})", pstr(a, "hosts"), pstr(a, "key_type"), a.payload.get("fingerprint").and_then(Value::as_str).unwrap_or("(no fingerprint)"), pstr(a, "known_hosts"));
        }
    }
    let refused: Vec<&Envelope> = ev.iter().filter(|e| e.event_type == "gateway.refused").collect();
    if !refused.is_empty() {
        let _ = writeln!(w, "refused calls:");
        for r in refused {
            let _ = writeln!(w, "  line {}: {} on {}: {}", r.seq + 1, pstr(r, "op"), r.payload.get("target").map(Value::to_string).unwrap_or_default(), shorten(pstr(r, "detail"), WHY));
        }
    }

    // The pod.
    match summary {
        Some(s) => {
            let _ = writeln!(w, "pod:      {}", pstr(s, "pod_state"));
            if let Some(cmd) = s.payload.get("delete_command").and_then(Value::as_str) {
                let _ = writeln!(w, "          delete it with: {cmd}");
            }
        }
        None => {
            let t = bound.and_then(|e| e.payload.get("target")).and_then(Value::as_str);
            let _ = writeln!(w, "pod:      unknown: the flow did not finish{}", t.map(|t| format!("; check it with: wfhost pod-status --target {t}")).unwrap_or_default());
        }
    }

    // Files fetched.
    let fetched: Vec<&Envelope> = ev.iter().filter(|e| e.event_type == "artifact.written").collect();
    if fetched.is_empty() {
        let _ = writeln!(w, "fetched:  none");
    } else {
        let mut dirs: BTreeMap<String, usize> = BTreeMap::new();
        for a in &fetched {
            let (path, name) = (pstr(a, "path"), pstr(a, "name"));
            let dir = path.strip_suffix(name).map(|d| d.trim_end_matches('/')).unwrap_or(path);
            *dirs.entry(dir.to_string()).or_insert(0) += 1;
        }
        let _ = writeln!(w, "fetched:  {} file(s), sha256 of each recorded in {EVENTS}:", fetched.len());
        for (dir, n) in dirs {
            let _ = writeln!(w, "  {dir} ({n} file(s))");
        }
    }
    Ok(out)
}

/// `wfhost <command> --flag value ...` from the flow.started record.
fn command_line(started: &Envelope) -> String {
    let flags = started.payload.get("flags");
    let flag = |k: &str| flags.and_then(|f| f.get(k)).and_then(Value::as_str).map(str::to_string);
    let mut line = format!("wfhost {}", pstr(started, "command"));
    for k in ["provision", "sweep", "wait", "fetch", "teardown"] {
        if let Some(v) = flag(k) {
            let _ = write!(line, " --{k} {v}");
        }
    }
    if flag("yes").as_deref() == Some("true") {
        line.push_str(" --yes");
    }
    line
}

/// What the records show approved a side effect: the consent for a provision, the capability
/// grant otherwise.
fn approval(ev: &[Envelope], receipt: &Envelope) -> String {
    let mut parts = Vec::new();
    if pstr(receipt, "op") == "provision" {
        if let Some(c) = ev.iter().take(receipt.seq as usize).rev().find(|e| e.event_type == "consent.given") {
            parts.push(format!("consent given by {} {} (line {})", c.actor.kind, c.actor.id, c.seq + 1));
        }
    }
    if let Some(cap) = &receipt.capability_id {
        if let Some(g) = ev.iter().take(receipt.seq as usize).rev().find(|e| e.event_type == "capability.granted" && e.capability_id.as_ref() == Some(cap)) {
            parts.push(format!("capability {cap} granted by {} {} (line {})", g.actor.kind, g.actor.id, g.seq + 1));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join("; "))
    }
}

fn shorten(s: &str, n: usize) -> String {
    let s = s.replace('\n', " ");
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
