//! The lium transport end to end: the real `wfhost` binary against the Lium API simulator
//! (`tests/lium_sim`), whose pods are real sshd processes, each in its own mount namespace with a
//! private `/mnt`, stdin closed.
//!
//! [`Sim::start`] runs `lium_sim.py --port 0` with a config of the test's, in a state directory
//! of its own, and reads the line that names its base URL; the test drives it (and reads what it
//! saw) through its admin routes. Dropping it shuts it down, which kills every pod. Every test
//! ends with [`Sim::no_live_pods`]: the simulator lists no pod the test did not mean to keep.
//! The config carries a canary API key, which must reach the simulator only in the X-API-KEY
//! header and appear nowhere in the evidence or the output.
//!
//! The sweep's command appends its run id to a file in the sandbox (the pods see the host's
//! file system except their own `/mnt`), so a run executed twice cannot hide.

use crate::harness::{Run, Sandbox};
use crate::ssh::{events, facts, files, last_status, verify};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wfhost_constitution::codes;

/// The API key the simulator accepts; it must never be seen anywhere else.
const CANARY: &str = "sk_canary_lium_e2e_5f1d9b3a";
/// The simulator's nodes.
const H100: &str = "aa11bb22-cc33-4d44-8e55-66778899aabb";
const RTX: &str = "bb22cc33-dd44-4e55-8f66-778899aabbcc";
/// HTTP answers the tests look for (named, so no number reads as a wfhost failure code).
const HTTP_OK: u64 = 200;
const HTTP_BAD_REQUEST: u64 = 400;
const HTTP_TOO_MANY: u64 = 429;
const HTTP_UNAVAILABLE: u64 = 503;

/// One HTTP/1.1 request to the simulator (admin routes, or the API with the canary): the status
/// and the JSON body.
fn http(url: &str, method: &str, body: Option<&Value>, key: bool) -> (u16, Value) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) = rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let data = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n", data.len());
    if body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if key {
        head.push_str(&format!("X-API-KEY: {CANARY}\r\n"));
    }
    stream.write_all(format!("{head}\r\n{data}").as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text}"));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A running simulator.
pub struct Sim {
    child: Child,
    pub base_url: String,
    admin: String,
    _state: tempfile::TempDir,
}

impl Sim {
    /// Start one with `config` (the canary key and fast deletions added).
    pub fn start(mut config: Value) -> Sim {
        let uid = String::from_utf8_lossy(&Command::new("id").arg("-u").output().expect("id").stdout).trim().to_string();
        assert_eq!(uid, "0", "the Lium simulator's pods are sshd processes in namespaces of their own: run these tests as root (.ci/run does)");
        for p in ["/usr/sbin/sshd", "/usr/bin/unshare", "/usr/bin/setpriv"] {
            assert!(Path::new(p).exists(), "the Lium simulator needs {p}: install openssh-server and util-linux (.ci/run does)");
        }
        config["api_key"] = json!(CANARY);
        if config.get("delete_delay_s").is_none() {
            config["delete_delay_s"] = json!(0.2);
        }
        let state = tempfile::Builder::new().prefix("wflium.").tempdir_in("/tmp").expect("state dir");
        let cfg_path = state.path().join("sim.json");
        std::fs::write(&cfg_path, config.to_string()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lium_sim/lium_sim.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--port", "0", "--state-dir"])
            .arg(state.path().join("state"))
            .arg("--config")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(state.path().join("sim.stderr")).unwrap()))
            .spawn()
            .expect("python3 runs the simulator");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let ready: Value = serde_json::from_str(line.trim()).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the simulator did not start: {line:?}\n{}", std::fs::read_to_string(state.path().join("sim.stderr")).unwrap_or_default())
        });
        Sim { child, base_url: ready["base_url"].as_str().unwrap().to_string(), admin: ready["admin"].as_str().unwrap().to_string(), _state: state }
    }

    /// An admin route.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = http(&format!("{}{path}", self.admin), method, body.as_ref(), false);
        let answered = u64::from(status);
    assert!((HTTP_OK..HTTP_OK + 100).contains(&answered), "{method} /_admin{path}: {answered} {v}");
        v
    }

    /// Every pod ever rented.
    pub fn pods(&self) -> Vec<Value> {
        self.admin("GET", "/pods", None).as_array().cloned().unwrap_or_default()
    }

    /// The request log (API requests only).
    pub fn requests(&self) -> Vec<Value> {
        self.admin("GET", "/requests", None).as_array().cloned().unwrap_or_default()
    }

    /// Requests by method and a path suffix.
    pub fn sent(&self, method: &str, path_end: &str) -> Vec<Value> {
        self.requests().into_iter().filter(|r| r["method"] == method && r["path"].as_str().unwrap_or("").ends_with(path_end)).collect()
    }

    /// Add a failure knob.
    pub fn inject(&self, knob: Value) {
        self.admin("POST", "/inject", Some(knob));
    }

    /// The simulator lists no live pod (the tests keep none).
    pub fn no_live_pods(&self) {
        let listed: Vec<Value> = self.pods().into_iter().filter(|p| p["listed"] == true).collect();
        assert!(listed.is_empty(), "the simulator still lists pods: {listed:#?}");
    }

    /// Set the sandbox up for the lium transport against this simulator.
    pub fn configure(&self, s: &mut Sandbox) {
        let key = s.root().join("id_lium");
        let out = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "wfhost-lium-e2e", "-f"]).arg(&key).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
        s.set("WF_TRANSPORT", "lium");
        s.set("LIUM_BASE_URL", &self.base_url);
        s.set("LIUM_API_KEY", CANARY);
        s.set("WF_SSH_IDENTITY", "id_lium");
        // Generous: a loaded 2-core machine can take many seconds to start a pod's sshd and log in;
        // the tests of the limit set their own.
        s.set("WF_POD_READY_TIMEOUT_SECS", "90");
        // Each run appends its id to a file of the sandbox, which the pods see.
        let ran = s.root().join("ran.log");
        s.set("SWEEP_RUN_TEMPLATE", &format!("echo {{run_id}} >> {} && sh train.sh --seed {{seed}} {{extra}}", ran.display()));
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Whatever path a test took, it leaves no pod behind (a failing test has said why
        // already; a second panic would only hide that).
        let left: Vec<Value> = if std::thread::panicking() { Vec::new() } else { self.pods().into_iter().filter(|p| p["listed"] == true).collect() };
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        assert!(left.is_empty(), "the test left pods listed on the simulator: {left:#?}");
    }
}

/// The canary appears nowhere in the output or under the sandbox (evidence, config copies,
/// known_hosts ...) except the config file that holds it; the simulator saw it only in the
/// X-API-KEY header.
fn key_stays_secret(s: &Sandbox, run: &Run, sim: &Sim) {
    key_absent(s, run);
    for r in sim.requests() {
        let places = r["key_locations"].as_array().cloned().unwrap_or_default();
        assert!(places.iter().all(|p| p == "header:x-api-key"), "the key reached the simulator elsewhere than its header: {r}");
    }
}

/// The canary appears nowhere in the output or under the sandbox except the config file.
fn key_absent(s: &Sandbox, run: &Run) {
    assert!(!run.stdout.contains(CANARY) && !run.stderr.contains(CANARY), "the API key reached the output\n{}", run.explain());
    let config = s.root().join("infra_scripts/workflow.env");
    for f in files(s.root()) {
        if f == config || f.starts_with(s.root().join("repo/.git")) {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&f) {
            assert!(!String::from_utf8_lossy(&bytes).contains(CANARY), "the API key leaked into {}", f.display());
        }
    }
}

fn flow(s: &Sandbox, args: &[&str]) -> Run {
    s.run_with_limit(args, Duration::from_secs(240))
}

const FULL: [&str; 10] = ["flow", "--provision", "auto", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"];
const NO_SWEEP: [&str; 10] = ["flow", "--provision", "auto", "--yes", "--sweep", "skip", "--fetch", "none", "--teardown", "delete"];

/// The pods the simulator saw rented, with the rent's body.
fn rents(sim: &Sim) -> Vec<Value> {
    sim.sent("POST", "/rent")
}

/// The `receipt.side_effect` records of a flow for `op`, and what they say.
fn receipts(flow_dir: &Path, op: &str) -> Vec<Value> {
    events(flow_dir).into_iter().filter(|e| e["event_type"] == "receipt.side_effect" && e["payload"]["op"] == op).collect()
}

#[test]
fn a_full_flow_rents_one_pod_runs_the_sweep_once_and_deletes_the_pod() {
    let sim = Sim::start(json!({"balance": 100.0}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    let run = flow(&s, &FULL);
    assert_eq!(run.status, 0, "{}", run.explain());
    let phases: Vec<String> = run.statuses().into_iter().map(|(p, st, c)| format!("{p}:{st}:{c}")).collect();
    assert!(phases.iter().all(|p| p.ends_with(":ok:0") || p.ends_with(":skip:0")), "{phases:?}");
    assert!(run.courts().iter().all(|(_, c, _, _)| c == "pass"), "{}", run.explain());
    eprintln!("lium e2e: full flow against the simulator took {:.1} s", run.took.as_secs_f64());

    // One rent, one pod, bound by its UUID, with a name carrying the flow, a TTL and a key.
    let pods = sim.pods();
    assert_eq!(pods.len(), 1, "{pods:#?}");
    let pod = &pods[0];
    let id = pod["id"].as_str().unwrap();
    let rent = rents(&sim);
    assert_eq!(rent.len(), 1);
    assert_eq!(rent[0]["body"]["termination_hours"], 8, "LIUM_TTL's default is sent: {}", rent[0]);
    assert!(rent[0]["idempotency_key"].as_str().is_some_and(|k| k.starts_with("wfhost-")), "{}", rent[0]);
    let flow_id = run.flow_dir().file_name().unwrap().to_string_lossy().into_owned();
    let suffix = flow_id.rsplit('-').next().unwrap();
    assert!(pod["name"].as_str().unwrap().contains(suffix), "the pod's name {} carries the flow id {flow_id}", pod["name"]);
    let summary = run.summary();
    assert_eq!(summary["target"], id, "{summary}");
    assert_eq!(summary["pod_state"], "deleted", "{summary}");
    assert_eq!(facts(&run, "P10")["target"], id);

    // The sweep ran on the pod, each run once, and came back.
    let ran = std::fs::read_to_string(s.root().join("ran.log")).unwrap();
    let mut ids: Vec<&str> = ran.lines().collect();
    ids.sort();
    assert_eq!(ids, ["r1", "r2", "r3"], "every run exactly once");
    let fetched = s.root().join("artifacts/pod_logs").join(id);
    for r in ["r1", "r2", "r3"] {
        assert!(fetched.join(r).join("metrics.json").is_file(), "{r} was not fetched into {}", fetched.display());
    }

    // Deleted, and confirmed: DELETE once, then listings until the pod was gone.
    assert_eq!(pod["deleted"], true, "{pod}");
    sim.no_live_pods();
    let deletes = sim.sent("DELETE", &format!("/pods/{id}"));
    assert_eq!(deletes.len(), 1);
    let after: Vec<Value> = sim.requests().into_iter().filter(|r| r["seq"].as_u64() > deletes[0]["seq"].as_u64() && r["method"] == "GET" && r["path"].as_str().unwrap_or("").ends_with("/pods")).collect();
    assert!(!after.is_empty(), "no listing confirmed the deletion");

    // Receipts for the rent and the delete (the HTTP side effects and the gateway's own).
    let flow_dir = run.flow_dir();
    let http = receipts(&flow_dir, "http");
    assert!(http.iter().any(|r| r["payload"]["result"].as_str().unwrap_or("").starts_with("POST ") && r["payload"]["phase"] == "P10"), "{http:#?}");
    assert!(http.iter().any(|r| r["payload"]["result"].as_str().unwrap_or("").starts_with("DELETE ") && r["payload"]["phase"] == "P90"), "{http:#?}");
    assert_eq!(receipts(&flow_dir, "provision").len(), 1);
    let deleted = receipts(&flow_dir, "delete-pod");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["payload"]["result"], "deleted; confirmed gone: the transport no longer finds it", "{}", deleted[0]);
    // The pod's host key was pinned under its id and recorded.
    let pinned: Vec<Value> = events(&flow_dir).into_iter().filter(|e| e["event_type"] == "host_key.accepted").collect();
    assert!(pinned.iter().any(|e| e.to_string().contains(&format!("lium-{id}"))), "no host_key.accepted for lium-{id}: {pinned:#?}");

    key_stays_secret(&s, &run, &sim);
    let (status, report) = verify(&s, &flow_dir);
    assert_eq!(status, 0, "{report:#}");
    // Figures: P10's time (rent to ready; the simulator adds no delay of its own) and the API
    // requests the flow made.
    let p10 = std::fs::read_to_string(flow_dir.join("phase/phase.P10.json")).unwrap();
    let p10: Value = serde_json::from_str(&p10).unwrap();
    let calls = sim.requests().len();
    eprintln!(
        "lium e2e: P10 (balance, nodes, template, rent, ready) took {} ms; {calls} API requests in the whole flow ({} GET /pods listings)",
        p10["duration_ms"],
        sim.sent("GET", "/pods").len()
    );
    assert!(calls <= 20, "{calls} API requests for one flow: {:#?}", sim.requests().iter().map(|r| format!("{} {}", r["method"], r["path"])).collect::<Vec<_>>());
}

#[test]
fn an_insufficient_balance_is_refused_before_anything_is_rented() {
    let sim = Sim::start(json!({"balance": 5.0}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    let run = flow(&s, &NO_SWEEP);
    assert_ne!(run.status, 0);
    assert_eq!(last_status(&run), ("P10".into(), "fail".into(), codes::PROVISION_FAILED.get()), "{}", run.explain());
    assert!(run.stderr.contains("renting refused before anything was sent") && run.stderr.contains("balance of $5.00"), "{}", run.explain());
    assert!(rents(&sim).is_empty(), "a rent was sent");
    assert!(sim.pods().is_empty());
    // P00 read the balance with the key: the key works.
    assert!(!sim.sent("GET", "/users/me").is_empty());
    key_stays_secret(&s, &run, &sim);
}

#[test]
fn a_bad_setting_or_key_halts_p00() {
    let sim = Sim::start(json!({"balance": 42.5}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    // doctor checks the key and prints the balance.
    let doctor = s.run(&["doctor"]);
    let said = format!("{}{}", doctor.stdout, doctor.stderr);
    assert!(said.contains("LIUM_API_KEY is accepted by") && said.contains("balance $42.50"), "{}", doctor.explain());
    assert!(said.contains("the lium transport accepts its settings"), "{}", doctor.explain());
    assert!(!said.contains("P10 may run out of time"), "{}", doctor.explain());
    // Ready waits longer than P10's budget: a warning naming what to change, until the budget
    // is raised.
    s.set("WF_POD_READY_TIMEOUT_SECS", "600");
    let doctor = s.run(&["doctor"]);
    let said = format!("{}{}", doctor.stdout, doctor.stderr);
    assert!(said.contains("P10 may run out of time") && said.contains("P10's timeout_secs in constitution/phases.toml"), "{}", doctor.explain());
    s.set("WF_PHASE_TIMEOUT_P10", "2000");
    let doctor = s.run(&["doctor"]);
    let said = format!("{}{}", doctor.stdout, doctor.stderr);
    assert!(!said.contains("P10 may run out of time"), "WF_PHASE_TIMEOUT_P10 reaches the transport:\n{}", doctor.explain());
    s.unset("WF_PHASE_TIMEOUT_P10").set("WF_POD_READY_TIMEOUT_SECS", "90");
    s.set("LIUM_TTL", "forever");
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(last_status(&run), ("P00".into(), "fail".into(), codes::CONFIG_INVALID.get()), "{}", run.explain());
    assert!(run.stderr.contains("LIUM_TTL=\"forever\" is refused"), "{}", run.explain());
    s.set("LIUM_TTL", "none");
    s.set("LIUM_API_KEY", "sk_wrong_key_0000");
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(last_status(&run), ("P00".into(), "fail".into(), codes::CONFIG_INVALID.get()), "{}", run.explain());
    assert!(run.stderr.contains("LIUM_API_KEY is refused by"), "{}", run.explain());
    assert!(!run.stdout.contains("sk_wrong_key_0000") && !run.stderr.contains("sk_wrong_key_0000"));
    let doctor = s.run(&["doctor"]);
    assert_ne!(doctor.status, 0, "{}", doctor.explain());
    assert!(doctor.stdout.contains("LIUM_API_KEY is refused by"), "{}", doctor.explain());
    assert!(rents(&sim).is_empty());
}

#[test]
fn a_pod_whose_creation_fails_fails_p10_at_once_with_its_events_and_is_removed() {
    let err = "Container creation failed due to image pull timeout (failure_step: pull_image)";
    let sim = Sim::start(json!({"executors": [{"id": H100, "machine_name": "NVIDIA H100 80GB HBM3", "gpu_count": 1, "price_per_gpu": 2.4,
        "knobs": {"creation_failure": {"after_s": 1, "error": err}}}]}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    let t0 = Instant::now();
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(last_status(&run), ("P10".into(), "fail".into(), codes::PROVISION_FAILED.get()), "{}", run.explain());
    assert!(t0.elapsed() < Duration::from_secs(25), "a failed pod is not waited for: {:?}", t0.elapsed());
    assert!(run.stderr.contains("CREATION_FAILED") && run.stderr.contains("image pull timeout"), "{}", run.explain());
    assert_eq!(rents(&sim).len(), 1, "a failed creation is not retried");
    sim.no_live_pods();
}

#[test]
fn a_pod_not_ready_in_time_is_deleted_and_another_rented_once() {
    let sim = Sim::start(json!({}));
    sim.inject(json!({"knob": "slow_ready", "seconds": 120, "count": 1}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    s.set("WF_POD_READY_TIMEOUT_SECS", "4");
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(run.status, 0, "{}", run.explain());
    let pods = sim.pods();
    assert_eq!(pods.len(), 2, "{pods:#?}");
    assert_eq!(pods[0]["deleted"], true, "the slow pod was deleted: {}", pods[0]);
    // Two rents took place; one in between may have been refused while the node still held the
    // deleted pod's GPU (it is freed when the pod is purged), and was tried again.
    let all = rents(&sim);
    let rent: Vec<&Value> = all.iter().filter(|r| r["status"] == HTTP_OK).collect();
    assert_eq!(rent.len(), 2, "{all:#?}");
    assert!(all.iter().all(|r| r["status"] == HTTP_OK || r["status"] == HTTP_BAD_REQUEST), "{all:#?}");
    assert_ne!(rent[0]["idempotency_key"], rent[1]["idempotency_key"], "a new pod is a new rent");
    // The slow pod was gone from the listing before the second rent went out.
    let first_delete = sim.sent("DELETE", &format!("/pods/{}", pods[0]["id"].as_str().unwrap()));
    assert_eq!(first_delete.len(), 1);
    assert!(first_delete[0]["seq"].as_u64() < rent[1]["seq"].as_u64());
    assert_eq!(run.summary()["target"], pods[1]["id"]);
    assert!(run.stderr.contains("was not ready within WF_POD_READY_TIMEOUT_SECS=4 s"), "{}", run.explain());
    // Each attempt is evidence: P10's receipts name both rents and the unready pod's deletion.
    let p10: Vec<String> = receipts(&run.flow_dir(), "http")
        .iter()
        .filter(|r| r["payload"]["phase"] == "P10")
        .map(|r| r["payload"]["result"].as_str().unwrap_or("").to_string())
        .collect();
    let ok_rents = p10.iter().filter(|r| r.starts_with("POST ") && r.contains("/rent") && r.ends_with(&format!("-> {HTTP_OK}"))).count();
    assert_eq!(ok_rents, 2, "{p10:#?}");
    assert!(p10.iter().any(|r| r.starts_with("DELETE ") && r.contains(pods[0]["id"].as_str().unwrap())), "{p10:#?}");
    sim.no_live_pods();

    // Without a retry left, P10 fails naming both limits; the unready pod is gone too.
    let sim = Sim::start(json!({}));
    sim.inject(json!({"knob": "slow_ready", "seconds": 120, "count": 1}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    s.set("WF_POD_READY_TIMEOUT_SECS", "3");
    s.set("LIUM_READY_RETRIES", "0");
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(last_status(&run), ("P10".into(), "fail".into(), codes::PROVISION_FAILED.get()), "{}", run.explain());
    assert!(run.stderr.contains("no pod got ready") && run.stderr.contains("LIUM_READY_RETRIES"), "{}", run.explain());
    assert_eq!(rents(&sim).len(), 1);
    sim.no_live_pods();
}

#[test]
fn a_lost_rent_answer_leaves_exactly_one_pod() {
    for mode in ["drop", "5xx"] {
        let sim = Sim::start(json!({}));
        sim.inject(json!({"knob": "rent_lost_answer", "mode": mode, "count": 1}));
        let mut s = Sandbox::new();
        sim.configure(&mut s);
        let run = flow(&s, &NO_SWEEP);
        assert_eq!(run.status, 0, "{mode}: {}", run.explain());
        assert_eq!(sim.pods().len(), 1, "{mode}: {:#?}", sim.pods());
        let rent = rents(&sim);
        let keys: Vec<&Value> = rent.iter().map(|r| &r["idempotency_key"]).collect();
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "{mode}: a resend keeps its key: {keys:?}");
        assert!(!rent.is_empty() && rent.len() <= 2, "{mode}: {rent:#?}");
        assert!(run.stderr.contains("was lost"), "{mode}: {}", run.explain());
        sim.no_live_pods();
    }
}

#[test]
fn throttling_and_server_errors_on_reads_are_ridden_out() {
    let sim = Sim::start(json!({}));
    sim.inject(json!({"knob": "rate_limit", "method": "GET", "path": "/users/me", "retry_after": 1, "count": 3}));
    sim.inject(json!({"knob": "http_5xx", "method": "GET", "path": "/executors", "status": HTTP_UNAVAILABLE, "count": 3}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(run.status, 0, "{}", run.explain());
    let statuses: Vec<u64> = sim.requests().iter().filter_map(|r| r["status"].as_u64()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == HTTP_TOO_MANY).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == HTTP_UNAVAILABLE).count(), 3, "{statuses:?}");
    assert_eq!(sim.pods().len(), 1, "{:#?}\n{}", sim.pods(), run.explain());
    sim.no_live_pods();
}

#[test]
fn a_node_that_refuses_is_replaced_by_the_next() {
    let sim = Sim::start(json!({"executors": [
        {"id": H100, "machine_name": "NVIDIA H100 80GB HBM3", "gpu_count": 1, "price_per_gpu": 0.3},
        {"id": RTX, "machine_name": "NVIDIA GeForce RTX 4090", "gpu_count": 2, "price_per_gpu": 0.4}]}));
    sim.inject(json!({"knob": "rent_refusal", "kind": "pending", "executor_id": H100, "count": 1}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(run.status, 0, "{}", run.explain());
    let rent = rents(&sim);
    assert_eq!(rent.len(), 2);
    assert!(rent[0]["path"].as_str().unwrap().contains(H100) && rent[1]["path"].as_str().unwrap().contains(RTX), "{rent:#?}");
    let pods = sim.pods();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["executor_id"], RTX);
    assert!(run.stderr.contains("A rental is already pending on this node"), "{}", run.explain());
    sim.no_live_pods();
}

#[test]
fn a_slow_delete_is_confirmed_after_several_listings_and_one_past_the_bound_fails_p90() {
    let sim = Sim::start(json!({"executors": [{"id": H100, "machine_name": "NVIDIA H100 80GB HBM3", "gpu_count": 1, "price_per_gpu": 2.4,
        "knobs": {"delete_slow_s": 4}}]}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(run.status, 0, "{}", run.explain());
    let id = sim.pods()[0]["id"].as_str().unwrap().to_string();
    let delete = sim.sent("DELETE", &format!("/pods/{id}"));
    assert_eq!(delete.len(), 1);
    let listings = sim.requests().into_iter().filter(|r| r["seq"].as_u64() > delete[0]["seq"].as_u64() && r["method"] == "GET" && r["path"].as_str().unwrap_or("").ends_with("/pods")).count();
    assert!(listings >= 3, "only {listings} listing(s) after the DELETE");
    sim.no_live_pods();

    let sim = Sim::start(json!({"executors": [{"id": H100, "machine_name": "NVIDIA H100 80GB HBM3", "gpu_count": 1, "price_per_gpu": 2.4,
        "knobs": {"delete_slow_s": 20}}]}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    s.set("LIUM_DELETE_CONFIRM_SECS", "3");
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(last_status(&run), ("P90".into(), "fail".into(), codes::TEARDOWN_FAILED.get()), "{}", run.explain());
    let id = sim.pods()[0]["id"].as_str().unwrap().to_string();
    assert!(run.stderr.contains("is still listed") && run.stderr.contains(&format!("wfhost pod-delete --target {id} --yes")), "{}", run.explain());
    // The command the message names finishes the job, given the time.
    s.set("LIUM_DELETE_CONFIRM_SECS", "60");
    let finish = s.run(&["pod-delete", "--target", &id, "--yes"]);
    assert_eq!(finish.status, 0, "{}", finish.explain());
    sim.no_live_pods();
}

#[test]
fn a_pod_that_vanishes_during_the_monitor_halts_p70_as_vanished() {
    let sim = Sim::start(json!({}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    s.set("SWEEP_MAX_PARALLEL", "3");
    s.manifest("run_id,command\nr1,sh train.sh --seed 1 --sleep 60\nr2,sh train.sh --seed 2 --sleep 60\n");
    let run = std::thread::scope(|scope| {
        let handle = scope.spawn(|| flow(&s, &["flow", "--provision", "auto", "--yes", "--wait", "true", "--fetch", "none", "--teardown", "keep"]));
        // Once P60 has started the runs (and its court judged it), the pod vanishes.
        let t0 = Instant::now();
        let judged = || crate::ssh::flow_dirs(&s).iter().any(|d| d.join("phase/phase.P60.verdict.json").is_file());
        while !judged() {
            assert!(t0.elapsed() < Duration::from_secs(120), "P60 never finished");
            std::thread::sleep(Duration::from_millis(100));
        }
        let id = sim.pods()[0]["id"].as_str().unwrap().to_string();
        sim.inject(json!({"knob": "vanish", "pod_id": id, "after_s": 0}));
        handle.join().unwrap()
    });
    assert_eq!(last_status(&run), ("P70".into(), "fail".into(), codes::POD_VANISHED_4XX.get()), "{}", run.explain());
    assert!(run.took < Duration::from_secs(60), "the vanished pod was not waited for: {:?}", run.took);
    sim.no_live_pods();
}

#[test]
fn a_halted_flow_names_the_ttl_and_the_simulator_removes_the_pod_at_it() {
    // An hour is 6 s here; the sweep fails, so the flow halts with the pod kept.
    let sim = Sim::start(json!({"time_scale": 600}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    s.set("LIUM_TTL", "6");
    s.manifest("run_id,command\nr1,sh train.sh --seed 1 --fail 3\n");
    let run = flow(&s, &["flow", "--provision", "auto", "--yes", "--wait", "true", "--fetch", "none", "--teardown", "keep"]);
    assert_ne!(run.status, 0, "{}", run.explain());
    let id = sim.pods()[0]["id"].as_str().unwrap().to_string();
    assert!(run.stderr.contains("Lium removes it by itself at") && run.stderr.contains("LIUM_TTL=6 h"), "{}", run.explain());
    assert!(run.stderr.contains(&format!("wfhost pod-delete --target {id} --yes")), "{}", run.explain());
    let summary = run.summary();
    assert!(summary["pod_state"].as_str().unwrap_or("").contains("Lium removes it by itself at"), "{summary}");
    let (status, report) = verify(&s, &run.flow_dir());
    assert_eq!(status, 0, "{report:#}");
    let t0 = Instant::now();
    while sim.pods().iter().any(|p| p["listed"] == true) && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    sim.no_live_pods();
    assert!(sim.sent("DELETE", &format!("/pods/{id}")).is_empty(), "the TTL removed it, not a DELETE");
}

/// A loopback server that answers every request 200 with the request's head and body echoed in
/// a JSON body (a reflecting service or proxy); what it received, in order.
fn reflecting_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://127.0.0.1:{}/api", listener.local_addr().unwrap().port());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&stream);
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length.min(1 << 20)];
            let _ = reader.read_exact(&mut body);
            let request = format!("{head}\r\n{}", String::from_utf8_lossy(&body));
            log.lock().unwrap().push(request.clone());
            let answer = json!({ "you_sent": request }).to_string();
            let _ = (&stream).write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}", answer.len()).as_bytes());
        }
    });
    (base, seen)
}

#[test]
fn a_hostile_transport_holding_the_key_handle_gets_nothing_and_is_recorded() {
    // The hostile component, installed as a pack that asks for exactly what the lium transport
    // gets for its key: the base URL, loopback HTTP, and the key granted for X-API-KEY only.
    let mut s = Sandbox::new();
    s.env.push(("WF_PACK_STORE".into(), s.root().join("pack-store").display().to_string()));
    let component = std::fs::read(wfhost_builtins::components_dir().join("hostile_transport.wasm")).expect("hostile_transport.wasm is built by wfhost-builtins");
    let dir = s.root().join("packs/hostile");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hostile.wasm"), &component).unwrap();
    let manifest = json!({
        "pack_manifest": 1, "id": "hostile-lium", "version": "1.0.0", "description": "rents pods; tries to get at the key",
        "components": [{"role": "transport", "file": "hostile.wasm", "sha256": wfhost_evidence::hash::sha256_hex(&component), "wit_version": "0.2.0"}],
        "capabilities": {
            "programs": ["sh"], "http_hosts": ["127.0.0.1"], "http_base_url_keys": ["LIUM_BASE_URL"], "settings": ["LIUM_BASE_URL"],
            "secrets": [{"handle": "lium_api_key", "key": "LIUM_API_KEY", "setting": "LIUM_API_KEY_HANDLE", "http_header": "X-API-KEY"}]
        }
    });
    std::fs::write(dir.join("pack.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let added = s.run(&["pack", "add", "packs/hostile", "--yes"]);
    assert_eq!(added.status, 0, "{}", added.explain());
    assert!(added.stdout.contains("into HTTP header X-API-KEY") && added.stdout.contains("under the base URLs in LIUM_BASE_URL"), "the consent names what the pack gets:\n{}", added.explain());

    let (base, seen) = reflecting_server();
    s.set("WF_TRANSPORT", "hostile-lium").set("LIUM_BASE_URL", &base).set("LIUM_API_KEY", CANARY);
    let run = flow(&s, &NO_SWEEP);
    assert_eq!(last_status(&run), ("P10".into(), "fail".into(), codes::PROVISION_FAILED.get()), "{}", run.explain());
    let said = |attempt: &str| -> Vec<String> {
        let tag = format!("hostile {attempt}: ");
        run.stderr.lines().filter_map(|l| l.split_once(&tag).map(|(_, rest)| rest.to_string())).collect()
    };
    // It read nothing: no environment, no file, no secret setting; only the handle's name.
    let env = said("env");
    assert!(env.len() == 1 && env[0].starts_with("0 variable(s)"), "{env:#?}");
    let files = said("file");
    assert!(files.len() == 3 && files.iter().all(|l| l.contains(": error: ")), "{files:#?}");
    assert_eq!(said("setting"), ["LIUM_API_KEY = None", "LIUM_API_KEY_HANDLE = \"lium_api_key\""], "{}", run.explain());
    // A process never gets a header secret.
    let process = said("process");
    assert!(process.len() == 1 && process[0].starts_with("refused:") && process[0].contains("may inject into a process only what is declared under secrets without an http_header"), "{process:#?}");
    // Echoed back by the server, the key comes to the component scrubbed.
    let reflect = said("reflect");
    assert!(reflect.len() == 1 && reflect[0].starts_with("answered 200") && reflect[0].to_ascii_lowercase().contains("x-api-key: [redacted]"), "{reflect:#?}");
    // Another header, another path, other hosts: refused before anything is sent.
    let header = said("header");
    assert!(header.len() == 1 && header[0].contains("may go only into header X-API-KEY, not X-Echo"), "{header:#?}");
    let outside = said("base");
    assert!(outside.len() == 1 && outside[0].starts_with("refused:") && outside[0].contains("under no base URL") && outside[0].contains("set LIUM_BASE_URL to"), "{outside:#?}");
    let hosts = said("host");
    assert!(hosts.len() == 2 && hosts.iter().all(|h| h.starts_with("refused:") && h.contains("is not among the hosts pack hostile-lium@1.0.0's pack.json declares (127.0.0.1)")), "{hosts:#?}");

    // The server got one request, the allowed one, with the key in its header only.
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].starts_with("GET /api/users/me "), "{}", got[0]);
    let with_key: Vec<&str> = got[0].lines().filter(|l| l.contains(CANARY)).collect();
    assert_eq!(with_key.len(), 1, "{}", got[0]);
    assert!(with_key[0].to_ascii_lowercase().starts_with("x-api-key: "), "{}", got[0]);
    key_absent(&s, &run);

    // Every refusal is evidence: five gateway.refused records, and one issuance of the key.
    let flow_dir = run.flow_dir();
    let all = events(&flow_dir);
    let refused: Vec<String> = all.iter().filter(|e| e["event_type"] == "gateway.refused").map(|e| e["payload"]["detail"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(refused.len(), 5, "{refused:#?}");
    for needle in ["may inject into a process only what is declared under secrets without an http_header", "not X-Echo", "under no base URL", "127.0.0.2", "collector.invalid"] {
        assert!(refused.iter().any(|r| r.contains(needle)), "no refusal names {needle:?}: {refused:#?}");
    }
    let issued: Vec<&Value> = all.iter().filter(|e| e["event_type"] == "secret.issued").collect();
    assert_eq!(issued.len(), 1, "{issued:#?}");
    assert_eq!(issued[0]["payload"]["audience"], "HTTP header X-API-KEY of a request to 127.0.0.1", "{}", issued[0]);
    eprintln!("lium e2e: the hostile transport made {} attempts; {} refusals recorded:\n{}", run.stderr.lines().filter(|l| l.contains("transport: hostile ")).count(), refused.len(), refused.join("\n"));
    let (status, report) = verify(&s, &flow_dir);
    assert_eq!(status, 0, "{report:#}");
}
