//! The compiled-component cache: entries are written once, hit on later loads (memory, then disk
//! in a new process-like runtime), and a corrupt or unverifiable entry is recompiled, never used.

mod common;

use common::request;
use std::path::{Path, PathBuf};
use wfhost_runtime::{
    CacheMode, CacheStats, ComponentSource, Limits, LoadSource, Runtime, RuntimeOptions,
};

fn runtime_at(dir: &Path) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache: CacheMode::Disk(dir.to_path_buf()),
    })
    .expect("runtime")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.retain(|p| p.extension().is_some_and(|e| e == "cwasm"));
    found.sort();
    found
}

fn constitution() -> ComponentSource {
    wfhost_builtins::builtin("constitution").expect("the built-in auditor")
}

#[test]
fn built_in_auditor_is_compiled_once_then_loaded_from_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = runtime_at(dir.path());
    let auditor = first.load_auditor(&constitution()).expect("loads");
    assert_eq!(auditor.load_source(), LoadSource::Compiled);
    let files = entries(dir.path());
    assert_eq!(files.len(), 1, "one cache entry: {files:?}");
    let sidecar = PathBuf::from(format!("{}.sha256", files[0].display()));
    assert!(sidecar.is_file(), "the entry's sha256 is stored next to it");
    assert_eq!(
        first
            .load_auditor(&constitution())
            .expect("loads")
            .load_source(),
        LoadSource::Memory
    );
    assert_eq!(
        first.cache_stats(),
        CacheStats {
            compiled: 1,
            memory_hits: 1,
            ..CacheStats::default()
        }
    );

    // A new runtime (as a new process would) finds it on disk.
    let second = runtime_at(dir.path());
    let auditor = second.load_auditor(&constitution()).expect("loads");
    assert_eq!(auditor.load_source(), LoadSource::Disk);
    assert_eq!(
        second.cache_stats(),
        CacheStats {
            disk_hits: 1,
            ..CacheStats::default()
        }
    );
    let result = auditor.audit(&request("P30"), &Limits::auditor_default());
    assert!(result.fuel_used > 0, "the cached auditor runs: {result:?}");
    assert_eq!(entries(dir.path()), files, "no second entry");
}

#[test]
fn corrupt_entries_are_recompiled_never_trusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    runtime_at(dir.path())
        .load_auditor(&constitution())
        .expect("loads");
    let entry = entries(dir.path()).pop().expect("an entry");
    let good = std::fs::read(&entry).expect("read entry");

    // Flip bytes in the middle of the native code.
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    for byte in &mut bad[middle..middle + 64] {
        *byte ^= 0xff;
    }
    std::fs::write(&entry, &bad).expect("corrupt entry");
    let rt = runtime_at(dir.path());
    let auditor = rt.load_auditor(&constitution()).expect("loads anyway");
    assert_eq!(auditor.load_source(), LoadSource::Compiled);
    assert_eq!(rt.cache_stats().rejected_entries, 1);
    let result = auditor.audit(&request("P30"), &Limits::auditor_default());
    assert_ne!(
        result.reason.as_ref().map(|r| r.kind),
        Some(wfhost_runtime::FailureKind::Trap),
        "{result:?}"
    );
    // The entry was rewritten and verifies again.
    assert_eq!(
        runtime_at(dir.path())
            .load_auditor(&constitution())
            .expect("loads")
            .load_source(),
        LoadSource::Disk
    );

    // A missing sidecar: the entry cannot be verified, so it is recompiled.
    let sidecar = PathBuf::from(format!("{}.sha256", entry.display()));
    std::fs::remove_file(&sidecar).expect("remove sidecar");
    let rt = runtime_at(dir.path());
    assert_eq!(
        rt.load_auditor(&constitution())
            .expect("loads")
            .load_source(),
        LoadSource::Compiled
    );
    assert_eq!(rt.cache_stats().rejected_entries, 1);
    assert!(sidecar.is_file(), "the sidecar was written again");

    // Garbage with a matching sidecar passes the hash check but is refused by wasmtime's own
    // header checks, so it is recompiled too.
    let garbage = b"not a serialized component at all".to_vec();
    std::fs::write(&entry, &garbage).expect("write garbage");
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&garbage))
    };
    std::fs::write(&sidecar, format!("{digest}\n")).expect("write sidecar");
    let rt = runtime_at(dir.path());
    assert_eq!(
        rt.load_auditor(&constitution())
            .expect("loads")
            .load_source(),
        LoadSource::Compiled
    );
    assert_eq!(rt.cache_stats().rejected_entries, 1);
}

#[test]
fn memory_only_mode_compiles_once_per_runtime() {
    let rt = Runtime::new(RuntimeOptions {
        cache: CacheMode::MemoryOnly,
    })
    .expect("runtime");
    assert_eq!(
        rt.load_auditor(&constitution())
            .expect("loads")
            .load_source(),
        LoadSource::Compiled
    );
    assert_eq!(
        rt.load_auditor(&constitution())
            .expect("loads")
            .load_source(),
        LoadSource::Memory
    );
    rt.clear_memory_cache();
    assert_eq!(
        rt.load_auditor(&constitution())
            .expect("loads")
            .load_source(),
        LoadSource::Compiled
    );
    assert_eq!(
        rt.cache_stats(),
        CacheStats {
            compiled: 2,
            memory_hits: 1,
            ..CacheStats::default()
        }
    );
}
