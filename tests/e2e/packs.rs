//! Packs end to end: `wfhost pack new` for each role builds (cargo, wasm32-wasip2, offline),
//! installs and runs in flows; a Python auditor built with componentize-py judges a flow and
//! can reach no file and no socket; every refusal names the pack, the component and the rule;
//! swapping a component is one config line; a removed pack fails P00 while old flows verify.

use crate::harness::{Run, Sandbox};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const FULL: &[&str] = &["flow", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"];

fn wfhost() -> &'static str {
    env!("CARGO_BIN_EXE_wfhost")
}

/// Run `cmd` with stdin closed, killed after `limit`; panic with its output unless it succeeds.
fn run_ok(cmd: &mut Command, limit: Duration) -> String {
    let shown = format!("{cmd:?}");
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("{shown}: {e}"));
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("{shown} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{shown} failed:\n{text}");
    text
}

/// Where the scaffolded packs are built once per test run (a shared cargo target directory, so
/// the dependencies compile once).
fn build_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pack-builds")
}

/// `wfhost pack new <name> --role <role> [--lang <lang>]` in a fresh directory, then the
/// project's own build.sh (cargo offline, or componentize-py): the built pack's directory.
fn scaffold_and_build(name: &str, role: &str, lang: &str) -> PathBuf {
    let root = build_root().join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let project = root.join(name);
    run_ok(Command::new(wfhost()).args(["pack", "new", name, "--role", role, "--lang", lang]).current_dir(&root), Duration::from_secs(30));
    let mut build = Command::new("sh");
    build.arg(project.join("build.sh")).env("WFHOST", wfhost()).env("CARGO_TARGET_DIR", build_root().join("target"));
    if lang == "rust" {
        build.arg("--offline");
        if let Ok(cargo) = std::env::var("CARGO") {
            // The toolchain running the tests builds the pack too.
            let dir = Path::new(&cargo).parent().unwrap().to_path_buf();
            build.env("PATH", format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default()));
        }
    }
    run_ok(&mut build, Duration::from_secs(900));
    project
}

/// The three Rust packs, built once: (auditor, executor, transport) directories.
fn rust_packs() -> &'static (PathBuf, PathBuf, PathBuf) {
    static PACKS: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    PACKS.get_or_init(|| {
        (
            scaffold_and_build("acme-judge", "auditor", "rust"),
            scaffold_and_build("acme-probe", "executor", "rust"),
            scaffold_and_build("acme-pods", "transport", "rust"),
        )
    })
}

/// A copy of the built pack `from` in the sandbox at `rel`.
fn copy_pack(s: &Sandbox, from: &Path, rel: &str) -> PathBuf {
    let dest = s.root().join(rel);
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let p = entry.path();
        if p.is_file() && (p.extension().is_some_and(|e| e == "wasm") || p.file_name().is_some_and(|n| n == "pack.json")) {
            std::fs::copy(&p, dest.join(entry.file_name())).unwrap();
        }
    }
    dest
}

/// A sandbox whose pack store is its own.
fn sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    let store = s.root().join("pack-store").display().to_string();
    s.env.push(("WF_PACK_STORE".into(), store));
    s
}

fn add(s: &Sandbox, dir: &str) -> Run {
    s.run(&["pack", "add", dir, "--yes"])
}

fn events(run: &Run) -> Vec<Value> {
    let text = std::fs::read_to_string(run.flow_dir().join("events.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn plugins_loaded(run: &Run) -> Value {
    events(run).into_iter().find(|e| e["event_type"] == "plugins.loaded").expect("plugins.loaded")["payload"].clone()
}

fn all_pass(run: &Run) {
    assert_eq!(run.status, 0, "{}", run.explain());
    let courts = run.courts();
    assert_eq!(courts.len(), 11, "{}", run.explain());
    assert!(courts.iter().all(|(_, c, d, k)| (c.as_str(), d.as_str(), k.as_str()) == ("pass", "pass", "pass")), "{}", run.explain());
}

fn p00_fails_with(run: &Run, code: u16) {
    assert_eq!(run.status, 10, "{}", run.explain());
    let st = run.statuses();
    assert_eq!((st[0].0.as_str(), st[0].1.as_str(), st[0].2), ("P00", "fail", code), "{}", run.explain());
}

#[test]
fn each_role_scaffolded_in_rust_builds_installs_and_runs_in_a_flow_and_swapping_is_one_line() {
    let (judge, probe, pods) = rust_packs();
    let mut s = sandbox();
    // Without a terminal and without --yes, nothing is installed.
    copy_pack(&s, judge, "packs/judge");
    let r = s.run(&["pack", "add", "packs/judge"]);
    assert_eq!(r.status, 64, "{}", r.explain());
    assert!(r.stdout.contains("pack acme-judge@0.1.0") && r.stderr.contains("--yes"), "{}", r.explain());
    assert!(s.run(&["pack", "list"]).stdout.contains("no pack installed"));
    for (dir, rel) in [(judge, "packs/judge"), (probe, "packs/probe"), (pods, "packs/pods")] {
        copy_pack(&s, dir, rel);
        let r = add(&s, rel);
        assert_eq!(r.status, 0, "{}", r.explain());
        assert!(r.stdout.contains("installed acme-"), "{}", r.explain());
    }
    let pods_add = add(&s, "packs/pods");
    assert!(pods_add.stdout.contains("run host programs: sh") && pods_add.stdout.contains("already installed"), "{}", pods_add.explain());
    let list = crate::read_commands::document(&s.run(&["pack", "list", "--json"]), "cli-pack-list");
    let ids: Vec<&str> = list["packs"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["acme-judge", "acme-probe", "acme-pods"]);

    // The built-ins, then the transport swapped by one line, then the auditors by one line.
    let builtin = s.run(FULL);
    all_pass(&builtin);
    s.set("WF_TRANSPORT", "acme-pods");
    let swapped = s.run(FULL);
    all_pass(&swapped);
    let loaded = plugins_loaded(&swapped);
    assert_eq!(loaded["transport"]["id"], "acme-pods", "{loaded}");
    assert_eq!(loaded["transport"]["pack"]["id"], "acme-pods");
    assert_eq!(loaded["transport"]["pack"]["identity"], list["packs"][2]["identity"]);
    assert_eq!(loaded["transport"]["sha256"], loaded["transport"]["pack"]["sha256"]);
    assert_eq!(loaded["transport"]["cache"], "disk", "pack add compiled it into the cache: {loaded}");
    assert_eq!(plugins_loaded(&builtin)["transport"]["pack"], Value::Null);
    s.set("WF_AUDITORS", "acme-judge");
    let judged = s.run(FULL);
    all_pass(&judged);
    let p50: Value = serde_json::from_slice(&std::fs::read(judged.flow_dir().join("phase/phase.P50.constitutional.json")).unwrap()).unwrap();
    let auditors = p50["auditors"].as_array().unwrap();
    assert_eq!(auditors.len(), 1, "{p50}");
    assert_eq!(auditors[0]["name"], "pack:acme-judge@0.1.0/acme_judge.wasm", "{p50}");
    assert!(p50.to_string().contains("acme-judge judged P50"), "{p50}");
    let told = s.run(&["explain", &judged.flow_dir().display().to_string()]);
    assert!(told.stdout.contains("auditor   pack:acme-judge@0.1.0/acme_judge.wasm sha256 ") && told.stdout.contains("from pack acme-judge@0.1.0 (identity "), "{}", told.explain());
    assert!(told.stdout.contains("transport pack:acme-pods@0.1.0/acme_pods.wasm"), "{}", told.explain());
    for run in [&builtin, &swapped, &judged] {
        let v = s.run(&["verify", &run.flow_dir().display().to_string()]);
        assert_eq!(v.status, 0, "{}", v.explain());
    }

    // The executor pack serves P30: a pod made by pod-up, checked by the pack.
    s.set("WF_TRANSPORT", "local").set("WF_AUDITORS", "constitution");
    let up = s.run(&["pod-up", "--yes"]);
    assert_eq!(up.status, 0, "{}", up.explain());
    let pod = s.pods().into_iter().next().expect("pod-up made a pod");
    s.set("WF_EXECUTOR", "acme-probe");
    let status = s.run(&["pod-status", "--target", &pod]);
    assert_eq!(status.status, 0, "{}", status.explain());
    let p30: Value = serde_json::from_slice(&std::fs::read(status.flow_dir().join("phase/phase.P30.json")).unwrap()).unwrap();
    assert!(p30["message"].as_str().unwrap().contains("is ready and answers"), "{p30}");
    assert_eq!(plugins_loaded(&status)["executor"]["pack"]["id"], "acme-probe");
}

#[test]
fn a_removed_pack_fails_p00_naming_the_install_command_and_an_old_flow_still_verifies() {
    let (judge, _, _) = rust_packs();
    let mut s = sandbox();
    copy_pack(&s, judge, "packs/judge");
    assert_eq!(add(&s, "packs/judge").status, 0);
    s.set("WF_AUDITORS", "constitution,acme-judge@0.1.0");
    let old = s.run(FULL);
    all_pass(&old);
    let doctor = s.run(&["doctor"]);
    assert!(doctor.stdout.contains("ok   pack store: 1 pack(s) installed in ") && doctor.stdout.contains("pack log verified"), "{}", doctor.explain());
    let removed = s.run(&["pack", "remove", "acme-judge"]);
    assert_eq!(removed.status, 0, "{}", removed.explain());
    assert!(s.run(&["pack", "list"]).stdout.contains("no pack installed"));
    let again = s.run(FULL);
    p00_fails_with(&again, wfhost_constitution::codes::PACK_MISSING.get());
    let p00: Value = serde_json::from_slice(&std::fs::read(again.flow_dir().join("phase/phase.P00.json")).unwrap()).unwrap();
    let message = p00["message"].as_str().unwrap();
    assert!(message.contains("acme-judge@0.1.0") && message.contains("wfhost pack add"), "{message}");
    assert!(s.pods().is_empty(), "nothing was created");
    let v = s.run(&["verify", &old.flow_dir().display().to_string()]);
    assert_eq!(v.status, 0, "{}", v.explain());
    // The pack log keeps the install and records the removal, and still verifies.
    let log = s.root().join("pack-store/log/events.jsonl");
    let types: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["event_type"].as_str().unwrap().to_string()).collect();
    assert_eq!(types, ["pack.installed", "pack.removed"]);
    let shown = s.run(&["pack", "show", "acme-judge"]);
    assert_eq!(shown.status, 10, "{}", shown.explain());
}

#[test]
fn every_refusal_names_the_pack_the_component_and_the_rule() {
    let (judge, _, pods) = rust_packs();
    let mut s = sandbox();
    let refused = |r: &Run, needles: &[&str]| {
        assert_ne!(r.status, 0, "{}", r.explain());
        for n in needles {
            assert!(r.stderr.contains(n), "missing {n:?}:\n{}", r.explain());
        }
    };
    // A tampered component, and a manifest whose digest does not match its component.
    let dir = copy_pack(&s, judge, "packs/tampered");
    let wasm = dir.join("acme_judge.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&wasm, &bytes).unwrap();
    refused(&add(&s, "packs/tampered"), &["pack acme-judge@0.1.0", "auditor component acme_judge.wasm", "rule: every component's sha256 must match the manifest"]);
    let dir = copy_pack(&s, judge, "packs/digest");
    let manifest = dir.join("pack.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    doc["components"][0]["sha256"] = Value::String("ab".repeat(32));
    std::fs::write(&manifest, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    refused(&s.run(&["pack", "verify", "packs/digest"]), &["pack acme-judge@0.1.0", "acme_judge.wasm", "manifest declares abab"]);

    // Signatures: a wrong one, an untrusted signer, an unsigned pack under the policy.
    assert_eq!(s.run(&["keygen", "keys/author.pem"]).status, 0);
    assert_eq!(s.run(&["keygen", "keys/other.pem"]).status, 0);
    copy_pack(&s, judge, "packs/signed");
    let signed = s.run(&["pack", "sign", "--key", "keys/author.pem", "packs/signed"]);
    assert_eq!(signed.status, 0, "{}", signed.explain());
    s.set("WF_PACK_TRUSTED_KEYS", "keys/author.pem.pub").set("WF_REQUIRE_SIGNED_PACKS", "1");
    let ok = s.run(&["pack", "verify", "packs/signed"]);
    assert!(ok.status == 0 && ok.stdout.contains("signed by trusted key ed25519:"), "{}", ok.explain());
    let sig_path = s.root().join("packs/signed/pack.sig.json");
    let mut sig: Value = serde_json::from_slice(&std::fs::read(&sig_path).unwrap()).unwrap();
    let good = sig.clone();
    let text = sig["signatures"][0]["sig"].as_str().unwrap().to_string();
    sig["signatures"][0]["sig"] = Value::String(format!("{}{}", if text.starts_with('A') { "B" } else { "A" }, &text[1..]));
    std::fs::write(&sig_path, serde_json::to_vec(&sig).unwrap()).unwrap();
    refused(&add(&s, "packs/signed"), &["pack acme-judge@0.1.0", "signature (pack.sig.json) refused", "does not verify"]);
    std::fs::write(&sig_path, serde_json::to_vec(&good).unwrap()).unwrap();
    s.set("WF_PACK_TRUSTED_KEYS", "keys/other.pem.pub");
    refused(&add(&s, "packs/signed"), &["pack acme-judge@0.1.0", "not in WF_PACK_TRUSTED_KEYS", "WF_REQUIRE_SIGNED_PACKS=1"]);
    refused(&add(&s, "packs/digest"), &["pack acme-judge@0.1.0"]);
    copy_pack(&s, judge, "packs/unsigned");
    refused(&add(&s, "packs/unsigned"), &["pack acme-judge@0.1.0", "unsigned", "WF_REQUIRE_SIGNED_PACKS=1"]);
    // Installed unsigned while the policy was off, then refused by a flow once it is on.
    s.unset("WF_REQUIRE_SIGNED_PACKS").unset("WF_PACK_TRUSTED_KEYS");
    assert_eq!(add(&s, "packs/unsigned").status, 0);
    s.set("WF_AUDITORS", "acme-judge").set("WF_REQUIRE_SIGNED_PACKS", "1").set("WF_PACK_TRUSTED_KEYS", "keys/author.pem.pub");
    let flow = s.run(FULL);
    p00_fails_with(&flow, wfhost_constitution::codes::PACK_REFUSED.get());
    let p00 = std::fs::read_to_string(flow.flow_dir().join("phase/phase.P00.json")).unwrap();
    assert!(p00.contains("pack acme-judge@0.1.0: the pack is unsigned"), "{p00}");
    // The same pack, now signed by the trusted key: its signature is stored, and flows run it.
    let r = add(&s, "packs/signed");
    assert!(r.status == 0 && r.stdout.contains("signed by trusted key"), "{}", r.explain());
    let flow = s.run(FULL);
    all_pass(&flow);
    assert_eq!(plugins_loaded(&flow)["auditors"][0]["pack"]["signature"]["verified"], true, "{}", plugins_loaded(&flow));
    s.unset("WF_REQUIRE_SIGNED_PACKS").unset("WF_PACK_TRUSTED_KEYS").set("WF_AUDITORS", "constitution");

    // An auditor pack whose component imports the process capability.
    let hostile = s.root().join("packs/hostile");
    std::fs::create_dir_all(&hostile).unwrap();
    let component = std::fs::read(wfhost_builtins::components_dir().join("hostile_process.wasm")).unwrap();
    std::fs::write(hostile.join("spy.wasm"), &component).unwrap();
    let doc = serde_json::json!({
        "pack_manifest": 1, "id": "spy-judge", "version": "1.0.0", "description": "judges, and runs programs",
        "components": [{"role": "auditor", "file": "spy.wasm", "sha256": wfhost_evidence::hash::sha256_hex(&component), "wit_version": "0.2.0"}],
    });
    std::fs::write(hostile.join("pack.json"), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    refused(&add(&s, "packs/hostile"), &["pack spy-judge@1.0.0", "auditor component spy.wasm", "imports wfhost:plugin/process@0.2.0", "an auditor gets no host capability"]);

    // A transport pack that runs a program its manifest does not declare.
    let dir = copy_pack(&s, pods, "packs/pods-no-sh");
    let manifest = dir.join("pack.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    doc["capabilities"]["programs"] = serde_json::json!(["true"]);
    std::fs::write(&manifest, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    assert_eq!(add(&s, "packs/pods-no-sh").status, 0);
    s.set("WF_TRANSPORT", "acme-pods");
    let flow = s.run(FULL);
    assert_ne!(flow.status, 0, "{}", flow.explain());
    let refusals: Vec<Value> = events(&flow).into_iter().filter(|e| e["event_type"] == "gateway.refused").collect();
    let detail = refusals.iter().map(|e| e["payload"]["detail"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>().join("\n");
    assert!(
        detail.contains("transport acme-pods (pack:acme-pods@0.1.0/acme_pods.wasm)") && detail.contains("declared under programs in its pack.json capabilities (true)") && detail.contains("\"sh\" is refused"),
        "{detail}\n{}",
        flow.explain()
    );
    assert!(s.pods().is_empty(), "the refused program created nothing: {:?}", s.pods());
    let v = s.run(&["verify", &flow.flow_dir().display().to_string()]);
    assert_eq!(v.status, 0, "the refusal is valid evidence: {}", v.explain());

    // A store changed behind wfhost's back: the installed component no longer matches.
    s.set("WF_TRANSPORT", "local");
    copy_pack(&s, judge, "packs/judge");
    assert_eq!(add(&s, "packs/judge").status, 0);
    let identity = serde_json::from_str::<Value>(&s.run(&["pack", "list", "--json"]).stdout).unwrap()["packs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "acme-judge")
        .unwrap()["identity"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = s.root().join("pack-store/objects").join(&identity).join("acme_judge.wasm");
    std::fs::write(&stored, &bytes).unwrap();
    s.set("WF_AUDITORS", &format!("acme-judge#{}", &identity[..16]));
    let flow = s.run(FULL);
    p00_fails_with(&flow, wfhost_constitution::codes::PACK_REFUSED.get());
}

#[test]
fn a_python_auditor_built_with_componentize_py_judges_every_phase_and_reaches_no_file_or_socket() {
    let pinned = wfhost_pack::scaffold::COMPONENTIZE_PY_VERSION;
    let version = Command::new("componentize-py").arg("--version").output();
    let found = version.as_ref().map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default();
    assert!(found.contains(pinned), "componentize-py {pinned} is needed (found {found:?}): pip install componentize-py=={pinned}");
    let mut s = sandbox();
    // Things the auditor will try to reach: a file to read, a file to create, a listening socket.
    let victim = s.root().join("victim.txt");
    std::fs::write(&victim, "secret\n").unwrap();
    let canary = s.root().join("planted.txt");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = build_root().join(format!("py-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    run_ok(Command::new(wfhost()).args(["pack", "new", "py-judge", "--role", "auditor", "--lang", "python"]).current_dir(&root), Duration::from_secs(30));
    let project = root.join("py-judge");
    let app = std::fs::read_to_string(project.join("app.py")).unwrap();
    let probes = format!(
        r#"
def attempt(what, action):
    try:
        action()
        return f"{{what}}: ok"
    except Exception as e:
        return f"{{what}}: error: {{type(e).__name__}}"


def write_canary():
    with open({canary:?}, "w") as f:
        f.write("planted")


def connect():
    import socket
    socket.create_connection(("127.0.0.1", {port}), timeout=2)


PROBES = [
    ("read victim", lambda: open({victim:?}).read()),
    ("create canary", write_canary),
    ("connect", connect),
]
"#,
        canary = canary.display().to_string(),
        victim = victim.display().to_string(),
    );
    let app = app.replace("class Judge(exports.Judge):", &format!("{probes}\n\nclass Judge(exports.Judge):"));
    let app = app.replace("        if violated:", "        reasons.extend(attempt(w, a) for w, a in PROBES)\n        if violated:");
    std::fs::write(project.join("app.py"), app).unwrap();
    run_ok(Command::new("sh").arg(project.join("build.sh")).env("WFHOST", wfhost()), Duration::from_secs(600));
    let dest = copy_pack(&s, &project, "packs/py");
    let r = add(&s, &dest.display().to_string());
    assert_eq!(r.status, 0, "{}", r.explain());
    s.set("WF_AUDITORS", "constitution,py-judge");
    let run = s.run(FULL);
    all_pass(&run);
    for (phase, ..) in run.courts() {
        let record: Value = serde_json::from_slice(&std::fs::read(run.flow_dir().join(format!("phase/phase.{phase}.constitutional.json"))).unwrap()).unwrap();
        let py = record["auditors"].as_array().unwrap().iter().find(|a| a["name"] == "pack:py-judge@0.1.0/py_judge.wasm").unwrap_or_else(|| panic!("{phase}: {record}"));
        assert_eq!(py["status"], "pass", "{phase}: {record}");
        let text = py.to_string();
        for what in ["read victim: error", "create canary: error", "connect: error", &format!("py-judge judged {phase}")] {
            assert!(text.contains(what), "{phase}: {what} not in {text}");
        }
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret\n");
    assert!(!canary.exists(), "the auditor created a file");
    assert!(listener.accept().is_err(), "the auditor opened a connection");
    let v = s.run(&["verify", &run.flow_dir().display().to_string()]);
    assert_eq!(v.status, 0, "{}", v.explain());
}
