//! Shared fixtures for the evidence tests: a deterministic clock and a small, varied log.
#![allow(dead_code)]

use serde_json::json;
use std::path::Path;
use wfhost_evidence::{Actor, Envelope, EventDraft, EventLog, LogOptions, Timestamp};

pub const FLOW: &str = "flow-test-0001";

/// A clock that starts at a fixed instant and advances 7 ms per reading.
pub fn stepping_clock(start_ms: i64) -> impl Fn() -> Timestamp + Send + Sync {
    let next = std::sync::atomic::AtomicI64::new(start_ms);
    move || {
        let ms = next.fetch_add(7, std::sync::atomic::Ordering::SeqCst);
        Timestamp::from_unix_millis(ms).expect("test clock in range")
    }
}

pub fn options() -> LogOptions {
    LogOptions::default().with_clock(stepping_clock(1_735_689_600_000))
}

pub fn host() -> Actor {
    Actor::new("host", "wfhost")
}

/// Drafts exercising optional members, unicode, escapes, numbers and nesting.
pub fn varied_drafts() -> Vec<EventDraft> {
    vec![
        EventDraft::new("flow.started", host(), "host", "flow.started", json!({"flags": {"provision": "skip"}, "argv": ["wfhost", "flow"]})),
        EventDraft::new("phase.started", host(), "host", "P00/started", json!({"phase": "P00", "note": "naïve → ✓ 😀 \"quoted\" \\ \u{1}"})),
        EventDraft::new(
            "capability.granted",
            host(),
            "host",
            "cap/1",
            json!({"holder": "plugin:ssh", "ops": ["exec"], "scope": {"target": "user@127.0.0.1"}, "ttl_s": 3600, "ratio": 0.25, "neg": -12}),
        )
        .with_capability("cap-1"),
        EventDraft::new(
            "gateway.call",
            Actor::new("plugin", "ssh-transport"),
            "plugin:ssh-transport",
            "call/1",
            json!({"action_class": "READ", "op": "status", "args": [], "big": 9007199254740991u64, "f": 1e-7}),
        )
        .with_capability("cap-1"),
        EventDraft::new("flow.summary", host(), "host", "summary", json!({"verdict": "pass", "empty": {}, "nothing": null})),
    ]
}

/// Write a log of the varied drafts (with causation links) and return its records.
pub fn write_varied_log(path: &Path) -> Vec<Envelope> {
    write_log(path, varied_drafts())
}

/// Write a log of `drafts`, each caused by the one before, and return its records.
pub fn write_log(path: &Path, drafts: Vec<EventDraft>) -> Vec<Envelope> {
    let mut log = EventLog::create_with(path, FLOW, options()).expect("create");
    let mut out: Vec<Envelope> = Vec::new();
    for draft in drafts {
        let draft = match out.last() {
            Some(prev) => draft.caused_by(&prev.event_id),
            None => draft,
        };
        out.push(log.append(draft).expect("append"));
    }
    out
}
