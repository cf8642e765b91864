//! Shared helpers for the runtime's integration tests: where the test components are, a sample
//! audit request, a runtime with a private cache directory, and the process's peak RSS.

#![allow(dead_code)]

pub mod loopback;

use std::path::PathBuf;
use wfhost_runtime::types::{
    AuditRequest, EvidencePack, FetchMode, FlowFlags, Kv, Law, PhaseOutcome, PhaseStatus,
    ProvisionMode, SweepMode, TeardownMode,
};
use wfhost_runtime::{CacheMode, ComponentSource, Runtime, RuntimeOptions};

/// Where every component built from plugins/ is (built-ins and test components).
pub fn plugins_dir() -> PathBuf {
    wfhost_builtins::components_dir().to_path_buf()
}

/// A component file from the plugin workspace, e.g. `hostile_runtime`.
pub fn component(stem: &str) -> ComponentSource {
    ComponentSource::file(plugins_dir().join(format!("{stem}.wasm")))
}

pub fn component_bytes(stem: &str) -> Vec<u8> {
    let path = plugins_dir().join(format!("{stem}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A runtime whose disk cache lives in a fresh temporary directory.
pub fn runtime() -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(RuntimeOptions {
        cache: CacheMode::Disk(dir.path().to_path_buf()),
    })
    .expect("runtime");
    (runtime, dir)
}

/// The flags of a flow with every flag at its command-line default.
pub fn flow_flags() -> FlowFlags {
    let (provision, sweep, fetch, teardown) = (ProvisionMode::Auto, SweepMode::Start, FetchMode::None, TeardownMode::Keep);
    FlowFlags { provision, sweep, wait: false, fetch, teardown, yes: false }
}

/// An audit request for `phase` with laws L1 and L2.
pub fn request(phase: &str) -> AuditRequest {
    AuditRequest {
        pack: EvidencePack {
            flow_id: "flow-test".into(),
            phase: phase.into(),
            constitution_version: 1,
            applicable_laws: vec!["L1".into(), "L2".into()],
            config_sha256_at_start: "0".repeat(64),
            config_sha256: "0".repeat(64),
            transport: "local".into(),
            bound_target: Some("pod-1".into()),
            phase_target: Some("pod-1".into()),
            target_source: "explicit".into(),
            outcome: PhaseOutcome {
                phase: phase.into(),
                status: PhaseStatus::Ok,
                code: 0,
                message: "ok".into(),
                artifacts: vec![],
                facts: vec![Kv {
                    key: "runs_total".into(),
                    value: "4".into(),
                }],
                details_json: None,
            },
            flow_flags: flow_flags(),
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
                title: "First".into(),
                text: "The first law.".into(),
            },
            Law {
                id: "L2".into(),
                title: "Second".into(),
                text: "The second law.".into(),
            },
        ],
    }
}

/// Peak resident set size of this process (VmHWM), in bytes.
pub fn peak_rss() -> u64 {
    proc_status_kib("VmHWM:") * 1024
}

/// Current resident set size (VmRSS), in bytes.
pub fn current_rss() -> u64 {
    proc_status_kib("VmRSS:") * 1024
}

fn proc_status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a kB value")
}

/// Reset the peak RSS to the current RSS (Linux `clear_refs` 5). Returns false if not permitted.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
