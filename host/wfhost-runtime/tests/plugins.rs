//! Executors and transports end to end: their imports reach the host objects the caller passes,
//! their own errors come back typed, their failures are `PluginFailure`s, and going around the
//! host (files, sockets, environment through WASI) reaches nothing.

mod common;

use common::{component, runtime};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wfhost_runtime::process::{ProcessPolicy, ProcessRunner};
use wfhost_runtime::types::{
    Artifact, CommandResult, ExecRequest, ExecSpec, GatewayError, Kv, LogLevel, PhaseContext,
    PodIdentity, PodReport, RunRequest,
};
use wfhost_runtime::{
    ExecutorHost, FailureKind, Limits, PluginHost, TransportError, TransportHost,
};

/// A host that records what plugins asked for.
#[derive(Default)]
struct Recorder {
    logs: Mutex<Vec<(LogLevel, String)>>,
    execs: Mutex<Vec<ExecRequest>>,
    runner: Option<ProcessRunner>,
}

impl PluginHost for Recorder {
    fn log(&self, level: LogLevel, message: &str) {
        self.logs
            .lock()
            .expect("lock")
            .push((level, message.to_string()));
    }
    fn setting(&self, key: &str) -> Option<String> {
        (key == "probe_key").then(|| "probe-value".to_string())
    }
}

impl ExecutorHost for Recorder {
    fn bound_target(&self) -> Option<String> {
        Some("pod-7".into())
    }
    fn provision(&self, _: &str) -> Result<PodIdentity, GatewayError> {
        Err(GatewayError::Refused("no".into()))
    }
    fn pod_status(&self, target: &str) -> Result<PodReport, GatewayError> {
        Err(GatewayError::Refused(format!(
            "{target} is outside the flow's scope"
        )))
    }
    fn resolve_path(&self, _: &str, path: &str) -> Result<String, GatewayError> {
        Ok(path.to_string())
    }
    fn exec(&self, request: ExecRequest) -> Result<CommandResult, GatewayError> {
        let stdout = format!("ran {:?} on {}", request.command, request.target);
        self.execs.lock().expect("lock").push(request);
        Ok(CommandResult {
            exit_code: Some(0),
            stdout,
            stderr: String::new(),
            timed_out: false,
            duration_ms: 1,
            truncated: false,
        })
    }
    fn put_file(&self, _: &str, _: &str, _: Vec<u8>, _: u32) -> Result<(), GatewayError> {
        Ok(())
    }
    fn get_file(&self, _: &str, _: &str, _: u64) -> Result<Vec<u8>, GatewayError> {
        Ok(vec![])
    }
    fn fetch_dir(&self, _: &str, _: &str, _: &str) -> Result<Vec<Artifact>, GatewayError> {
        Ok(vec![])
    }
    fn delete_pod(&self, _: &str) -> Result<(), GatewayError> {
        Ok(())
    }
}

impl TransportHost for Recorder {
    fn run_process(&self, request: RunRequest) -> Result<CommandResult, String> {
        match &self.runner {
            Some(runner) => runner.run_wit(request),
            None => Err("no process runner".into()),
        }
    }
}

fn context(phase: &str) -> PhaseContext {
    PhaseContext {
        flow_id: "flow-1".into(),
        phase: phase.into(),
        flow_flags: common::flow_flags(),
        config: vec![],
        target: Some("pod-7".into()),
        fsm_state: "POD_READY".into(),
        inputs: vec![],
    }
}

fn fact<'a>(facts: &'a [Kv], key: &str) -> &'a str {
    facts
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.as_str())
        .unwrap_or("<missing>")
}

#[test]
fn executor_imports_reach_the_host() {
    let (rt, _dir) = runtime();
    let executor = rt
        .load_executor(&component("probe_executor"))
        .expect("loads");
    assert_eq!(
        executor
            .phases(&Limits::executor_default())
            .expect("phases"),
        vec!["P30", "P40"]
    );
    let host = Arc::new(Recorder::default());
    let outcome = executor
        .run_phase(&context("P30"), host.clone(), &Limits::executor_default())
        .expect("runs");
    assert_eq!(outcome.phase, "P30");
    assert_eq!(fact(&outcome.facts, "setting"), "probe-value");
    assert_eq!(fact(&outcome.facts, "bound_target"), "Some(\"pod-7\")");
    assert_eq!(
        fact(&outcome.facts, "exec"),
        "Ok(\"ran \\\"echo probe\\\" on pod-7\")"
    );
    assert!(fact(&outcome.facts, "elsewhere").contains("outside the flow's scope"));
    assert_eq!(
        host.logs.lock().expect("lock").as_slice(),
        &[(LogLevel::Info, "probe running P30".to_string())]
    );
    assert_eq!(host.execs.lock().expect("lock").len(), 1);
}

#[test]
fn an_executor_reaches_nothing_around_the_gateway() {
    let (rt, _dir) = runtime();
    let executor = rt
        .load_executor(&component("probe_executor"))
        .expect("loads");
    let files = tempfile::tempdir().expect("temp dir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let canary = files.path().join("canary");
    let mut context = context("reach-out");
    context.config = vec![
        Kv {
            key: "canary".into(),
            value: canary.display().to_string(),
        },
        Kv {
            key: "port".into(),
            value: listener.local_addr().expect("addr").port().to_string(),
        },
    ];
    let host = Arc::new(Recorder::default());
    let outcome = executor
        .run_phase(&context, host.clone(), &Limits::executor_default())
        .expect("runs");
    for key in ["read", "create", "connect"] {
        let value = fact(&outcome.facts, key);
        println!("{key}: {value}");
        assert!(value.starts_with("Err("), "{key}: {value}");
    }
    assert!(fact(&outcome.facts, "connect").contains("PermissionDenied"));
    assert_eq!(fact(&outcome.facts, "env"), "0");
    assert!(!canary.exists(), "the canary was planted");
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock)
    );
    assert!(host.execs.lock().expect("lock").is_empty());
}

#[test]
fn executor_failures_are_plugin_failures() {
    let (rt, _dir) = runtime();
    let executor = rt
        .load_executor(&component("probe_executor"))
        .expect("loads");
    let host: Arc<dyn ExecutorHost> = Arc::new(Recorder::default());
    let trap = executor
        .run_phase(&context("trap"), host.clone(), &Limits::executor_default())
        .expect_err("traps");
    assert_eq!(trap.kind, FailureKind::Trap);
    let limits = Limits {
        wall: Duration::from_millis(200),
        ..Limits::executor_default()
    };
    let started = Instant::now();
    let late = executor
        .run_phase(&context("loop"), host.clone(), &limits)
        .expect_err("deadline");
    assert_eq!(late.kind, FailureKind::Deadline);
    assert!(started.elapsed() < Duration::from_secs(10));
    let small = Limits {
        max_output_bytes: 1 << 20,
        ..Limits::executor_default()
    };
    let big = executor
        .run_phase(&context("big"), host, &small)
        .expect_err("oversized");
    assert_eq!(big.kind, FailureKind::OversizedOutput, "{big}");
}

fn transport_host() -> Arc<dyn TransportHost> {
    let env: BTreeMap<String, String> = [
        ("PATH", "/usr/bin:/bin"),
        ("HOME", "/nonexistent"),
        ("SECRETLESS", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let secrets: BTreeMap<String, String> =
        [("probe-handle".to_string(), "hunter2-secret".to_string())]
            .into_iter()
            .collect();
    let policy = ProcessPolicy::new(["echo", "env", "sh"], &env);
    Arc::new(Recorder {
        runner: Some(ProcessRunner::new(policy, Arc::new(secrets))),
        ..Recorder::default()
    })
}

fn spec(command: &str) -> ExecSpec {
    ExecSpec {
        command: command.into(),
        cwd: None,
        env: vec![Kv {
            key: "PROBE".into(),
            value: "1".into(),
        }],
        timeout_ms: 5000,
    }
}

#[test]
fn transport_calls_map_results_and_errors() {
    let (rt, _dir) = runtime();
    let transport = rt
        .load_transport(&component("probe_transport"))
        .expect("loads");
    let limits = Limits::transport_default();
    let host = transport_host();
    assert_eq!(transport.id(host.clone(), &limits).expect("id"), "probe");
    assert_eq!(
        transport
            .parse_target(host.clone(), &limits, " pod ")
            .expect("parse"),
        "pod"
    );
    assert_eq!(
        transport.parse_target(host.clone(), &limits, "  "),
        Err(TransportError::Invalid("empty target".into()))
    );
    assert_eq!(
        transport.status(host.clone(), &limits, "pod-9"),
        Err(TransportError::Vanished("pod-9".into()))
    );

    let echoed = transport
        .exec(host.clone(), &limits, "pod", &spec("echo hello world"))
        .expect("exec");
    assert_eq!(echoed.stdout, "hello world\n");
    assert_eq!(echoed.exit_code, Some(0));

    // The environment is clean: PATH, HOME plus the request's entries; nothing else leaks.
    let env = transport
        .exec(host.clone(), &limits, "pod", &spec("env"))
        .expect("exec env");
    let mut keys: Vec<&str> = env
        .stdout
        .lines()
        .filter_map(|l| l.split('=').next())
        .collect();
    keys.sort();
    assert_eq!(keys, vec!["HOME", "PATH", "PROBE"], "{}", env.stdout);

    // A secret reaches the process but never comes back to the plugin.
    let secret = transport
        .exec(host.clone(), &limits, "secret", &spec("env"))
        .expect("exec secret");
    assert!(
        secret.stdout.contains("PROBE_SECRET=[redacted]"),
        "{}",
        secret.stdout
    );
    assert!(!secret.stdout.contains("hunter2-secret"));

    // Writing a host file directly (not through a program) reaches nothing.
    let files = tempfile::tempdir().expect("temp dir");
    let canary = files.path().join("canary");
    let written = transport.put_file(
        host.clone(),
        &limits,
        "pod",
        &canary.display().to_string(),
        b"planted",
        0o644,
    );
    match written {
        Err(TransportError::Failed(message)) => {
            assert!(message.starts_with("std::fs::write"), "{message}")
        }
        other => panic!("expected the write to fail, got {other:?}"),
    }
    assert!(!canary.exists(), "the canary was planted");

    // A program outside the allowlist is refused, and the refusal comes back as the plugin's error.
    let refused = transport
        .exec(host.clone(), &limits, "pod", &spec("cat /etc/passwd"))
        .expect_err("refused");
    match refused {
        TransportError::Failed(message) => assert!(message.contains("not allowed"), "{message}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn transport_plugin_failures_are_a_distinct_variant() {
    let (rt, _dir) = runtime();
    let transport = rt
        .load_transport(&component("probe_transport"))
        .expect("loads");
    let host = transport_host();
    let trap = transport
        .provision(host.clone(), &Limits::transport_default(), "x", "k")
        .expect_err("traps");
    let TransportError::Plugin(failure) = trap else {
        panic!("expected a plugin failure, got {trap:?}")
    };
    assert_eq!(failure.kind, FailureKind::Trap);

    let short = Limits {
        wall: Duration::from_millis(200),
        ..Limits::transport_default()
    };
    let late = transport
        .delete(host.clone(), &short, "pod")
        .expect_err("deadline");
    assert!(
        matches!(&late, TransportError::Plugin(f) if f.kind == FailureKind::Deadline),
        "{late:?}"
    );

    let small = Limits {
        max_output_bytes: 1000,
        ..Limits::transport_default()
    };
    assert_eq!(
        transport
            .get_file(host.clone(), &small, "pod", "/f", 1000)
            .expect("fits")
            .len(),
        1000
    );
    let big = transport
        .get_file(host, &small, "pod", "/f", 1001)
        .expect_err("oversized");
    assert!(
        matches!(&big, TransportError::Plugin(f) if f.kind == FailureKind::OversizedOutput),
        "{big:?}"
    );
}
