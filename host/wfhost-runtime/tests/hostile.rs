//! Hostile auditors: every misbehaviour ends as `unverified` with the right reason, quickly; every
//! forbidden capability is refused at load, naming the import.

mod common;

use common::{component, request, runtime};
use std::time::{Duration, Instant};
use wfhost_runtime::types::VerdictStatus;
use wfhost_runtime::{AuditResult, Auditor, FailureKind, Limits, LoadError};

/// A generous bound proving "no hang"; the limits below end each case far sooner.
const NO_HANG: Duration = Duration::from_secs(30);

fn hostile() -> (Auditor, tempfile::TempDir, wfhost_runtime::Runtime) {
    let (rt, dir) = runtime();
    let auditor = rt
        .load_auditor(&component("hostile_runtime"))
        .expect("hostile auditor loads");
    (auditor, dir, rt)
}

fn limits() -> Limits {
    Limits {
        wall: Duration::from_secs(10),
        ..Limits::auditor_default()
    }
}

fn run(auditor: &Auditor, case: &str, limits: &Limits) -> AuditResult {
    let started = Instant::now();
    let result = auditor.audit(&request(case), limits);
    let took = started.elapsed();
    assert!(took < NO_HANG, "case {case} took {took:?}");
    println!(
        "{case}: {:?} in {took:?}, fuel {}: {:?}",
        result.status(),
        result.fuel_used,
        result.reason
    );
    result
}

fn expect_unverified(result: &AuditResult, kind: FailureKind) -> String {
    assert_eq!(result.status(), VerdictStatus::Unverified, "{result:?}");
    let reason = result.reason.as_ref().expect("a host reason");
    assert_eq!(reason.kind, kind, "{reason:?}");
    assert!(result.verdict.violated_laws.is_empty());
    assert!(!result.verdict.remediation.is_empty());
    assert!(
        result.verdict.reasons[0].contains(kind.as_str()),
        "{:?}",
        result.verdict.reasons
    );
    reason.message.clone()
}

#[test]
fn well_formed_verdicts_pass_through() {
    let (auditor, _dir, _rt) = hostile();
    let pass = run(&auditor, "pass", &limits());
    assert_eq!(pass.status(), VerdictStatus::Pass);
    assert!(pass.reason.is_none());
    assert!(pass.fuel_used > 0);
    let fail = run(&auditor, "fail-valid", &limits());
    assert_eq!(fail.status(), VerdictStatus::Fail, "{fail:?}");
    assert_eq!(fail.verdict.violated_laws, vec!["L1".to_string()]);
    assert!(fail.reason.is_none());
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let (auditor, _dir, _rt) = hostile();
    let result = run(
        &auditor,
        "loop",
        &Limits {
            fuel: 50_000_000,
            ..limits()
        },
    );
    expect_unverified(&result, FailureKind::FuelExhausted);
    assert!(
        result.fuel_used >= 50_000_000 - 1_000,
        "fuel used {}",
        result.fuel_used
    );
}

#[test]
fn infinite_loop_hits_the_deadline_when_fuel_is_plentiful() {
    let (auditor, _dir, _rt) = hostile();
    let limits = Limits {
        fuel: u64::MAX / 4,
        wall: Duration::from_millis(300),
        ..limits()
    };
    let result = run(&auditor, "loop", &limits);
    expect_unverified(&result, FailureKind::Deadline);
    assert!(
        result.duration >= Duration::from_millis(300),
        "{:?}",
        result.duration
    );
    assert!(
        result.duration < Duration::from_secs(5),
        "{:?}",
        result.duration
    );
}

#[test]
fn sleeping_for_an_hour_hits_the_deadline() {
    let (auditor, _dir, _rt) = hostile();
    let limits = Limits {
        wall: Duration::from_millis(500),
        ..limits()
    };
    let result = run(&auditor, "sleep", &limits);
    expect_unverified(&result, FailureKind::Deadline);
    assert!(
        result.duration < Duration::from_secs(5),
        "{:?}",
        result.duration
    );
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (auditor, _dir, _rt) = hostile();
    let message = expect_unverified(
        &run(&auditor, "memory-bomb", &limits()),
        FailureKind::MemoryLimit,
    );
    assert!(message.contains("64 MiB"), "{message}");
}

#[test]
fn runaway_recursion_overflows_the_stack() {
    let (auditor, _dir, _rt) = hostile();
    expect_unverified(
        &run(&auditor, "recursion", &limits()),
        FailureKind::StackOverflow,
    );
}

#[test]
fn unreachable_is_a_trap() {
    let (auditor, _dir, _rt) = hostile();
    let message = expect_unverified(&run(&auditor, "trap", &limits()), FailureKind::Trap);
    assert!(message.contains("unreachable"), "{message}");
}

#[test]
fn panic_is_reported_with_the_stderr_tail() {
    let (auditor, _dir, _rt) = hostile();
    let message = expect_unverified(&run(&auditor, "panic", &limits()), FailureKind::GuestPanic);
    assert!(
        message.contains("hostile auditor panicked on purpose"),
        "{message}"
    );
}

#[test]
fn panic_after_a_stderr_flood_still_shows_the_panic() {
    let (auditor, _dir, _rt) = hostile();
    let message = expect_unverified(
        &run(&auditor, "stderr-flood-panic", &limits()),
        FailureKind::GuestPanic,
    );
    assert!(
        message.contains("panic after the stderr flood"),
        "{message}"
    );
    assert!(
        message.len() < 8 * 1024,
        "the message quotes only a tail: {} bytes",
        message.len()
    );
}

#[test]
fn exit_is_a_guest_exit() {
    let (auditor, _dir, _rt) = hostile();
    let message = expect_unverified(&run(&auditor, "exit", &limits()), FailureKind::GuestExit);
    // wasi:cli/exit carries only success or failure: exit(3) arrives as exit(1).
    assert!(message.contains("exit(1)"), "{message}");
}

#[test]
fn hundred_megabyte_output_is_refused() {
    let (auditor, _dir, _rt) = hostile();
    // With the default 64 MiB the guest cannot even build the string.
    expect_unverified(
        &run(&auditor, "output-100mb", &limits()),
        FailureKind::MemoryLimit,
    );
    // With room to build it, the verdict is refused for its size.
    let roomy = Limits {
        memory_bytes: 256 << 20,
        ..limits()
    };
    expect_unverified(
        &run(&auditor, "output-100mb", &roomy),
        FailureKind::OversizedOutput,
    );
}

#[test]
fn malformed_verdicts_are_unverified() {
    let (auditor, _dir, _rt) = hostile();
    for (case, needle) in [
        ("malformed-no-law", "no violated law"),
        ("malformed-unknown-law", "\"L999\""),
        ("malformed-empty-remediation", "remediation is empty"),
        ("malformed-pass-with-law", "pass but violated laws"),
    ] {
        let message = expect_unverified(
            &run(&auditor, case, &limits()),
            FailureKind::MalformedVerdict,
        );
        assert!(message.contains(needle), "{case}: {message}");
    }
}

#[test]
fn stdout_flood_costs_nothing_and_the_verdict_stands() {
    let (auditor, _dir, _rt) = hostile();
    let result = run(&auditor, "stdout-flood", &limits());
    assert_eq!(result.status(), VerdictStatus::Pass, "{result:?}");
}

#[test]
fn the_environment_and_arguments_are_empty() {
    let (rt, _dir) = runtime();
    let auditor = rt
        .load_auditor(&component("hostile_env"))
        .expect("env reader loads");
    let result = auditor.audit(&request("any"), &limits());
    assert_eq!(result.status(), VerdictStatus::Pass, "{result:?}");
    let leaked: Vec<&String> = result
        .verdict
        .reasons
        .iter()
        .filter(|r| r.starts_with("env:") || r.starts_with("arg:"))
        .collect();
    assert!(leaked.is_empty(), "the auditor saw {leaked:?}");
}

fn assert_refused(stem: &str, import_prefix: &str) {
    let (rt, _dir) = runtime();
    let error = rt
        .load_auditor(&component(stem))
        .expect_err("must be refused");
    match &error {
        LoadError::ForbiddenImport { import, .. } => {
            assert!(
                import.starts_with(import_prefix),
                "{stem}: refused for {import}"
            )
        }
        other => panic!("{stem}: expected a forbidden import, got {other}"),
    }
    let text = error.to_string();
    assert!(text.contains(import_prefix), "{text}");
    // Through the never-failing entry point, the refusal is an unverified verdict.
    let result = rt.audit(&component(stem), &request("any"), &limits());
    expect_unverified(&result, FailureKind::LoadRefused);
}

#[test]
fn filesystem_access_is_refused_at_load() {
    assert_refused("hostile_fs", "wasi:filesystem/");
}

#[test]
fn sockets_are_refused_at_load() {
    assert_refused("hostile_net", "wasi:sockets/");
}

#[test]
fn a_wfhost_capability_is_refused_for_an_auditor() {
    assert_refused("hostile_gateway", "wfhost:plugin/gateway@0.1.0");
}
