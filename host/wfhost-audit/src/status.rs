//! `wfhost status`: the flows of a workdir's evidence root, newest first, one row each.
//!
//! ```text
//! <evidence root>/<flow_id>/ ─► Story::read ─► FlowRow { id, command, started, duration,
//!        (every directory)                              state, halt, target, pod, next }
//!                             └► cannot read ─► FlowRow { state: unreadable, problem }
//! ```
//!
//! A directory that is not a flow, or whose log is half-written or damaged, is one row saying
//! so; the listing never stops at it. The pod's state here is what the evidence says; the CLI's
//! `--check` adds what the transport says now (`pod_check`).

use crate::story::{Ending, Story, StoryError};
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The state of a flow in the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowState {
    /// Every phase passed.
    Passed,
    /// A court halted it.
    Halted,
    /// No summary record: running, or died.
    Unfinished,
    /// Its directory or log cannot be read as a flow.
    Unreadable,
}

impl RowState {
    /// The word used in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Passed => "passed",
            RowState::Halted => "halted",
            RowState::Unfinished => "unfinished",
            RowState::Unreadable => "unreadable",
        }
    }
}

/// One flow of the listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRow {
    /// The directory's name (the flow id).
    pub id: String,
    /// The flow's evidence directory.
    pub flow_dir: PathBuf,
    /// The command (`flow`, `pod-up`, ...).
    pub command: Option<String>,
    /// The command line with its flags.
    pub command_line: Option<String>,
    /// When the first record was written.
    pub started: Option<String>,
    /// How long it took (to its summary, or to its last record).
    pub duration_ms: Option<u64>,
    /// How it ended.
    pub state: RowState,
    /// The phase and code it halted at.
    pub halted_at: Option<Value>,
    /// The last phase that started.
    pub last_phase: Option<String>,
    /// The bound target.
    pub target: Option<String>,
    /// What the evidence says of the pod: `{state, detail, delete_command}`.
    pub pod: Option<Value>,
    /// What the transport says of the pod now (`status --check`): `{state, detail}` or `{error}`.
    pub pod_check: Option<Value>,
    /// What to run next, for a flow that did not pass.
    pub next_command: Option<String>,
    /// Why the row is incomplete (unreadable directory, half-written log).
    pub problem: Option<String>,
    /// Complete records in its log.
    pub records: u64,
}

impl FlowRow {
    fn of(dir: &Path, id: String) -> FlowRow {
        match Story::read(dir) {
            Ok(story) => FlowRow::from_story(id, &story),
            Err(e) => FlowRow {
                problem: Some(match e {
                    StoryError::NotAFlow(_) => format!(
                        "holds no {} (not a flow's evidence directory, or a flow that died before its first record)",
                        crate::layout::EVENTS
                    ),
                    StoryError::Log(e) => format!("its log cannot be read as records: {e}"),
                }),
                ..FlowRow::empty(dir, id, RowState::Unreadable)
            },
        }
    }

    fn empty(dir: &Path, id: String, state: RowState) -> FlowRow {
        FlowRow {
            id,
            flow_dir: dir.to_path_buf(),
            command: None,
            command_line: None,
            started: None,
            duration_ms: None,
            state,
            halted_at: None,
            last_phase: None,
            target: None,
            pod: None,
            pod_check: None,
            next_command: None,
            problem: None,
            records: 0,
        }
    }

    fn from_story(id: String, story: &Story) -> FlowRow {
        let (state, halted_at, problem) = match &story.ending {
            Ending::Passed { .. } => (RowState::Passed, None, None),
            Ending::Halted { phase, code, .. } => (RowState::Halted, Some(json!({"phase": phase, "code": code})), None),
            Ending::Unfinished { partial_tail, .. } if story.records == 0 => (
                RowState::Unreadable,
                None,
                Some(format!("its log holds no complete record{}", if *partial_tail { " (only a crash's partial line)" } else { "" })),
            ),
            Ending::Unfinished { partial_tail: true, last_line, .. } => (
                RowState::Unfinished,
                None,
                Some(format!("its log ends in a crash's partial line after line {}", last_line.unwrap_or(0))),
            ),
            Ending::Unfinished { .. } => (RowState::Unfinished, None, None),
        };
        FlowRow {
            command: story.command.clone(),
            command_line: story.command_line.clone(),
            started: story.started.clone(),
            duration_ms: story.duration_ms,
            halted_at,
            last_phase: story.phases.last().map(|p| p.phase.clone()),
            target: story.target.clone(),
            pod: Some(serde_json::to_value(&story.pod).unwrap_or(Value::Null)),
            next_command: story.next_command(),
            problem,
            records: story.records,
            ..FlowRow::empty(&story.flow_dir, id, state)
        }
    }

    /// Whether the evidence leaves the pod possibly running (worth asking the transport).
    pub fn pod_may_run(&self) -> bool {
        let state = self.pod.as_ref().and_then(|p| p.get("state")).and_then(Value::as_str);
        self.target.is_some() && matches!(state, Some("running") | Some("unknown"))
    }

    /// Sort key: the start time, `YYYYmmddTHHMMSS` and the fraction of a second the first record
    /// carries (two flows started in the same second keep their order), else the id's seconds.
    fn key(&self) -> String {
        match self.started.as_deref() {
            Some(s) => s.replace(['-', ':'], "").trim_end_matches('Z').to_string(),
            None => self.id.chars().take(15).collect(),
        }
    }
}

/// The flows under an evidence root.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowList {
    /// The evidence root (WF_FLOW_EVIDENCE_DIR).
    pub evidence_root: PathBuf,
    /// Newest first.
    pub flows: Vec<FlowRow>,
}

/// Every flow directory under `root`, newest first. A missing root is an empty list; an
/// unreadable one is an error naming it.
pub fn list(root: &Path) -> Result<FlowList, String> {
    let entries = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FlowList { evidence_root: root.to_path_buf(), flows: Vec::new() })
        }
        Err(e) => return Err(format!("cannot list {}: {e}; check its permissions", root.display())),
    };
    let mut flows = Vec::new();
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let id = entry.file_name().to_string_lossy().into_owned();
        // Only directories are flows; leftovers of an atomic write (`.tmp`) are not.
        if !path.is_dir() || id.starts_with('.') {
            continue;
        }
        flows.push(FlowRow::of(&path, id));
    }
    flows.sort_by(|a, b| b.key().cmp(&a.key()).then_with(|| b.id.cmp(&a.id)));
    Ok(FlowList { evidence_root: root.to_path_buf(), flows })
}

/// `1h02m`, `3m05s`, `12.3s`.
pub fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{}.{}s", s, (ms % 1000) / 100),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

impl FlowList {
    /// The listing as JSON (`docs/schemas/cli-status.schema.json`).
    pub fn to_json(&self) -> Value {
        json!({
            "evidence_root": self.evidence_root.display().to_string(),
            "count": self.flows.len(),
            "flows": self.flows,
        })
    }

    /// The listing as a table for people, with each unfinished flow's next command below it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.flows.is_empty() {
            let _ = writeln!(out, "no flows under {}", self.evidence_root.display());
            return out;
        }
        // The id column fits every id (up to 64 characters); the others are cut to width.
        let w = self.flows.iter().map(|r| r.id.chars().count()).max().unwrap_or(4).clamp(4, 64);
        let _ = writeln!(out, "{:<w$} {:<12} {:<20} {:>8}  {:<24} {:<20} POD", "FLOW", "COMMAND", "STARTED", "TOOK", "RESULT", "TARGET");
        for r in &self.flows {
            let result = match (&r.state, &r.halted_at) {
                (RowState::Halted, Some(h)) => format!(
                    "halted at {} ({})",
                    h.get("phase").and_then(Value::as_str).unwrap_or("?"),
                    h.get("code").map(Value::to_string).unwrap_or_default()
                ),
                (RowState::Unfinished, _) => format!("unfinished in {}", r.last_phase.as_deref().unwrap_or("?")),
                (state, _) => state.as_str().to_string(),
            };
            let pod = r.pod.as_ref().and_then(|p| p.get("state")).and_then(Value::as_str).unwrap_or("-");
            let pod = match r.pod_check.as_ref() {
                Some(c) => match (c.get("state").and_then(Value::as_str), c.get("error").and_then(Value::as_str)) {
                    (Some(now), _) => format!("{pod} (now: {now})"),
                    (None, Some(e)) => format!("{pod} (check failed: {})", one_line(e, 60)),
                    _ => pod.to_string(),
                },
                None => pod.to_string(),
            };
            let _ = writeln!(
                out,
                "{:<w$} {:<12} {:<20} {:>8}  {:<24} {:<20} {pod}",
                one_line(&r.id, w),
                r.command.as_deref().map(|c| one_line(c, 12)).unwrap_or_else(|| "-".into()),
                r.started.as_deref().map(|s| s.get(..19).unwrap_or(s).replace('T', " ")).unwrap_or_else(|| "-".into()),
                r.duration_ms.map(human_ms).unwrap_or_else(|| "-".into()),
                one_line(&result, 24),
                r.target.as_deref().map(|t| one_line(t, 20)).unwrap_or_else(|| "-".into()),
            );
            if let Some(p) = &r.problem {
                let _ = writeln!(out, "  problem: {}", one_line(p, 200));
            }
            if let Some(n) = &r.next_command {
                let _ = writeln!(out, "  next: {}", one_line(n, 300));
            }
        }
        out
    }
}

/// `s` on one line, at most `n` characters (control characters from hostile evidence shown
/// as `?`, so a row cannot rewrite the terminal).
pub fn one_line(s: &str, n: usize) -> String {
    let cleaned: String = s.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    if cleaned.chars().count() <= n {
        cleaned
    } else {
        let mut cut: String = cleaned.chars().take(n.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}
