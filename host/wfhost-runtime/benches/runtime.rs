//! Plugin runtime benchmarks: cold compile of the built-in auditor, load from the on-disk cache,
//! one warm audit call (fresh store + instance + call), and loading every built-in from the disk
//! cache as a flow does at start. Figures and the machine they were taken on are recorded in
//! docs/performance.md ("Plugin runtime").

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::Duration;
use wfhost_runtime::types::{
    AuditRequest, EvidencePack, FetchMode, FlowFlags, Kv, Law, PhaseOutcome, PhaseStatus,
    ProvisionMode, SweepMode, TeardownMode,
};
use wfhost_runtime::{CacheMode, ComponentSource, Limits, LoadSource, Runtime, RuntimeOptions};

/// `--teardown delete --wait true`, the other flags at their defaults.
fn flags() -> FlowFlags {
    let (provision, sweep, fetch) = (ProvisionMode::Auto, SweepMode::Start, FetchMode::None);
    FlowFlags { provision, sweep, wait: true, fetch, teardown: TeardownMode::Delete, yes: false }
}

fn request() -> AuditRequest {
    AuditRequest {
        pack: EvidencePack {
            flow_id: "flow-bench".into(),
            phase: "pass".into(),
            constitution_version: 1,
            applicable_laws: vec!["L1".into(), "L3".into()],
            config_sha256_at_start: "0".repeat(64),
            config_sha256: "0".repeat(64),
            transport: "local".into(),
            bound_target: Some("pod-1".into()),
            phase_target: Some("pod-1".into()),
            target_source: "explicit".into(),
            outcome: PhaseOutcome {
                phase: "P30".into(),
                status: PhaseStatus::Ok,
                code: 0,
                message: "pod ready".into(),
                artifacts: vec![],
                facts: vec![Kv {
                    key: "status".into(),
                    value: "ready".into(),
                }],
                details_json: None,
            },
            flow_flags: flags(),
            consent: false,
            config: vec![],
            fsm_before: "INIT".into(),
            fsm_after: "POD_READY".into(),
            deterministic_pass: true,
            deterministic_findings: vec![],
        },
        laws: vec![
            Law {
                id: "L1".into(),
                title: "Fail closed".into(),
                text: "Every phase is judged.".into(),
            },
            Law {
                id: "L3".into(),
                title: "Target".into(),
                text: "The target never changes.".into(),
            },
        ],
    }
}

fn disk_runtime(dir: &Path) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache: CacheMode::Disk(dir.to_path_buf()),
    })
    .expect("runtime")
}

fn bench(c: &mut Criterion) {
    let constitution = wfhost_builtins::builtin("constitution").expect("the built-in auditor");
    let minimal =
        ComponentSource::file(wfhost_builtins::components_dir().join("hostile_runtime.wasm"));
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = disk_runtime(dir.path());
    wfhost_builtins::preload(&rt).expect("built-ins load");
    let limits = Limits::auditor_default();
    let request = request();

    let mut group = c.benchmark_group("auditor");
    group.sample_size(10);
    let cold = Runtime::new(RuntimeOptions {
        cache: CacheMode::MemoryOnly,
    })
    .expect("runtime");
    group.bench_function("cold_compile", |b| {
        b.iter(|| {
            cold.clear_memory_cache();
            let auditor = cold.load_auditor(&constitution).expect("loads");
            assert_eq!(auditor.load_source(), LoadSource::Compiled);
        })
    });
    group.sample_size(50);
    group.bench_function("load_from_disk_cache", |b| {
        b.iter(|| {
            rt.clear_memory_cache();
            let auditor = rt.load_auditor(&constitution).expect("loads");
            assert_eq!(auditor.load_source(), LoadSource::Disk);
        })
    });
    group.sample_size(100);
    let auditor = rt.load_auditor(&constitution).expect("loads");
    group.bench_function("warm_audit_builtin", |b| {
        b.iter(|| auditor.audit(&request, &limits))
    });
    let minimal_auditor = rt.load_auditor(&minimal).expect("loads");
    group.bench_function("warm_audit_minimal", |b| {
        b.iter(|| {
            let result = minimal_auditor.audit(&request, &limits);
            assert!(result.reason.is_none());
        })
    });
    group.finish();

    let mut group = c.benchmark_group("flow_start");
    group.sample_size(20);
    // A new runtime (engine, instance pool, ticker, linkers) plus every built-in from the disk
    // cache: what a `wfhost flow` process pays before its first phase. Dropping the runtime is
    // left out of the measurement (a process just exits).
    group.bench_function("all_builtins_from_disk_cache", |b| {
        b.iter_with_large_drop(|| {
            let fresh = disk_runtime(dir.path());
            let loaded = wfhost_builtins::preload(&fresh).expect("built-ins load");
            assert!(loaded.iter().all(|(_, source)| *source == LoadSource::Disk));
            fresh
        })
    });
    group.bench_function("all_builtins_from_disk_cache_engine_reused", |b| {
        b.iter(|| {
            rt.clear_memory_cache();
            wfhost_builtins::preload(&rt).expect("built-ins load")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
