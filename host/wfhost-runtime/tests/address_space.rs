//! Every role loads and runs under a 4 GiB address-space limit (`ulimit -v 4194304`, common on
//! HPC login nodes), and a limit too small for what a call needs is reported with the limit that
//! would do. Each test re-runs itself as a child process whose `RLIMIT_AS` is set before it
//! starts, as `ulimit -v` would; the child checks that the limit is really there and really bites
//! (the layout the runtime uses without a limit cannot even be created under it), does the work,
//! and prints a marker the parent looks for.

mod common;

use common::{component, request, runtime};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use wfhost_runtime::types::{CommandResult, LogLevel, RunRequest, VerdictStatus};
use wfhost_runtime::{
    FailureKind, Limits, PluginHost, TransportHost, MIN_ADDRESS_SPACE,
};

/// Set in the child's environment; its value is the limit the parent set.
const CHILD: &str = "WFHOST_TEST_ADDRESS_SPACE_CHILD";
/// Printed by a child that did all its work.
const DONE: &str = "the child did its work under the address-space limit";

struct Quiet;

impl PluginHost for Quiet {
    fn log(&self, _: LogLevel, _: &str) {}
    fn setting(&self, _: &str) -> Option<String> {
        None
    }
}

impl TransportHost for Quiet {
    fn run_process(&self, _: RunRequest) -> Result<CommandResult, String> {
        Err("no programs in this test".into())
    }
}

fn rlimit_as() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) }, 0);
    limit
}

/// In a child (with [`CHILD`] set): check the limit is in place and bites, then do `work`. In the
/// parent: run this test again as a child under a 4 GiB `RLIMIT_AS` and check it did the work.
fn under_the_limit(test_name: &str, work: fn()) {
    if let Ok(limit) = std::env::var(CHILD) {
        the_limit_bites(limit.parse().expect("a limit"));
        work();
        println!("{DONE}");
        return;
    }
    let limit = MIN_ADDRESS_SPACE;
    assert_eq!(limit, 4 << 30);
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, limit.to_string());
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &rlimit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let output = command.output().expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("child stdout:\n{stdout}\nchild stderr:\n{stderr}");
    assert!(
        output.status.success(),
        "the child failed: {}",
        output.status
    );
    assert!(stdout.contains(DONE), "the child did not do its work");
}

fn the_limit_bites(expected_limit: u64) {
    assert_eq!(
        rlimit_as().rlim_cur,
        expected_limit,
        "the limit is in place"
    );
    // The limit bites: the pooled layout (32 memory slots of 4 GiB, what the runtime uses without
    // a limit) cannot even be created under it.
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(16)
        .total_core_instances(128)
        .total_memories(32)
        .total_tables(64)
        .max_memory_size(4 << 30);
    let mut pooled = wasmtime::Config::new();
    pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    let refused = wasmtime::Engine::new(&pooled)
        .map(drop)
        .expect_err("the pooled layout does not fit under the limit");
    println!("the pooled layout under the limit: {refused:#}");
}

fn every_role() {
    let (rt, _dir) = runtime();
    let limits = Limits::auditor_default();
    let auditor = rt
        .load_auditor(&wfhost_builtins::builtin("constitution").expect("a built-in"))
        .expect("the built-in auditor loads");
    let result = auditor.audit(&request("P30"), &limits);
    if let Some(reason) = &result.reason {
        assert!(
            !matches!(
                reason.kind,
                FailureKind::HostError
                    | FailureKind::FuelExhausted
                    | FailureKind::Deadline
                    | FailureKind::MemoryLimit
            ),
            "{reason:?}"
        );
    }
    let hostile = rt
        .load_auditor(&component("hostile_runtime"))
        .expect("a test auditor loads");
    let passed = hostile.audit(&request("pass"), &limits);
    assert_eq!(passed.status(), VerdictStatus::Pass, "{passed:?}");
    // Its memory limit still holds (and the memory it may have fits under the address space).
    let bomb = hostile.audit(&request("memory-bomb"), &limits);
    println!("memory bomb: {:?}", bomb.reason);
    assert_eq!(bomb.reason.map(|r| r.kind), Some(FailureKind::MemoryLimit));

    let executor = rt
        .load_executor(&wfhost_builtins::builtin("executors").expect("a built-in"))
        .expect("the built-in executor loads");
    let phases = executor
        .phases(&Limits::executor_default())
        .expect("phases() runs");
    assert!(!phases.is_empty());

    let transport = rt
        .load_transport(&wfhost_builtins::builtin("local").expect("a built-in"))
        .expect("the built-in transport loads");
    let id = transport
        .id(Arc::new(Quiet), &Limits::transport_default())
        .expect("id() runs");
    assert_eq!(id, "local");
}

/// The address space this process maps now (`VmSize`), in bytes.
fn mapped_now() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmSize");
    kib * 1024
}

fn too_small_for_a_call() {
    let (rt, _dir) = runtime();
    let auditor = rt
        .load_auditor(&component("hostile_runtime"))
        .expect("a test auditor loads");
    let limits = Limits::auditor_default();
    assert_eq!(
        auditor.audit(&request("pass"), &limits).status(),
        VerdictStatus::Pass
    );
    // Leave room for a call, but not for the 64 MiB the memory bomb is allowed to grow to.
    let mut limit = rlimit_as();
    limit.rlim_cur = mapped_now() + (32 << 20);
    // SAFETY: setrlimit only reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    let bomb = auditor.audit(&request("memory-bomb"), &limits);
    let reason = bomb.reason.expect("a host reason");
    println!("memory bomb under a tight limit: {reason:?}");
    assert_eq!(reason.kind, FailureKind::HostError);
    for needle in [
        "address-space limit is too small",
        &format!("`ulimit -v {}`", limit.rlim_cur / 1024),
        "raise it to at least 4096 MiB (`ulimit -v 4194304`)",
    ] {
        assert!(
            reason.message.contains(needle),
            "{needle}: {}",
            reason.message
        );
    }
}

#[test]
fn every_role_loads_and_runs_under_a_4_gib_address_space_limit() {
    under_the_limit(
        "every_role_loads_and_runs_under_a_4_gib_address_space_limit",
        every_role,
    );
}

#[test]
fn a_limit_too_small_for_a_call_names_the_limit_needed() {
    under_the_limit(
        "a_limit_too_small_for_a_call_names_the_limit_needed",
        too_small_for_a_call,
    );
}
