//! The http and memo capabilities end to end: a real transport component (the probe) sends
//! requests through `wfhost:plugin/http` to a loopback server over real sockets, under an
//! [`HttpClient`] policy, and keeps values in a [`Memo`] across calls.

mod common;

use common::loopback::Server;
use common::{component, runtime};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wfhost_runtime::http::{HttpClient, HttpPolicy};
use wfhost_runtime::types::{
    CommandResult, ExecSpec, HttpRequestRecord, HttpResponseRecord, Kv, LogLevel, RunRequest,
    WitHttpError,
};
use wfhost_runtime::{Limits, Memo, PluginHost, TransportError, TransportHost, Transport};

/// The API key the host holds; the component only names its handle.
const CANARY: &str = "sk_canary_5d1e0c7a9b";

/// A transport host with an HTTP client and a memo, recording the component's logs.
struct Host {
    client: HttpClient,
    memo: Memo,
    logs: Mutex<Vec<String>>,
}

impl PluginHost for Host {
    fn log(&self, _: LogLevel, message: &str) {
        self.logs.lock().expect("lock").push(message.to_string());
    }
    fn setting(&self, _: &str) -> Option<String> {
        None
    }
}

impl TransportHost for Host {
    fn run_process(&self, _: RunRequest) -> Result<CommandResult, String> {
        Err("no processes here".into())
    }
    fn http_send(&self, request: HttpRequestRecord) -> Result<HttpResponseRecord, WitHttpError> {
        self.client.send(&request)
    }
    fn memo(&self) -> Option<&Memo> {
        Some(&self.memo)
    }
}

/// A host whose policy declares 127.0.0.1 under the base `<server>/api`, with a 4 KiB cap.
fn host(server: &Server) -> Arc<Host> {
    let secrets: BTreeMap<String, String> = [("probe-handle".to_string(), CANARY.to_string())].into_iter().collect();
    let mut policy = HttpPolicy::new(["127.0.0.1"], [server.url("/api")]);
    policy.max_response_bytes = 4096;
    Arc::new(Host { client: HttpClient::new(policy, Arc::new(secrets)), memo: Memo::new(), logs: Mutex::new(Vec::new()) })
}

fn spec(command: &str, timeout_ms: u64) -> ExecSpec {
    ExecSpec {
        command: command.into(),
        cwd: None,
        env: vec![Kv { key: "Accept".into(), value: "application/json".into() }],
        timeout_ms,
    }
}

fn exec(t: &Transport, host: &Arc<Host>, target: &str, command: &str) -> Result<CommandResult, TransportError> {
    let h: Arc<dyn TransportHost> = host.clone();
    t.exec(h, &Limits::transport_default(), target, &spec(command, 5000))
}

fn failure(r: Result<CommandResult, TransportError>) -> String {
    match r {
        Err(TransportError::Failed(m)) => m,
        other => panic!("expected the component's failure, got {other:?}"),
    }
}

#[test]
fn a_declared_host_is_reached_with_the_secret_the_component_never_sees() {
    let server = Server::start();
    let (rt, _dir) = runtime();
    let t = rt.load_transport(&component("probe_transport")).expect("loads");
    let host = host(&server);

    let echo = server.url("/api/echo");
    let got = exec(&t, &host, "secret", &format!("http GET {echo}")).expect("answered");
    assert_eq!(got.exit_code, Some(200));
    // The server got the key in the header, from the host.
    let heads = server.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with("GET /api/echo HTTP/1.1"), "{}", heads[0]);
    assert!(heads[0].contains(&format!("x-api-key: {CANARY}")), "{}", heads[0]);
    assert!(heads[0].contains("accept: application/json"), "{}", heads[0]);
    // The server echoed it back in the body and a header; the component got it scrubbed.
    assert!(got.stdout.contains("x-api-key: [redacted]"), "{}", got.stdout);
    assert!(got.stderr.contains("x-echo: [redacted]"), "{}", got.stderr);
    let logs = host.logs.lock().expect("lock").join("\n");
    assert!(logs.contains("probe http 200"), "{logs}");
    for seen in [&got.stdout, &got.stderr, &logs] {
        assert!(!seen.contains(CANARY), "the key reached the component: {seen}");
    }

    // A read without a secret header carries no key at all.
    let plain = exec(&t, &host, "pod", &format!("http GET {echo}")).expect("answered");
    assert!(!plain.stdout.contains("x-api-key"), "{}", plain.stdout);

    // A route the server does not know is an answer (404), not an error.
    let missing = exec(&t, &host, "pod", &format!("http GET {}", server.url("/api/nothing"))).expect("answered");
    assert_eq!((missing.exit_code, missing.stdout.as_str()), (Some(404), "no such route"));
}

#[test]
fn requests_outside_the_policy_are_refused_before_anything_is_sent() {
    let server = Server::start();
    let (rt, _dir) = runtime();
    let t = rt.load_transport(&component("probe_transport")).expect("loads");
    let host = host(&server);
    let port = server.port;
    let cases = [
        // `localhost` is the same machine but not a declared host.
        (format!("http GET http://localhost:{port}/api/echo"), "not among the hosts the transport's profile declares (127.0.0.1)"),
        // Declared host, outside the allowed base URL.
        (format!("http GET http://127.0.0.1:{port}/admin/echo"), "under no base URL the config allows"),
        // Another port of the declared host.
        (format!("http GET http://127.0.0.1:{}/api/echo", port.wrapping_add(1)), "under no base URL"),
        // Plain http off loopback.
        ("http GET http://192.0.2.7/api/echo".to_string(), "plain http is allowed only to a loopback host"),
        ("http GET http://user:pw@127.0.0.1/api/echo".to_string(), "user name or password"),
    ];
    for (command, why) in cases {
        let message = failure(exec(&t, &host, "secret", &command));
        assert!(message.starts_with("refused: ") && message.contains(why), "{command}: {message}");
        assert!(!message.contains(CANARY), "{message}");
    }
    // A header the host owns cannot be set by the component.
    let h: Arc<dyn TransportHost> = host.clone();
    let mut s = spec(&format!("http GET {}", server.url("/api/echo")), 5000);
    s.env.push(Kv { key: "X-API-KEY".into(), value: "forged".into() });
    let forged = failure(t.exec(h.clone(), &Limits::transport_default(), "secret", &s));
    assert!(forged.contains("carries a secret"), "{forged}");
    s.env[1].key = "Host".into();
    let host_header = failure(t.exec(h, &Limits::transport_default(), "pod", &s));
    assert!(host_header.contains("set by the host"), "{host_header}");
    assert!(server.heads().is_empty(), "a refused request reached the server: {:?}", server.heads());

    // An unknown secret handle is refused too, naming the handle (a host with no secrets).
    let bare = Arc::new(Host {
        client: HttpClient::new(host.client.policy().clone(), Arc::new(BTreeMap::<String, String>::new())),
        memo: Memo::new(),
        logs: Mutex::new(Vec::new()),
    });
    let unknown = failure(exec(&t, &bare, "secret", &format!("http GET {}", server.url("/api/echo"))));
    assert!(unknown.contains("\"probe-handle\"") && unknown.contains("not known to the host"), "{unknown}");
    assert!(server.heads().is_empty());
}

#[test]
fn answers_are_bounded_in_size_and_time() {
    let server = Server::start();
    let (rt, _dir) = runtime();
    let t = rt.load_transport(&component("probe_transport")).expect("loads");
    let host = host(&server);

    let at_cap = exec(&t, &host, "pod", &format!("http GET {}", server.url("/api/big?n=4096"))).expect("at the cap");
    assert_eq!(at_cap.stdout.len(), 4096);
    let over = failure(exec(&t, &host, "pod", &format!("http GET {}", server.url("/api/big?n=4097"))));
    assert!(over.starts_with("too-large: ") && over.contains("4096-byte cap"), "{over}");
    let huge = failure(exec(&t, &host, "pod", &format!("http GET {}", server.url("/api/big?n=50000000"))));
    assert!(huge.starts_with("too-large: "), "{huge}");

    // The server answers after 3 s; the request's own 300 ms bound holds.
    let h: Arc<dyn TransportHost> = host.clone();
    let started = Instant::now();
    let slow = t.exec(h, &Limits::transport_default(), "pod", &spec(&format!("http GET {}", server.url("/api/slow")), 300));
    let took = started.elapsed();
    let slow = failure(slow);
    assert!(slow.starts_with("timeout: ") && slow.contains("300 ms"), "{slow}");
    assert!(took < Duration::from_millis(2000), "the timeout took {took:?}");

    // Nothing listens: unreachable, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut policy = HttpPolicy::new(["127.0.0.1"], [format!("http://127.0.0.1:{dead_port}")]);
    policy.max_response_bytes = 4096;
    let dead = Arc::new(Host { client: HttpClient::new(policy, Arc::new(BTreeMap::<String, String>::new())), memo: Memo::new(), logs: Mutex::new(Vec::new()) });
    let down = failure(exec(&t, &dead, "pod", &format!("http GET http://127.0.0.1:{dead_port}/x")));
    assert!(down.starts_with("unreachable: "), "{down}");
}

#[test]
fn the_memo_outlives_one_call_and_keeps_its_bounds() {
    let server = Server::start();
    let (rt, _dir) = runtime();
    let t = rt.load_transport(&component("probe_transport")).expect("loads");
    let host = host(&server);
    assert_eq!(exec(&t, &host, "pod", "memo endpoint").expect("get").stdout, "<none>");
    assert_eq!(exec(&t, &host, "pod", "memo endpoint=root@127.0.0.1:2222").expect("set").stdout, "root@127.0.0.1:2222");
    // A later call (a new store) reads what the earlier one stored.
    assert_eq!(exec(&t, &host, "pod", "memo endpoint").expect("get").stdout, "root@127.0.0.1:2222");
    assert_eq!(host.memo.get("endpoint").as_deref(), Some("root@127.0.0.1:2222"));
    let big = failure(exec(&t, &host, "pod", &format!("memo big={}", "v".repeat(5000))));
    assert!(big.contains("at most 4096 bytes"), "{big}");
    assert_eq!(host.memo.len(), 1);
}
