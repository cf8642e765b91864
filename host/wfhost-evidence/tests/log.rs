//! Appending, reopening, reading and replaying event logs through the public API.

mod common;

use common::*;
use serde_json::json;
use std::sync::Arc;
use wfhost_evidence::{
    read, verify, Actor, CapabilityRule, Defect, Durability, EventDraft, EventLog, LogError,
    LogOptions, Ops, Tail, TailPolicy, Timestamp, VerifyError,
};

#[test]
fn every_declared_event_type_round_trips() {
    let ops = Ops::get().expect("ops.toml valid");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let mut log = EventLog::create_with(&path, FLOW, options()).expect("create");
    let mut written = Vec::new();
    for (i, def) in ops.event.iter().enumerate() {
        let mut draft = EventDraft::new(
            def.name.clone(),
            Actor::new(def.actors[0].clone(), "a"),
            "host",
            format!("n{i}"),
            json!({"type": def.name, "i": i}),
        );
        if def.capability != CapabilityRule::None {
            draft = draft.with_capability("cap-7");
        }
        let env = log.append(draft).expect("declared type appends");
        assert_eq!(env.payload_schema, def.payload_schema());
        assert_eq!(
            env.seq,
            ops.ordering.seq_start + i as u64 * ops.ordering.seq_step
        );
        // The serde form of the record parses back to the same record.
        let text = serde_json::to_string(&env).expect("serialises");
        assert_eq!(
            serde_json::from_str::<wfhost_evidence::Envelope>(&text).expect("parses"),
            env
        );
        written.push(env);
    }
    drop(log);
    let contents = read(&path).expect("read");
    assert_eq!(contents.events, written);
    assert_eq!(contents.tail, Tail::Clean);
    let report = verify(&path).expect("verifies");
    assert_eq!(report.records, ops.event.len() as u64);
    assert_eq!(
        report.last_record_hash,
        written.last().expect("records").record_hash
    );
    assert_eq!(report.correlation_id.as_deref(), Some(FLOW));
}

#[test]
fn records_are_chained_canonical_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let records = write_varied_log(&path);
    let ops = Ops::get().expect("ops");
    assert_eq!(records[0].prev_hash, ops.chain.genesis_prev_hash);
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].record_hash);
        assert_eq!(
            pair[1].causation_id.as_deref(),
            Some(pair[0].event_id.as_str())
        );
    }
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.ends_with('\n'));
    for (line, rec) in text.lines().zip(&records) {
        assert!(line.starts_with(ops.record_prefix()), "{line}");
        let value: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(
            wfhost_evidence::canonical::to_string(&value).expect("canonical"),
            line
        );
        assert_eq!(
            rec.payload_sha256,
            wfhost_evidence::canonical::sha256(&rec.payload).expect("hash")
        );
        assert!(rec.occurred_at.to_string().ends_with('Z'));
    }
}

#[test]
fn event_ids_follow_the_declared_rule_and_duplicates_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let mut log = EventLog::create_with(&path, FLOW, options()).expect("create");
    let at = Timestamp::parse("2025-01-01T00:00:00.000Z").expect("ts");
    let draft = EventDraft::new(
        "phase.started",
        host(),
        "host",
        "P10/started",
        json!({"phase": "P10"}),
    )
    .at(at);
    let env = log.append(draft.clone()).expect("first");
    let ops = Ops::get().expect("ops");
    let record: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::to_value(&env).expect("value")).expect("map");
    let parts: Vec<serde_json::Value> = ops
        .event_id
        .inputs
        .iter()
        .map(|n| record[n].clone())
        .collect();
    let expected =
        wfhost_evidence::canonical::sha256(&serde_json::Value::Array(parts)).expect("hash");
    assert_eq!(env.event_id, expected);
    match log.append(draft.clone()) {
        Err(LogError::Duplicate {
            event_id,
            first_seq,
        }) => {
            assert_eq!(event_id, env.event_id);
            assert_eq!(first_seq, 0);
        }
        other => panic!("duplicate accepted: {other:?}"),
    }
    // Same event at another time is another event.
    let later = draft.at(Timestamp::from_unix_millis(at.unix_millis() + 1).expect("ts"));
    assert_ne!(log.append(later).expect("distinct").event_id, env.event_id);
    assert_eq!(log.len(), 2);
}

#[test]
fn drafts_breaking_the_rules_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let mut log = EventLog::create_with(&path, FLOW, options()).expect("create");
    let ok = log
        .append(EventDraft::new(
            "flow.started",
            host(),
            "host",
            "s",
            json!({}),
        ))
        .expect("ok");
    let size = std::fs::metadata(&path).expect("stat").len();
    let d = |t: &str, actor: Actor| EventDraft::new(t, actor, "host", "x", json!({"k": 1}));
    let cases: Vec<(EventDraft, &str)> = vec![
        (d("phase.exploded", host()), "event_type"),
        (d("consent.given", host()), "actor.kind"),
        (d("flow.halted", Actor::new("robot", "r")), "actor.kind"),
        (d("flow.halted", Actor::new("host", "")), "actor.id"),
        (
            d("gateway.call", Actor::new("plugin", "p")),
            "capability_id",
        ),
        (
            d("flow.halted", host()).with_capability("cap"),
            "capability_id",
        ),
        (
            d("flow.halted", host()).caused_by("0".repeat(64)),
            "causation_id",
        ),
        (
            d("flow.halted", host()).caused_by("not-an-id"),
            "causation_id",
        ),
        (
            EventDraft::new("flow.halted", host(), "", "x", json!({})),
            "source_ref",
        ),
        (
            EventDraft::new("flow.halted", host(), "host", "", json!({})),
            "native_id",
        ),
        (
            EventDraft::new("flow.halted", host(), "host", "x", json!([1, 2])),
            "payload",
        ),
        (
            EventDraft::new("flow.halted", host(), "host", "x", json!({"n": u64::MAX})),
            "payload",
        ),
    ];
    for (draft, field) in cases {
        match log.append(draft.clone()) {
            Err(LogError::Invalid { field: f, defect }) => {
                assert_eq!(f, field, "{draft:?}: {defect}")
            }
            other => panic!("{draft:?} not refused as {field}: {other:?}"),
        }
    }
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), size);
    // The log is still usable and the causation rule accepts a real earlier event.
    log.append(d("flow.halted", host()).caused_by(&ok.event_id))
        .expect("valid after refusals");
    drop(log);
    assert_eq!(verify(&path).expect("verifies").records, 2);
}

#[test]
fn create_refuses_to_overwrite_and_a_second_writer_is_locked_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let log = EventLog::create(&path, FLOW).expect("create");
    assert!(matches!(
        EventLog::create(&path, FLOW),
        Err(LogError::Exists { .. })
    ));
    assert!(matches!(
        EventLog::open_existing(&path, FLOW, options()),
        Err(LogError::Locked { .. })
    ));
    drop(log);
    let (reopened, report) =
        EventLog::open_existing(&path, FLOW, options()).expect("reopens after release");
    assert_eq!(report.records, 0);
    assert!(reopened.is_empty());
    assert!(matches!(
        EventLog::create(&dir.path().join("anon.jsonl"), ""),
        Err(LogError::Invalid { field, .. }) if field == "correlation_id"
    ));
    std::fs::write(dir.path().join("other"), b"keep").expect("write");
    assert!(matches!(
        EventLog::create(&dir.path().join("other"), FLOW),
        Err(LogError::Exists { .. })
    ));
    assert_eq!(
        std::fs::read(dir.path().join("other")).expect("read"),
        b"keep"
    );
}

#[test]
fn reopening_continues_the_chain_and_checks_the_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let first = write_varied_log(&path);
    assert!(matches!(
        EventLog::open_existing(&path, "another-flow", options()),
        Err(LogError::FlowMismatch { found, .. }) if found == FLOW
    ));
    let (mut log, report) = EventLog::open_existing(&path, FLOW, options()).expect("reopen");
    assert_eq!(
        report,
        wfhost_evidence::OpenReport {
            records: 5,
            discarded_tail: None
        }
    );
    assert_eq!(log.last_record_hash(), first[4].record_hash);
    assert!(log.contains(&first[0].event_id));
    let next = log
        .append(
            EventDraft::new("flow.halted", host(), "host", "halt", json!({"code": wfhost_constitution::codes::SWEEP_LAUNCH_FAILED}))
                .caused_by(&first[0].event_id),
        )
        .expect("append after reopen");
    assert_eq!(next.seq, 5);
    assert_eq!(next.prev_hash, first[4].record_hash);
    drop(log);
    assert_eq!(verify(&path).expect("verifies").records, 6);
}

#[test]
fn a_log_that_fails_verification_is_never_extended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    write_varied_log(&path);
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replacen("\"P00\"", "\"P01\"", 1);
    std::fs::write(&path, &text).expect("tamper");
    match EventLog::open_existing(&path, FLOW, options()) {
        Err(LogError::Verify(VerifyError::Record { line: 2, field, .. })) => {
            assert_eq!(field, "payload_sha256")
        }
        other => panic!("tampered log opened: {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn partial_tail_is_refused_or_discarded_and_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let records = write_varied_log(&path);
    let full = std::fs::read(&path).expect("read");
    let last_start = full[..full.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .expect("several lines")
        + 1;
    let cut = last_start + 40;
    std::fs::write(&path, &full[..cut]).expect("cut");
    let tail_sha = wfhost_evidence::hash::sha256_hex(&full[last_start..cut]);

    match EventLog::open_existing(&path, FLOW, options()) {
        Err(LogError::PartialTail { offset, len, .. }) => {
            assert_eq!(offset, last_start as u64);
            assert_eq!(len, 40);
        }
        other => panic!("partial tail not refused: {other:?}"),
    }
    let opts = options().with_partial_tail(TailPolicy::Discard);
    let (mut log, report) = EventLog::open_existing(&path, FLOW, opts).expect("discard");
    let discarded = report.discarded_tail.expect("a tail was discarded");
    assert_eq!(
        (discarded.offset, discarded.len, discarded.sha256.as_str()),
        (last_start as u64, 40, tail_sha.as_str())
    );
    assert_eq!(report.records, 4);
    log.append(EventDraft::new(
        "flow.halted",
        host(),
        "host",
        "after-crash",
        json!({}),
    ))
    .expect("append");
    drop(log);
    let contents = read(&path).expect("read");
    assert_eq!(contents.tail, Tail::Clean);
    assert_eq!(contents.events.len(), 6);
    assert_eq!(contents.events[..4], records[..4]);
    let marker = &contents.events[4];
    assert_eq!(marker.event_type, "log.tail_discarded");
    assert_eq!(marker.event_id, discarded.event_id);
    assert_eq!(marker.payload["sha256"], tail_sha);
    assert_eq!(marker.payload["offset"], last_start as u64);
    assert_eq!(verify(&path).expect("verifies").records, 6);
}

#[test]
fn replay_of_the_drafts_reproduces_the_file_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = dir.path().join("a.jsonl");
    write_varied_log(&original);
    let contents = read(&original).expect("read");
    // The replay uses a clock that would give other times: the drafts carry theirs.
    let replay = dir.path().join("b.jsonl");
    let mut log = EventLog::create_with(&replay, FLOW, LogOptions::default()).expect("create");
    for env in &contents.events {
        assert_eq!(&log.append(env.to_draft()).expect("append"), env);
    }
    drop(log);
    assert_eq!(
        std::fs::read(&replay).expect("read b"),
        std::fs::read(&original).expect("read a")
    );
    // And the same inputs with the same injected clock give the same file too.
    let again = dir.path().join("c.jsonl");
    write_varied_log(&again);
    assert_eq!(
        std::fs::read(&again).expect("read c"),
        std::fs::read(&original).expect("read a")
    );
}

#[test]
fn on_decision_durability_writes_every_record_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let opts = options().with_durability(Durability::OnDecision);
    let mut log = EventLog::create_with(&path, FLOW, opts).expect("create");
    let ops = Ops::get().expect("ops");
    assert!(
        !ops.event_type("artifact.written")
            .expect("declared")
            .decision
    );
    log.append(EventDraft::new(
        "artifact.written",
        host(),
        "host",
        "a1",
        json!({"path": "phase/phase.P00.json"}),
    ))
    .expect("append");
    // Written (visible to readers) even before any fsync.
    assert_eq!(read(&path).expect("read").events.len(), 1);
    log.append(EventDraft::new(
        "court.verdict",
        host(),
        "host",
        "v",
        json!({"phase": "P00", "pass": true}),
    ))
    .expect("decision");
    log.sync().expect("sync");
    drop(log);
    assert_eq!(verify(&path).expect("verifies").records, 2);
}

#[test]
fn clock_is_used_only_when_the_draft_has_no_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let fixed = Timestamp::parse("2030-06-01T12:00:00.500Z").expect("ts");
    let opts = LogOptions {
        clock: Arc::new(move || fixed),
        ..LogOptions::default()
    };
    let mut log = EventLog::create_with(&path, FLOW, opts).expect("create");
    let a = log
        .append(EventDraft::new(
            "phase.started",
            host(),
            "host",
            "a",
            json!({}),
        ))
        .expect("a");
    let own = Timestamp::parse("2001-01-01T00:00:00.001Z").expect("ts");
    let b = log
        .append(EventDraft::new("phase.started", host(), "host", "b", json!({})).at(own))
        .expect("b");
    assert_eq!(a.occurred_at, fixed);
    assert_eq!(b.occurred_at, own);
}

#[test]
fn read_reports_unparsable_lines_with_their_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    write_varied_log(&path);
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("{\"actor\":{\"id\":\"x\"}}\n");
    std::fs::write(&path, text).expect("write");
    match read(&path) {
        Err(VerifyError::Record {
            line: 6,
            field,
            defect: Defect::Unparsable(_),
            ..
        }) => assert_eq!(field, "line"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_prepared_record_is_written_as_sealed_and_only_at_the_end_of_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let mut log = EventLog::create(&path, "flow-prepared").unwrap();
    let draft = |n: &str| EventDraft::new("flow.header", Actor::new("host", "wfhost"), "host", n, serde_json::json!({"key": n, "value": "v"}));
    log.append(draft("a")).unwrap();
    let prepared = log.prepare(draft("b")).unwrap();
    let shown = prepared.envelope().clone();
    assert_eq!(log.len(), 1, "preparing writes nothing");
    let written = log.append_prepared(prepared).unwrap();
    assert_eq!(written, shown, "the record written is the one prepared");
    // A prepared record is stale once another record was appended.
    let stale = log.prepare(draft("c")).unwrap();
    log.append(draft("d")).unwrap();
    assert!(log.append_prepared(stale).is_err());
    drop(log);
    assert_eq!(wfhost_evidence::verify(&path).unwrap().records, 3);
}
