//! Evidence log throughput: append with each durability, and verify / read of a 100,000-event
//! log. The 100k log is generated once, before measuring.
//!
//! Run: `cargo bench -p wfhost-evidence --bench evidence -- --warm-up-time 1 --measurement-time 5`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use std::hint::black_box;
use std::path::Path;
use wfhost_evidence::{read, verify, Actor, Durability, EventDraft, EventLog, LogOptions};

const BIG: u64 = 100_000;

/// A typical gateway event: ~300 bytes of payload.
fn draft(event_type: &str, i: u64) -> EventDraft {
    EventDraft::new(
        event_type,
        Actor::new("plugin", "ssh-transport"),
        "plugin:ssh-transport",
        format!("call/{i}"),
        json!({
            "op": "exec",
            "action_class": "READ",
            "argv": ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv"],
            "target": "user@10.0.0.7",
            "rc": 0,
            "duration_ms": 41.5,
            "stdout_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "seq_in_phase": i
        }),
    )
    .with_capability("cap-exec-1")
}

fn append_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));

    let mut log =
        EventLog::create(&dir.path().join("per_event.jsonl"), "bench-flow").expect("create");
    let mut i = 0u64;
    group.bench_function("per_event_fsync", |b| {
        b.iter(|| {
            i += 1;
            black_box(log.append(draft("gateway.call", i)).expect("append"));
        })
    });
    drop(log);

    let opts = LogOptions::default().with_durability(Durability::OnDecision);
    let mut log = EventLog::create_with(&dir.path().join("on_decision.jsonl"), "bench-flow", opts)
        .expect("create");
    group.bench_function("on_decision_non_decision_event", |b| {
        b.iter(|| {
            i += 1;
            black_box(log.append(draft("artifact.written", i)).expect("append"));
        })
    });
    group.finish();
}

fn generate(path: &Path, n: u64) {
    let opts = LogOptions::default().with_durability(Durability::OnDecision);
    let mut log = EventLog::create_with(path, "bench-flow", opts).expect("create");
    for i in 0..n {
        log.append(draft("artifact.written", i)).expect("append");
    }
    log.sync().expect("sync");
}

fn log_100k_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    generate(&path, BIG);
    let size = std::fs::metadata(&path).expect("stat").len();
    eprintln!(
        "generated {BIG} events, {size} bytes ({} bytes/event)",
        size / BIG
    );

    let mut group = c.benchmark_group("log_100k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BIG));
    group.bench_function("verify", |b| {
        b.iter(|| {
            let report = verify(&path).expect("verifies");
            assert_eq!(report.records, BIG);
            black_box(report)
        })
    });
    group.bench_function("read", |b| {
        b.iter(|| {
            let contents = read(&path).expect("reads");
            assert_eq!(contents.events.len() as u64, BIG);
            black_box(contents)
        })
    });
    group.finish();
}

criterion_group!(benches, append_benches, log_100k_benches);
criterion_main!(benches);
