//! Hostile auditors: every misbehaviour ends as `unverified` with the right reason, quickly; the
//! WASI a language runtime imports (files, sockets, environment) loads but reaches nothing; every
//! forbidden capability (the gateway, the process capability) is refused at load, naming the
//! import and the role.

mod common;

use common::{component, request, runtime};
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use wfhost_runtime::types::{AuditRequest, Kv, VerdictStatus};
use wfhost_runtime::{AuditResult, Auditor, FailureKind, Limits, LoadError, Role};

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
    run_request(auditor, case, &request(case), limits)
}

fn run_request(
    auditor: &Auditor,
    case: &str,
    request: &AuditRequest,
    limits: &Limits,
) -> AuditResult {
    let started = Instant::now();
    let result = auditor.audit(request, limits);
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
    // The host process has an environment, so an empty one in the guest is the sandbox's doing.
    assert!(std::env::vars().next().is_some());
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

fn config(pairs: &[(&str, String)]) -> Vec<Kv> {
    pairs
        .iter()
        .map(|(key, value)| Kv {
            key: key.to_string(),
            value: value.clone(),
        })
        .collect()
}

/// Audit with `component`, which reports one `<attempt>: ok|error: ...` reason per attempt, check
/// that there were `attempts` of them and every one failed, and return them.
fn every_attempt_fails(
    component_stem: &str,
    pairs: &[(&str, String)],
    attempts: usize,
) -> Vec<String> {
    let (rt, _dir) = runtime();
    let auditor = rt
        .load_auditor(&component(component_stem))
        .expect("a component importing WASI loads as an auditor");
    let mut request = request("any");
    request.pack.config = config(pairs);
    let result = run_request(&auditor, component_stem, &request, &limits());
    assert_eq!(result.status(), VerdictStatus::Pass, "{result:?}");
    let reasons = &result.verdict.reasons;
    assert_eq!(reasons.len(), attempts, "{reasons:#?}");
    for reason in reasons {
        println!("{component_stem}: {reason}");
        assert!(reason.contains(": error: "), "{component_stem}: {reason}");
    }
    result.verdict.reasons
}

#[test]
fn files_cannot_be_read_listed_created_changed_or_deleted() {
    let files = tempfile::tempdir().expect("temp dir");
    let victim = files.path().join("victim.txt");
    std::fs::write(&victim, "original").expect("write victim");
    let canary = files.path().join("canary");
    let path = |p: &std::path::Path| p.display().to_string();
    let reasons = every_attempt_fails(
        "hostile_fs",
        &[
            ("canary", path(&canary)),
            ("victim", path(&victim)),
            ("dir", path(files.path())),
        ],
        10,
    );
    // There is no preopened directory, so no path leads anywhere.
    for reason in &reasons {
        assert!(reason.contains("No such file or directory"), "{reason}");
    }
    assert!(!canary.exists(), "the canary was planted");
    assert!(
        !files.path().join("planted").exists(),
        "a directory was made"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("victim still there"),
        "original"
    );
    assert_eq!(
        std::fs::read_dir(files.path()).expect("list").count(),
        1,
        "only the victim is in the directory"
    );
}

#[test]
fn the_network_cannot_be_reached() {
    let tcp = TcpListener::bind("127.0.0.1:0").expect("tcp listener");
    tcp.set_nonblocking(true).expect("nonblocking");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    udp.set_nonblocking(true).expect("nonblocking");
    let tcp_addr = tcp.local_addr().expect("addr");
    let udp_addr = udp.local_addr().expect("addr");
    let reasons = every_attempt_fails(
        "hostile_net",
        &[
            ("tcp_port", tcp_addr.port().to_string()),
            ("udp_port", udp_addr.port().to_string()),
        ],
        6,
    );
    // The host said no: sockets cannot be created, names do not resolve.
    for reason in &reasons {
        let denied = if reason.contains("localhost") || reason.starts_with("resolve") {
            "failed to lookup address information"
        } else {
            "Permission denied"
        };
        assert!(reason.contains(denied), "{reason}");
    }
    // A connection or datagram from the guest would be queued by now.
    let accepted = tcp.accept().map(|(_, peer)| peer);
    assert_eq!(
        accepted.as_ref().map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "the listener saw {accepted:?}"
    );
    let mut buffer = [0u8; 64];
    let received = udp.recv_from(&mut buffer);
    assert_eq!(
        received.as_ref().map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "the socket received {received:?}"
    );
    // Both are reachable from the host, so the guest's failures were the sandbox's doing.
    let _client = TcpStream::connect(tcp_addr).expect("host connects");
    tcp.set_nonblocking(false).expect("blocking");
    tcp.accept().expect("the listener works");
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.send_to(b"host", udp_addr))
        .expect("host sends");
    udp.set_nonblocking(false).expect("blocking");
    udp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(udp.recv_from(&mut buffer).expect("the socket works").0, 4);
}

fn assert_refused(stem: &str, role: Role, import_prefix: &str) {
    let (rt, _dir) = runtime();
    let source = component(stem);
    let error = match role {
        Role::Auditor => rt.load_auditor(&source).map(drop),
        Role::Executor => rt.load_executor(&source).map(drop),
        Role::Transport => rt.load_transport(&source).map(drop),
    }
    .expect_err("must be refused");
    match &error {
        LoadError::ForbiddenImport {
            import,
            role: refused_as,
            ..
        } => {
            assert!(
                import.starts_with(import_prefix),
                "{stem}: refused for {import}"
            );
            assert_eq!(*refused_as, role);
        }
        other => panic!("{stem}: expected a forbidden import, got {other}"),
    }
    let text = error.to_string();
    assert!(text.contains(import_prefix), "{text}");
    assert!(
        text.contains(&format!("loaded as {}", role.with_article())),
        "{text}"
    );
    if role == Role::Auditor {
        // Through the never-failing entry point, the refusal is an unverified verdict.
        let result = rt.audit(&source, &request("any"), &limits());
        expect_unverified(&result, FailureKind::LoadRefused);
    }
}

#[test]
fn a_wfhost_capability_is_refused_for_an_auditor() {
    assert_refused(
        "hostile_gateway",
        Role::Auditor,
        "wfhost:plugin/gateway@0.2.0",
    );
    assert_refused(
        "hostile_process",
        Role::Auditor,
        "wfhost:plugin/process@0.2.0",
    );
}

#[test]
fn the_process_capability_is_refused_for_an_executor() {
    assert_refused(
        "hostile_process",
        Role::Executor,
        "wfhost:plugin/process@0.2.0",
    );
}
