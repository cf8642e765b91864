//! A flow's story as structured data: what `explain --json`, `status` and `report` tell.
//!
//! ```text
//! <flow_dir>/events.jsonl ──► wfhost_evidence::read ──► Story::from_events ──► Story
//!                                                        (command, ending, target, phases with
//!                                                         their verdicts, side effects and what
//!                                                         approved them, pod, fetched runs)
//! ```
//!
//! Everything comes from the records (the files they carry say the same, and `verify` proves
//! it). The records may come from a tampered or hostile log, so every member is read with a
//! fallback: a missing or mistyped member is absent here, never a panic. Nothing is checked
//! here; callers that need to know whether the evidence holds run `verify` beside it.

use crate::layout::EVENTS;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wfhost_constitution::Constitution;
use wfhost_evidence::{Envelope, Tail};

/// How a flow ended, as its records tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Ending {
    /// Every phase passed its court.
    Passed {
        /// The process exit status recorded.
        exit_status: Option<i64>,
    },
    /// A court failed a phase.
    Halted {
        /// The phase of the first failing verdict.
        phase: Option<String>,
        /// Its code.
        code: Option<u64>,
        /// The process exit status recorded.
        exit_status: Option<i64>,
    },
    /// The log has no `flow.summary` record: the flow is running, or died.
    Unfinished {
        /// The type of the last complete record.
        last_event: Option<String>,
        /// Its 1-based line.
        last_line: Option<u64>,
        /// Whether a crash's partial line follows it.
        partial_tail: bool,
    },
}

/// One phase as its records tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseStory {
    /// `P00`..`P99`.
    pub phase: String,
    /// Its name in the phase table (`?` when the table has no such phase).
    pub name: String,
    /// `ok`, `skip`, `fail`; `None` when it has no outcome (it did not finish).
    pub status: Option<String>,
    /// The outcome's code.
    pub code: Option<u64>,
    /// The outcome's message.
    pub message: Option<String>,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// How long it took.
    pub duration_ms: Option<u64>,
    /// The court: `pass` or `fail`; `None` without a verdict.
    pub court: Option<String>,
    /// The deterministic validator's part.
    pub deterministic: Option<String>,
    /// The auditors' part.
    pub constitutional: Option<String>,
    /// Why the flow halts here.
    pub halt_reason: Option<String>,
    /// Laws the court found broken.
    pub violated_laws: Vec<String>,
    /// What to run next, when it halts here.
    pub next_command: Option<String>,
    /// The phase's facts.
    pub facts: BTreeMap<String, String>,
}

/// A side effect, with what approved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideEffect {
    /// 1-based line of its `receipt.side_effect` record.
    pub line: u64,
    /// The phase.
    pub phase: String,
    /// `provision`, `delete-pod`, `exec`, ...
    pub op: String,
    /// The target it acted on.
    pub target: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// What the receipt names as approval (`consent`, `flag:--yes`, a grant).
    pub approved_by: String,
    /// What the call returned, shortened.
    pub result: String,
    /// The consent before it (`consent given by <actor> (line n)`), for a provision or a deletion.
    pub consent: Option<String>,
    /// The capability grant it ran under (`<id> granted by <actor> (line n)`).
    pub capability: Option<String>,
}

/// A call the gateway refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    /// 1-based line of its record.
    pub line: u64,
    /// The operation.
    pub op: String,
    /// The target it named.
    pub target: Option<String>,
    /// Why.
    pub detail: String,
}

/// A secret handed to processes, by handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretIssued {
    /// The handle.
    pub handle: String,
    /// Who asked for it.
    pub requester: String,
    /// How many times.
    pub times: u64,
}

/// A host key trusted on first use (WF_SSH_ACCEPT_NEW=1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostKey {
    /// The host names it is for.
    pub hosts: String,
    /// The key type.
    pub key_type: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// What became of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodFate {
    /// `running`, `deleted`, `vanished`, `none` or `unknown` (the flow did not finish).
    pub state: String,
    /// The summary's words, or why it is unknown.
    pub detail: String,
    /// The command that deletes a pod this flow created and left running.
    pub delete_command: Option<String>,
}

/// A file fetched back from the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetched {
    /// The run it belongs to, when the fetch phase named one (`run:<id>/...`).
    pub run_id: Option<String>,
    /// Its name within the run directory.
    pub name: String,
    /// Where it was written, as recorded (relative to the flow directory, or absolute).
    pub path: String,
    /// Its sha256 as recorded.
    pub sha256: Option<String>,
    /// Its size as recorded.
    pub size: Option<u64>,
}

/// A flow's story (module doc).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Story {
    /// The flow directory.
    pub flow_dir: PathBuf,
    /// The flow id (the correlation id of its records; the directory name without records).
    pub flow_id: String,
    /// Complete records.
    pub records: u64,
    /// The command (`flow`, `pod-up`, ...).
    pub command: Option<String>,
    /// The command line, rebuilt from the recorded flags.
    pub command_line: Option<String>,
    /// The flags in force.
    pub flags: BTreeMap<String, String>,
    /// The directory wfhost ran in.
    pub workdir: Option<String>,
    /// The wfhost version that ran it.
    pub wfhost_version: Option<String>,
    /// When the first record was written.
    pub started: Option<String>,
    /// When the `flow.summary` record was written.
    pub finished: Option<String>,
    /// When the last record was written.
    pub last_record_at: Option<String>,
    /// Milliseconds from the first record to the summary (or to the last record).
    pub duration_ms: Option<u64>,
    /// How it ended.
    pub ending: Ending,
    /// The constitutional header, by key.
    pub header: BTreeMap<String, String>,
    /// The bound target.
    pub target: Option<String>,
    /// `explicit` or `autobind`.
    pub target_source: Option<String>,
    /// The phases, in the order they started.
    pub phases: Vec<PhaseStory>,
    /// Side effects and their approvals.
    pub side_effects: Vec<SideEffect>,
    /// Refused calls.
    pub refused: Vec<Refused>,
    /// Secrets issued to processes, by handle (never the value).
    pub secrets_issued: Vec<SecretIssued>,
    /// Host keys trusted on first use.
    pub host_keys_accepted: Vec<HostKey>,
    /// The pod's fate.
    pub pod: PodFate,
    /// Files fetched back.
    pub fetched: Vec<Fetched>,
    /// The signing key id when the flow is signed.
    pub signed_by: Option<String>,
}

/// Why a story could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoryError {
    /// The path is not a flow's evidence directory.
    #[error("{0}")]
    NotAFlow(String),
    /// The log cannot be read as records.
    #[error("{0}")]
    Log(#[from] wfhost_evidence::VerifyError),
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn p<'a>(e: &'a Envelope, key: &str) -> &'a str {
    e.payload.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The flow's evidence directory, or why `dir` is not one (the check every audit command makes).
pub fn check_dir(dir: &Path) -> Result<(), String> {
    crate::check_flow_dir(dir).map(|_| ())
}

impl Story {
    /// Read the story of the flow in `flow_dir`.
    pub fn read(flow_dir: &Path) -> Result<Story, StoryError> {
        check_dir(flow_dir).map_err(StoryError::NotAFlow)?;
        let contents = wfhost_evidence::read(&flow_dir.join(EVENTS))?;
        Ok(Story::from_events(flow_dir, &contents.events, matches!(contents.tail, Tail::Partial { .. })))
    }

    /// The story of `events` (the complete records of the log in `flow_dir`).
    pub fn from_events(flow_dir: &Path, ev: &[Envelope], partial_tail: bool) -> Story {
        let c = Constitution::get().ok();
        let first = |ty: &str| ev.iter().find(|e| e.event_type == ty);
        let summary = ev.iter().rev().find(|e| e.event_type == "flow.summary");
        let started = first("flow.started");
        let mut header = BTreeMap::new();
        for e in ev.iter().filter(|e| e.event_type == "flow.header") {
            header.insert(p(e, "key").to_string(), p(e, "value").to_string());
        }
        let flags: BTreeMap<String, String> = started
            .and_then(|e| e.payload.get("flags"))
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
            .unwrap_or_default();
        let command = started.map(|e| p(e, "command").to_string()).filter(|c| !c.is_empty());
        let command_line = command.as_ref().map(|cmd| command_line(cmd, &flags));
        let t0 = ev.first().map(|e| e.occurred_at);
        let t_end = summary.map(|e| e.occurred_at).or_else(|| ev.last().map(|e| e.occurred_at));
        let duration_ms = match (t0, t_end) {
            (Some(a), Some(b)) => u64::try_from(b.unix_millis() - a.unix_millis()).ok(),
            _ => None,
        };
        let ending = match summary {
            Some(e) if p(e, "verdict") == "pass" => Ending::Passed { exit_status: e.payload.get("exit_status").and_then(Value::as_i64) },
            Some(e) => Ending::Halted {
                phase: s(&e.payload, "first_failure_phase"),
                code: e.payload.get("first_failure_code").and_then(Value::as_u64),
                exit_status: e.payload.get("exit_status").and_then(Value::as_i64),
            },
            None => Ending::Unfinished { last_event: ev.last().map(|e| e.event_type.clone()), last_line: ev.last().map(|e| e.seq + 1), partial_tail },
        };

        // Phases.
        let mut phases = Vec::new();
        for st in ev.iter().filter(|e| e.event_type == "phase.started") {
            let id = p(st, "phase").to_string();
            let after = |ty: &str| ev.iter().skip(st.seq as usize).find(|e| e.event_type == ty && p(e, "phase") == id);
            let (o, v) = (after("phase.outcome"), after("court.verdict"));
            let ov = |k: &str| o.and_then(|o| s(&o.payload, k));
            let vv = |k: &str| v.and_then(|v| s(&v.payload, k));
            phases.push(PhaseStory {
                name: c.and_then(|c| c.phase(&id)).map(|ph| ph.name.clone()).unwrap_or_else(|| "?".into()),
                status: ov("status"),
                code: o.and_then(|o| o.payload.get("code")).and_then(Value::as_u64),
                message: ov("message"),
                started_at: ov("started_at").or_else(|| Some(st.occurred_at.to_string())),
                duration_ms: o.and_then(|o| o.payload.get("duration_ms")).and_then(Value::as_u64),
                court: vv("court"),
                deterministic: vv("deterministic"),
                constitutional: vv("constitutional"),
                halt_reason: vv("halt_reason"),
                violated_laws: v
                    .and_then(|v| v.payload.get("violated_laws"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                    .unwrap_or_default(),
                next_command: vv("next_command"),
                facts: o
                    .and_then(|o| o.payload.get("facts"))
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect())
                    .unwrap_or_default(),
                phase: id,
            });
        }

        // The bound target.
        let bound = ev.iter().find(|e| e.event_type == "phase.outcome" && p(e, "phase") == "P20" && e.payload.get("target").is_some_and(Value::is_string));
        let target = summary
            .and_then(|e| s(&e.payload, "target"))
            .or_else(|| bound.and_then(|e| s(&e.payload, "target")));
        let target_source = summary
            .and_then(|e| s(&e.payload, "target_source"))
            .or_else(|| bound.and_then(|e| e.payload.pointer("/facts/target_source")).and_then(Value::as_str).map(str::to_string));

        // Side effects and their approvals.
        let side_effects = ev
            .iter()
            .filter(|e| e.event_type == "receipt.side_effect")
            .map(|r| {
                let before = &ev[..(r.seq as usize).min(ev.len())];
                let op = p(r, "op");
                let action = if op == "delete-pod" { "delete-pod" } else { "provision" };
                let consent = matches!(op, "provision" | "delete-pod")
                    .then(|| before.iter().rev().find(|e| e.event_type == "consent.given" && p(e, "action") == action))
                    .flatten()
                    .map(|e| format!("consent given by {} {} (line {})", e.actor.kind, e.actor.id, e.seq + 1));
                let capability = r.capability_id.as_ref().and_then(|cap| {
                    before
                        .iter()
                        .rev()
                        .find(|e| e.event_type == "capability.granted" && e.capability_id.as_ref() == Some(cap))
                        .map(|g| format!("{cap} granted by {} {} (line {})", g.actor.kind, g.actor.id, g.seq + 1))
                });
                SideEffect {
                    line: r.seq + 1,
                    phase: p(r, "phase").into(),
                    op: op.into(),
                    target: p(r, "target").into(),
                    idempotency_key: p(r, "idempotency_key").into(),
                    approved_by: p(r, "approved_by").into(),
                    result: p(r, "result").into(),
                    consent,
                    capability,
                }
            })
            .collect();
        let refused = ev
            .iter()
            .filter(|e| e.event_type == "gateway.refused")
            .map(|r| Refused { line: r.seq + 1, op: p(r, "op").into(), target: s(&r.payload, "target"), detail: p(r, "detail").into() })
            .collect();
        let mut issued: BTreeMap<(String, String), u64> = BTreeMap::new();
        for e in ev.iter().filter(|e| e.event_type == "secret.issued") {
            *issued.entry((p(e, "handle").into(), p(e, "requester").into())).or_insert(0) += 1;
        }
        let host_keys_accepted = ev
            .iter()
            .filter(|e| e.event_type == "host_key.accepted")
            .map(|e| HostKey { hosts: p(e, "hosts").into(), key_type: p(e, "key_type").into(), fingerprint: p(e, "fingerprint").into() })
            .collect();

        // The pod.
        let pod = match summary {
            Some(e) => {
                let detail = p(e, "pod_state").to_string();
                let state = ["running", "deleted", "vanished", "none"].into_iter().find(|w| detail.starts_with(w)).unwrap_or("unknown");
                PodFate { state: state.into(), detail, delete_command: s(&e.payload, "delete_command") }
            }
            None => PodFate {
                state: "unknown".into(),
                detail: match &target {
                    Some(t) => format!("the flow did not finish; check it with: wfhost pod-status --target {t}"),
                    None => "the flow did not finish before a target was bound".into(),
                },
                delete_command: None,
            },
        };

        // Files fetched: the fetch phase's outcome names each by run (`run:<id>/<name>`); the
        // artifact.written records carry the size.
        let sizes: BTreeMap<String, u64> = ev
            .iter()
            .filter(|e| e.event_type == "artifact.written")
            .filter_map(|e| Some((p(e, "sha256").to_string() + p(e, "name"), e.payload.get("size").and_then(Value::as_u64)?)))
            .collect();
        let mut fetched = Vec::new();
        for o in ev.iter().filter(|e| e.event_type == "phase.outcome" && p(e, "phase") == "P80") {
            for a in o.payload.get("artifacts").and_then(Value::as_array).into_iter().flatten() {
                let full = s(a, "name").unwrap_or_default();
                let (run_id, name) = match full.strip_prefix("run:").and_then(|r| r.split_once('/')) {
                    Some((id, name)) => (Some(id.to_string()), name.to_string()),
                    None => (None, full.clone()),
                };
                let sha256 = s(a, "sha256");
                let size = sizes.get(&(sha256.clone().unwrap_or_default() + &name)).copied();
                fetched.push(Fetched { run_id, name, path: s(a, "path").unwrap_or_default(), sha256, size });
            }
        }

        Story {
            flow_dir: flow_dir.to_path_buf(),
            flow_id: ev
                .first()
                .map(|e| e.correlation_id.clone())
                .unwrap_or_else(|| flow_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
            records: ev.len() as u64,
            command,
            command_line,
            flags,
            workdir: started.map(|e| p(e, "workdir").to_string()),
            wfhost_version: started.and_then(|e| s(&e.payload, "wfhost_version")),
            started: t0.map(|t| t.to_string()),
            finished: summary.map(|e| e.occurred_at.to_string()),
            last_record_at: ev.last().map(|e| e.occurred_at.to_string()),
            duration_ms,
            ending,
            signed_by: header.get(crate::signing::SIGNING_HEADER).cloned(),
            header,
            target,
            target_source,
            phases,
            side_effects,
            refused,
            secrets_issued: issued.into_iter().map(|((handle, requester), times)| SecretIssued { handle, requester, times }).collect(),
            host_keys_accepted,
            pod,
            fetched,
        }
    }

    /// The first phase whose court failed.
    pub fn halt(&self) -> Option<&PhaseStory> {
        self.phases.iter().find(|ph| ph.court.as_deref().is_some_and(|c| c != "pass"))
    }

    /// What to run next: the halting verdict's command, or for a flow that did not finish, the
    /// command that resumes it; `None` for a flow that passed.
    pub fn next_command(&self) -> Option<String> {
        match &self.ending {
            Ending::Passed { .. } => None,
            Ending::Halted { .. } => Some(
                self.halt()
                    .and_then(|h| h.next_command.clone())
                    .unwrap_or_else(|| format!("wfhost explain {}", self.flow_dir.display())),
            ),
            Ending::Unfinished { .. } => Some(match (&self.target, self.command.as_deref()) {
                // A sweep was bound to a target: resume it there (runs never start twice).
                (Some(t), Some("flow")) if self.phases.iter().any(|ph| ph.phase.as_str() >= "P60") => {
                    let resume = "wfhost flow --provision skip --sweep resume --wait true";
                    match self.target_source.as_deref() {
                        Some("explicit") => resume.to_string(),
                        _ => format!("{resume} (with LIUM_TARGET={t} in the config)"),
                    }
                }
                _ => format!("wfhost explain {}", self.flow_dir.display()),
            }),
        }
    }
}

/// `wfhost <command> --flag value ...` from the recorded flags.
pub fn command_line(command: &str, flags: &BTreeMap<String, String>) -> String {
    let mut line = format!("wfhost {command}");
    for k in ["provision", "sweep", "wait", "fetch", "teardown"] {
        if let Some(v) = flags.get(k) {
            line.push_str(&format!(" --{k} {v}"));
        }
    }
    if flags.get("yes").map(String::as_str) == Some("true") {
        line.push_str(" --yes");
    }
    line
}
