//! `wfhost explain`: a flow told in plain text from its event log.
//!
//! The account is built from the records alone (the files they carry say the same, and
//! `verify` proves it): how the flow ended and whether its evidence verifies; the command and
//! flags; the config path and sha256; the target and how it was bound; one line per phase
//! (status, code, court, why); for a halt the code, the reason, the laws broken and the next
//! command; every side effect with what approved it; the pod's state and how to delete it; the
//! files fetched. The text carries no colours or terminal controls, so it reads the same on a
//! terminal, in a pipe and in a file.
//!
//! The log is read once, one record at a time (`Story::push` keeps what the account tells,
//! not the records), then verified in a second read. Each list (phases, side effects, refused
//! calls, host keys, fetched directories) shows at most [`LISTED`] entries and says how many
//! more there are, so the account and its memory are bounded whatever the log's length. A log
//! without a complete record is refused as `verify` refuses it: there is no flow to explain.

use super::verify::VerifyFailure;
use super::{check_flow_dir, pass, pstr, verify, EVENTS};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use wfhost_constitution::Constitution;
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
    /// The log holds no complete record: no flow to explain (as `verify` says).
    #[error("{0}; there is nothing to explain")]
    NoRecords(VerifyFailure),
    /// The embedded constitution is broken (a build problem).
    #[error("{0}")]
    Internal(String),
}

/// Longest "why" shown on a phase line.
const WHY: usize = 160;

/// Most entries shown in each list of the account.
pub const LISTED: usize = 200;

/// A list of lines that keeps the first [`LISTED`] and counts the rest.
#[derive(Debug, Default)]
struct Listed {
    lines: Vec<String>,
    more: u64,
}

impl Listed {
    fn push(&mut self, line: impl FnOnce() -> String) {
        if self.lines.len() < LISTED {
            self.lines.push(line());
        } else {
            self.more += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.more == 0
    }

    fn write(&self, w: &mut String, what: &str) {
        for l in &self.lines {
            let _ = writeln!(w, "{l}");
        }
        if self.more > 0 {
            let _ = writeln!(w, "  ... and {} more {what} (events.jsonl has them all)", self.more);
        }
    }
}

/// What a phase's first outcome and verdict records say.
#[derive(Debug, Default)]
struct PhaseTold {
    outcome: Option<(String, String, String)>,
    verdict: Option<(String, String, String, String)>,
}

/// What the account tells, folded from the records one at a time.
#[derive(Default)]
struct Story {
    flow_id: Option<String>,
    started: Option<Envelope>,
    summary: Option<Envelope>,
    /// Type, line and time of the last record.
    last: Option<(String, u64, String)>,
    headers: BTreeMap<String, String>,
    /// Target and target_source of P20's first outcome.
    bound: Option<(Option<String>, Option<String>)>,
    /// Phases in the order they started (ids), and what each one's records say.
    phases: Vec<String>,
    more_phases: u64,
    told: BTreeMap<String, PhaseTold>,
    halt: Option<Envelope>,
    /// The last `flow.halted` record.
    flow_halted: Option<Envelope>,
    /// The first `plugins.loaded` record.
    plugins_loaded: Option<Envelope>,
    /// The latest consent and capability grants (kind, id, line), for the side effects.
    consent: Option<(String, String, u64)>,
    grants: BTreeMap<String, (String, String, u64)>,
    effects: Listed,
    issued: BTreeMap<(String, String), usize>,
    accepted: Listed,
    refused: Listed,
    fetched: usize,
    dirs: BTreeMap<String, usize>,
    more_dirs: usize,
}

impl Story {
    fn push(&mut self, e: Envelope) {
        self.flow_id.get_or_insert_with(|| e.correlation_id.clone());
        self.last = Some((e.event_type.clone(), e.seq + 1, e.occurred_at.to_string()));
        let line = e.seq + 1;
        match e.event_type.as_str() {
            "flow.started" if self.started.is_none() => self.started = Some(e),
            "flow.summary" => self.summary = Some(e),
            "flow.halted" => self.flow_halted = Some(e),
            "plugins.loaded" if self.plugins_loaded.is_none() => self.plugins_loaded = Some(e),
            "flow.header" => {
                self.headers.insert(pstr(&e, "key").to_string(), pstr(&e, "value").to_string());
            }
            "phase.started" => {
                if self.phases.len() < LISTED {
                    self.phases.push(pstr(&e, "phase").to_string());
                } else {
                    self.more_phases += 1;
                }
            }
            "phase.outcome" => {
                let id = pstr(&e, "phase").to_string();
                if id == "P20" && self.bound.is_none() {
                    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
                    self.bound = Some((text(e.payload.get("target")), text(e.payload.pointer("/facts/target_source"))));
                }
                if self.told.len() < LISTED || self.told.contains_key(&id) {
                    let told = self.told.entry(id).or_default();
                    told.outcome.get_or_insert_with(|| {
                        (pstr(&e, "status").to_string(), e.payload.get("code").map(Value::to_string).unwrap_or_default(), pstr(&e, "message").to_string())
                    });
                }
            }
            "court.verdict" => {
                let id = pstr(&e, "phase").to_string();
                if self.told.len() < LISTED || self.told.contains_key(&id) {
                    let told = self.told.entry(id).or_default();
                    told.verdict.get_or_insert_with(|| {
                        let s = |k: &str| pstr(&e, k).to_string();
                        (s("court"), s("deterministic"), s("constitutional"), s("halt_reason"))
                    });
                }
                if self.halt.is_none() && pstr(&e, "court") != "pass" {
                    self.halt = Some(e);
                }
            }
            "consent.given" => self.consent = Some((e.actor.kind.clone(), e.actor.id.clone(), line)),
            "capability.granted" => {
                if let Some(cap) = &e.capability_id {
                    self.grants.insert(cap.clone(), (e.actor.kind.clone(), e.actor.id.clone(), line));
                }
            }
            "receipt.side_effect" => {
                let approval = self.approval(&e);
                self.effects.push(|| {
                    format!(
                        "  {} {} on {} (idempotency key {}): approved by {}{approval}",
                        pstr(&e, "phase"),
                        pstr(&e, "op"),
                        pstr(&e, "target"),
                        pstr(&e, "idempotency_key"),
                        pstr(&e, "approved_by")
                    )
                });
            }
            "secret.issued" => {
                let key = (pstr(&e, "handle").to_string(), pstr(&e, "requester").to_string());
                if self.issued.len() < LISTED || self.issued.contains_key(&key) {
                    *self.issued.entry(key).or_insert(0) += 1;
                }
            }
            "host_key.accepted" => self.accepted.push(|| {
                format!(
                    "  {} {} {} (added to {})",
                    pstr(&e, "hosts"),
                    pstr(&e, "key_type"),
                    e.payload.get("fingerprint").and_then(Value::as_str).unwrap_or("(no fingerprint)"),
                    pstr(&e, "known_hosts")
                )
            }),
            "gateway.refused" => self.refused.push(|| {
                format!(
                    "  line {line}: {} on {}: {}",
                    pstr(&e, "op"),
                    e.payload.get("target").map(Value::to_string).unwrap_or_default(),
                    shorten(pstr(&e, "detail"), WHY)
                )
            }),
            "artifact.written" => {
                self.fetched += 1;
                let (path, name) = (pstr(&e, "path"), pstr(&e, "name"));
                let dir = path.strip_suffix(name).map(|d| d.trim_end_matches('/')).unwrap_or(path);
                if self.dirs.len() < LISTED || self.dirs.contains_key(dir) {
                    *self.dirs.entry(dir.to_string()).or_insert(0) += 1;
                } else {
                    self.more_dirs += 1;
                }
            }
            _ => {}
        }
    }

    /// What the records show approved a side effect: the consent for a provision, the
    /// capability grant otherwise.
    fn approval(&self, receipt: &Envelope) -> String {
        let mut parts = Vec::new();
        if pstr(receipt, "op") == "provision" {
            if let Some((kind, id, line)) = &self.consent {
                parts.push(format!("consent given by {kind} {id} (line {line})"));
            }
        }
        if let Some(cap) = &receipt.capability_id {
            if let Some((kind, id, line)) = self.grants.get(cap) {
                parts.push(format!("capability {cap} granted by {kind} {id} (line {line})"));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; {}", parts.join("; "))
        }
    }
}

/// The flow in `flow_dir`, explained (module doc).
pub fn explain(flow_dir: &Path) -> Result<String, ExplainError> {
    let flow_dir = check_flow_dir(flow_dir).map_err(ExplainError::NotAFlow)?;
    let c = Constitution::get().map_err(|e| ExplainError::Internal(e.to_string()))?;
    let mut story = Story::default();
    let mut reader = wfhost_evidence::Reader::open(&flow_dir.join(EVENTS))?;
    for record in &mut reader {
        story.push(record?.envelope);
    }
    let tail = reader.tail().cloned().unwrap_or(Tail::Clean);
    if story.last.is_none() {
        return Err(ExplainError::NoRecords(pass::no_records(&flow_dir, &tail)));
    }
    let mut out = String::new();
    let w = &mut out;
    let header = |key: &str| story.headers.get(key).cloned();
    let summary = story.summary.as_ref();

    // How it ended.
    let flow_id = story.flow_id.as_deref().unwrap_or("(no records)");
    // A halt the court did not decide: evidence that could not be written, or a signal.
    let halt = story.flow_halted.as_ref().and_then(|h| crate::records::parse::<crate::records::FlowHalted>(&h.payload).ok());
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
            story.last.as_ref().map(|(ty, line, at)| format!("{ty} at line {line} ({at})")).unwrap_or_else(|| "no record".into()),
            if matches!(tail, Tail::Partial { .. }) { ", followed by a crash's partial line" } else { "" }
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
    if let Some(s) = &story.started {
        let _ = writeln!(w, "command:  {}", command_line(s));
        let _ = writeln!(w, "workdir:  {}", pstr(s, "workdir"));
        let _ = writeln!(w, "started:  {}{}", s.occurred_at, summary.map(|e| format!(", finished {}", e.occurred_at)).unwrap_or_default());
    }
    let _ = writeln!(w, "config:   {}", header("active_config_path").unwrap_or_else(|| "(not recorded)".into()));
    let sha = header("active_config_sha256").filter(|s| !s.is_empty()).unwrap_or_else(|| "(not read)".into());
    let _ = writeln!(w, "          sha256 {sha}, override {}", header("override_enabled").unwrap_or_else(|| "(not recorded)".into()));
    let bound_target = story.bound.as_ref().and_then(|(t, _)| t.clone());
    let target_line = match &bound_target {
        Some(t) => {
            let how = match story.bound.as_ref().and_then(|(_, s)| s.as_deref()) {
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
    if let Some(loaded) = &story.plugins_loaded {
        let _ = writeln!(w, "components:");
        let p = &loaded.payload;
        let roles = [("transport", p.get("transport")), ("executor", p.get("executor"))];
        let auditors = p.get("auditors").and_then(Value::as_array).into_iter().flatten().map(|a| ("auditor", Some(a)));
        for (role, c) in roles.into_iter().chain(auditors) {
            let Some(c) = c else { continue };
            let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
            let pack = match c.get("pack").filter(|v| v.is_object()) {
                Some(pk) => {
                    let pt = |k: &str| pk.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
                    let signer = pk.pointer("/signature/key_id").and_then(Value::as_str).map(|k| format!(", signed by ed25519:{}", &k[..k.len().min(16)])).unwrap_or_default();
                    format!(" from pack {}@{} (identity {}{signer})", pt("id"), pt("version"), &pt("identity")[..pt("identity").len().min(16)])
                }
                None => String::new(),
            };
            let _ = writeln!(w, "  {role:<9} {} sha256 {}{pack}", text("component"), text("sha256"));
        }
    }

    // Phases.
    let _ = writeln!(w, "phases:");
    for id in &story.phases {
        let name = c.phase(id).map(|p| p.name.as_str()).unwrap_or("?");
        let told = story.told.get(id);
        let line = match (told.and_then(|t| t.outcome.as_ref()), told.and_then(|t| t.verdict.as_ref())) {
            (None, _) => "did not finish (no outcome recorded)".to_string(),
            (Some((status, code, message)), v) => {
                let court = match v {
                    Some((court, _, _, _)) if court == "pass" => "court pass".to_string(),
                    Some((_, det, constitutional, _)) => format!("court FAIL (deterministic {det}, constitutional {constitutional})"),
                    None => "no verdict recorded".to_string(),
                };
                let why = match v {
                    Some((court, _, _, halt_reason)) if court != "pass" => halt_reason.as_str(),
                    _ => message.as_str(),
                };
                format!("{status:<4} code {code:<3}  {court}  {}", shorten(why, WHY))
            }
        };
        let _ = writeln!(w, "  {id} {name:<13} {line}");
    }
    if story.more_phases > 0 {
        let _ = writeln!(w, "  ... and {} more phase.started record(s) (events.jsonl has them all)", story.more_phases);
    }
    if story.phases.is_empty() {
        let _ = writeln!(w, "  (none ran)");
    }

    // The halt.
    if let Some(v) = &story.halt {
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
    story.effects.write(w, "side effect(s)");
    if story.effects.is_empty() {
        let _ = writeln!(w, "  none recorded");
    }
    // Secrets the host handed to processes, by handle (never the value).
    if !story.issued.is_empty() {
        let _ = writeln!(w, "secrets issued (handles only; the values never left the host):");
        for ((handle, requester), n) in &story.issued {
            let _ = writeln!(w, "  {handle} to {requester}, {n} time(s)");
        }
    }
    // Host keys trusted on first use (WF_SSH_ACCEPT_NEW=1).
    if !story.accepted.is_empty() {
        let _ = writeln!(w, "host keys trusted on first use (WF_SSH_ACCEPT_NEW=1):");
        story.accepted.write(w, "host key(s)");
    }
    if !story.refused.is_empty() {
        let _ = writeln!(w, "refused calls:");
        story.refused.write(w, "refused call(s)");
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
            let _ = writeln!(w, "pod:      unknown: the flow did not finish{}", bound_target.as_ref().map(|t| format!("; check it with: wfhost pod-status --target {t}")).unwrap_or_default());
        }
    }

    // Files fetched.
    if story.fetched == 0 {
        let _ = writeln!(w, "fetched:  none");
    } else {
        let _ = writeln!(w, "fetched:  {} file(s), sha256 of each recorded in {EVENTS}:", story.fetched);
        for (dir, n) in &story.dirs {
            let _ = writeln!(w, "  {dir} ({n} file(s))");
        }
        if story.more_dirs > 0 {
            let _ = writeln!(w, "  ... and {} more file(s) in other directories (events.jsonl has them all)", story.more_dirs);
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
