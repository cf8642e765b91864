//! `wfhost verify`, `replay` and `explain` on the evidence of real flows: clean flows verify
//! and replay byte for byte; any changed byte is caught and the file named; a log cut by a
//! crash verifies up to its last complete record; logs re-sealed with a valid chain but a
//! broken rule are refused; secrets never reach evidence, artifacts or output.

use crate::harness::{Run, Sandbox};
use wfhost_constitution::codes;
use serde_json::Value;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wfhost_evidence::{EventDraft, EventLog, Tail};
use wfhost_audit::{self as audit_trail, FailureKind};

const FULL: &[&str] = &["flow", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"];

/// A flow that passes every phase.
fn happy() -> (Sandbox, Run) {
    let s = Sandbox::new();
    let run = s.run(FULL);
    assert_eq!(run.status, 0, "{}", run.explain());
    (s, run)
}

/// A flow halted at P00 (no consent, no terminal: code 106).
fn halted_at_p00() -> (Sandbox, Run) {
    let s = Sandbox::new();
    let run = s.run(&["flow"]);
    assert_eq!(run.status, 10, "{}", run.explain());
    (s, run)
}

/// A flow halted at P70 (a run exits 3: code 402).
fn halted_at_p70() -> (Sandbox, Run) {
    let mut s = Sandbox::new();
    s.set("SWEEP_RUN_TEMPLATE", "sh train.sh --seed {seed} --fail {code}");
    s.manifest("run_id,seed,code\ngood,1,0\nbad,2,3\n");
    let run = s.run(&["flow", "--yes", "--wait", "true", "--teardown", "delete"]);
    assert_eq!(run.status, 40, "{}", run.explain());
    assert_eq!(run.statuses().last().map(|s| (s.0.clone(), s.2)), Some(("P70".to_string(), codes::RUNS_FAILED.get())), "{}", run.explain());
    (s, run)
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The bytes of the string value of `"member":"..."` in canonical JSON (between the quotes).
fn string_value_range(bytes: &[u8], member: &str) -> Option<Range<usize>> {
    let key = format!("\"{member}\":\"");
    let start = bytes.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    let mut i = start;
    while i < bytes.len() && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    Some(start..i)
}

/// Byte ranges the engine does not record in events.jsonl (docs/evidence.md, "What verify
/// cannot vouch for"): a flip there is not detectable from the files, so the loop skips them.
fn unanchored(dir: &Path, rel: &str, bytes: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    if rel == "fsm.json" {
        out.extend(string_value_range(bytes, "host"));
        out.extend(string_value_range(bytes, "updated_at"));
    }
    if let Some(phase) = rel.strip_prefix("phase/phase.").and_then(|r| r.strip_suffix(".pack.json")) {
        let det = std::fs::read_to_string(dir.join(format!("phase/phase.{phase}.deterministic.json"))).unwrap();
        if !det.contains("\"check\":\"config_unchanged\"") {
            out.extend(string_value_range(bytes, "config_sha256"));
        }
    }
    out
}

/// Flip one byte at several positions of every evidence file (first, last and three spread
/// by a fixed seed); each flip must fail verification naming that file, and restoring the
/// byte must make the flow verify again.
fn every_flip_is_caught(dir: &Path) {
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % n
    };
    let files = files_under(dir);
    let mut flips = 0;
    for rel in &files {
        let path = dir.join(&rel);
        let bytes = std::fs::read(&path).unwrap();
        let skip = unanchored(dir, rel, &bytes);
        let allowed: Vec<usize> = (0..bytes.len()).filter(|i| !skip.iter().any(|r| r.contains(i))).collect();
        let mut positions = vec![0, bytes.len() - 1];
        for _ in 0..3 {
            positions.push(allowed[next(allowed.len())]);
        }
        positions.sort();
        positions.dedup();
        for at in positions {
            let mut changed = bytes.clone();
            changed[at] ^= 0x01;
            std::fs::write(&path, &changed).unwrap();
            let result = audit_trail::verify(dir);
            std::fs::write(&path, &bytes).unwrap();
            match result {
                Ok(_) => panic!("flipping byte {at} of {rel} ({:?}) went unnoticed", String::from_utf8_lossy(&bytes[at.saturating_sub(20)..(at + 20).min(bytes.len())])),
                Err(f) => assert_eq!(&f.file, rel, "flipping byte {at} of {rel} was blamed on another file: {f}"),
            }
            flips += 1;
        }
    }
    audit_trail::verify(dir).unwrap_or_else(|f| panic!("restored evidence must verify: {f}"));
    assert!(flips >= 4 * files.len(), "only {flips} flips over {} files", files.len());
}

/// Every external side effect that took place has a consent before it and a receipt after it
/// that names the call as its cause; the ones that did not take place have none.
fn side_effects_have_consent_and_receipts(dir: &Path) {
    let events: Vec<Value> = std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut effects = 0;
    for (i, e) in events.iter().enumerate() {
        if e["event_type"] != "gateway.call" || e["payload"]["class"] != "WRITE_EXTERNAL_SIDE_EFFECT" {
            continue;
        }
        effects += 1;
        let op = e["payload"]["op"].as_str().unwrap();
        let id = &e["event_id"];
        let receipts: Vec<&Value> = events[i + 1..].iter().filter(|r| r["event_type"] == "receipt.side_effect" && &r["causation_id"] == id).collect();
        assert_eq!(receipts.len(), 1, "{op} at line {} has {} receipts", i + 1, receipts.len());
        assert_eq!(receipts[0]["payload"]["op"], op);
        assert_eq!(&receipts[0]["payload"]["call_event_id"], id);
        assert!(
            events[..i].iter().any(|c| c["event_type"] == "consent.given" && c["payload"]["action"] == op),
            "{op} at line {} has no consent before it",
            i + 1
        );
    }
    // provision, delete and the files written on the target (the executors' commands are
    // WRITE_INTERNAL: they change only the flow's own directories on the pod).
    let ops: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "receipt.side_effect")
        .map(|e| e["payload"]["op"].as_str().unwrap())
        .collect();
    assert!(effects > 5, "only {effects} side effects recorded");
    // Capabilities whose purpose is spent are revoked with their phase; the rest expire at the
    // end, and each ends once.
    let ended = |how: &str, kind: &str| {
        events.iter().filter(|e| e["event_type"] == format!("capability.{how}") && e["payload"]["kind"] == kind).count()
    };
    assert_eq!((ended("revoked", "provision"), ended("expired", "provision")), (1, 0), "provision ends with P10");
    assert_eq!((ended("revoked", "delete"), ended("revoked", "target")), (1, 1), "the pod's capabilities end with its deletion");
    assert_eq!(ended("expired", "target"), 0);
    for op in ["provision", "put-file", "delete-pod"] {
        assert!(ops.contains(op), "no receipt for {op}: {ops:?}");
    }
    // The deletion's receipt says the transport no longer finds the pod.
    let deleted = events.iter().find(|e| e["event_type"] == "receipt.side_effect" && e["payload"]["op"] == "delete-pod").unwrap();
    assert_eq!(deleted["payload"]["result"], "deleted; confirmed gone: the transport no longer finds it", "{deleted}");
}

fn wfhost(s: &Sandbox, args: &[&str]) -> Run {
    s.run(args)
}

#[test]
fn a_passing_flow_verifies_replays_identically_and_no_flipped_byte_goes_unnoticed() {
    let (s, run) = happy();
    let dir = run.flow_dir();
    let verify = wfhost(&s, &["verify", &path_arg(&dir)]);
    assert_eq!(verify.status, 0, "{}", verify.explain());
    assert!(verify.stdout.contains("finished, verdict pass, 11 phase(s) judged"), "{}", verify.stdout);
    let json = wfhost(&s, &["verify", "--json", &path_arg(&dir)]);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["records"].as_u64(), Some(std::fs::read_to_string(dir.join("events.jsonl")).unwrap().lines().count() as u64));
    // Every file but the log was checked (11 phases x 5 files, fsm.json, the summary).
    assert_eq!(report["files"].as_array().unwrap().len(), files_under(&dir).len() - 1, "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]), "a clean flow leaves nothing to warn about: {report}");
    side_effects_have_consent_and_receipts(&dir);

    let replay = wfhost(&s, &["replay", &path_arg(&dir)]);
    assert_eq!(replay.status, 0, "{}", replay.explain());
    assert!(replay.stdout.contains("flow.summary.json: identical"), "{}", replay.stdout);
    assert!(replay.stdout.contains("fsm.json: identical"), "{}", replay.stdout);
    assert!(replay.stdout.contains(" 0 different or missing"), "{}", replay.stdout);

    every_flip_is_caught(&dir);
}

#[test]
fn halted_flows_verify_replay_identically_and_explain_the_halt() {
    let (s0, p00) = halted_at_p00();
    let (s7, p70) = halted_at_p70();
    for (s, run, phase, code) in [(&s0, &p00, "P00", codes::CONSENT_MISSING.get()), (&s7, &p70, "P70", codes::RUNS_FAILED.get())] {
        let dir = run.flow_dir();
        let verify = wfhost(s, &["verify", &path_arg(&dir)]);
        assert_eq!(verify.status, 0, "{}", verify.explain());
        assert!(verify.stdout.contains("verdict halted"), "{}", verify.stdout);
        let replay = wfhost(s, &["replay", &path_arg(&dir)]);
        assert_eq!(replay.status, 0, "{}", replay.explain());
        assert!(!replay.stdout.contains("DIFFERS") && !replay.stdout.contains("MISSING"), "{}", replay.stdout);
        let explain = wfhost(s, &["explain", &path_arg(&dir)]);
        assert_eq!(explain.status, 0, "{}", explain.explain());
        let text = &explain.stdout;
        let verdict = run.verdict(phase);
        let next = verdict["next_command"].as_str().unwrap();
        assert!(text.contains(&format!("HALTED at {phase} with code {code}")), "{text}");
        assert!(text.contains(&format!("  {phase} code {code} ")), "{text}");
        assert!(text.contains(&format!("  next: {next}")), "{text}");
        for law in verdict["violated_laws"].as_array().unwrap() {
            assert!(text.contains(law.as_str().unwrap()), "{law} missing from {text}");
        }
        assert!(!text.contains('\u{1b}'), "no terminal escapes in a pipe: {text}");
    }
    // The P70 halt left the pod running (Law 7): explain says how to delete it.
    let text = wfhost(&s7, &["explain", &path_arg(&p70.flow_dir())]).stdout;
    let cmd = p70.summary()["delete_command"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("delete it with: {cmd}")), "{text}");
    assert!(text.contains("provision on wf-") && text.contains("consent given by policy --yes"), "{text}");
    every_flip_is_caught(&p70.flow_dir());
}

#[test]
fn secrets_never_reach_evidence_artifacts_or_output() {
    const KEY: &str = "canary-5f1e9c0d-lium-api-key";
    const TOKEN: &str = "canary-77ab31-secret-token";
    let mut s = Sandbox::new();
    s.set("LIUM_API_KEY", KEY);
    s.set("WF_SECRET_TOKEN", TOKEN);
    s.env.push(("WF_SECRET_TOKEN".into(), TOKEN.into()));
    let run = s.run(FULL);
    assert_eq!(run.status, 0, "{}", run.explain());
    let dir = run.flow_dir();
    let verify = wfhost(&s, &["verify", "--json", &path_arg(&dir)]);
    let explain = wfhost(&s, &["explain", &path_arg(&dir)]);
    let replay = wfhost(&s, &["replay", &path_arg(&dir)]);
    for (name, text) in [("flow", &run), ("verify", &verify), ("explain", &explain), ("replay", &replay)]
        .iter()
        .flat_map(|(n, r)| [(format!("{n} stdout"), &r.stdout), (format!("{n} stderr"), &r.stderr)])
    {
        assert!(!text.contains(KEY) && !text.contains(TOKEN), "a secret reached {name}");
    }
    let artifacts = s.root().join("artifacts");
    let files = files_under(&artifacts);
    assert!(files.iter().any(|f| f.ends_with("events.jsonl")) && files.iter().any(|f| f.ends_with("metrics.json")), "{files:?}");
    for rel in files {
        let bytes = std::fs::read(artifacts.join(&rel)).unwrap();
        for secret in [KEY, TOKEN] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} is in artifacts/{rel}");
        }
    }
    // The packs show the secrets as markers, and verify holds them to it.
    let pack = std::fs::read_to_string(dir.join("phase/phase.P40.pack.json")).unwrap();
    assert!(pack.contains(r#"{"key":"LIUM_API_KEY","value":"<secret>"}"#), "{pack}");
    assert_eq!(verify.status, 0, "{}", verify.explain());
}

#[test]
fn a_flow_killed_mid_append_verifies_up_to_its_last_complete_record() {
    let mut s = Sandbox::new();
    s.manifest("run_id,seed,extra\nslow,1,--sleep 4\n");
    // Any run writes the config; this one does nothing else.
    assert_eq!(s.run(&["--version"]).status, 0);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wfhost"));
    cmd.args(["flow", "--yes", "--wait", "true"])
        .current_dir(s.root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("WFHOST_CACHE_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wfhost-component-cache"));
    for k in ["LIUM_YES", "LIUM_TARGET", "WORKFLOW_CONFIG", "WF_ALLOW_OVERRIDE"] {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().unwrap();
    let flows = s.root().join("artifacts/pod_logs/_flows");
    let t0 = Instant::now();
    let dir = loop {
        let found = std::fs::read_dir(&flows).ok().and_then(|mut d| d.next()).and_then(|e| e.ok()).map(|e| e.path());
        if let Some(dir) = found {
            let log = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
            // Kill once the monitor has polled at least once (a gateway call after P70 started).
            if log.split("\"native_id\":\"P70/started\"").nth(1).is_some_and(|after| after.contains("\"native_id\":\"P70/")) {
                break dir;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(90), "the flow never reached P70");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let killed = audit_trail::verify(&dir).unwrap_or_else(|f| panic!("a killed flow's evidence must verify: {f}"));
    assert!(!killed.finished && killed.verdict.is_none());
    assert_eq!(killed.tail, Tail::Clean, "appends are single writes: a kill leaves whole lines");
    assert_eq!(killed.phases.last().map(|p| (p.phase.as_str(), p.court.is_none())), Some(("P70", true)), "{killed:?}");
    assert!(!dir.join("flow.summary.json").exists());

    // A crash inside an append leaves half a line: cut the last record in the middle.
    let log_path = dir.join("events.jsonl");
    let bytes = std::fs::read(&log_path).unwrap();
    let last_start = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let cut = last_start + (bytes.len() - last_start) / 2;
    let last: Value = serde_json::from_slice(&bytes[last_start..]).unwrap();
    std::fs::write(&log_path, &bytes[..cut]).unwrap();
    if last["event_type"] == "fsm.transition" {
        // The engine mirrors a transition into fsm.json only after its record is appended: a
        // crash inside that append finds fsm.json still mirroring the transition before.
        audit_trail::replay(&dir, true).unwrap();
    }
    let partial = audit_trail::verify(&dir).unwrap_or_else(|f| panic!("a partial last line is a crash, not damage: {f}"));
    assert_eq!(partial.records, killed.records - 1);
    match &partial.tail {
        Tail::Partial { line, offset, len, .. } => {
            assert_eq!((*line, *offset, *len), (killed.records, last_start as u64, (cut - last_start) as u64));
        }
        Tail::Clean => panic!("the partial line must be reported"),
    }
    let cli = s.run(&["verify", &path_arg(&dir)]);
    assert_eq!(cli.status, 0, "{}", cli.explain());
    assert!(cli.stdout.contains("NOT FINISHED") && cli.stdout.contains("a crash's unfinished append"), "{}", cli.stdout);
    let explain = s.run(&["explain", &path_arg(&dir)]);
    assert_eq!(explain.status, 0, "{}", explain.explain());
    assert!(explain.stdout.contains("DID NOT FINISH") && explain.stdout.contains("partial line"), "{}", explain.stdout);
    let replay = s.run(&["replay", &path_arg(&dir)]);
    assert_eq!(replay.status, 0, "{}", replay.explain());
    assert!(replay.stdout.contains("flow.summary.json: not rebuilt: the flow did not finish"), "{}", replay.stdout);
    // The kill left the pod; it can still be deleted by name.
    for pod in s.pods() {
        assert_eq!(s.run(&["pod-delete", "--target", &pod, "--yes"]).status, 0);
    }
}

#[test]
fn records_cut_off_the_end_of_the_log_are_caught_by_the_summary_anchor() {
    let (_s, run) = halted_at_p00();
    let dir = run.flow_dir();
    let log_path = dir.join("events.jsonl");
    let text = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Whole records removed from the end leave a valid, shorter chain (ops.md O7).
    let kept: String = lines[..lines.len() - 3].iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&log_path, kept).unwrap();
    let f = audit_trail::verify(&dir).unwrap_err();
    assert_eq!((f.kind, f.file.as_str()), (FailureKind::Projection, "flow.summary.json"), "{f}");
    assert!(f.problem.contains("records were cut off the end of the log"), "{f}");
}

/// Rewrite a flow's log from its records, edited, with a valid hash chain.
fn reseal(dir: &Path, edit: impl FnOnce(&mut Vec<EventDraft>)) {
    reseal_with(dir, wfhost_evidence::LogOptions::default(), edit)
}

/// [`reseal`] with the log's options (a long log is written with fsync on decisions only).
fn reseal_with(dir: &Path, options: wfhost_evidence::LogOptions, edit: impl FnOnce(&mut Vec<EventDraft>)) {
    let path = dir.join("events.jsonl");
    let contents = wfhost_evidence::read(&path).unwrap();
    let flow_id = contents.events[0].correlation_id.clone();
    let mut drafts: Vec<EventDraft> = contents.events.iter().map(|e| e.to_draft()).collect();
    edit(&mut drafts);
    std::fs::remove_file(&path).unwrap();
    let mut log = EventLog::create_with(&path, &flow_id, options).unwrap();
    for d in drafts {
        log.append(d).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for rel in files_under(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), dest).unwrap();
    }
}

fn position(drafts: &[EventDraft], native_id: &str) -> usize {
    drafts.iter().position(|d| d.native_id == native_id).unwrap_or_else(|| panic!("no record {native_id}"))
}

#[test]
fn a_resealed_log_that_breaks_a_rule_is_refused_with_its_line() {
    let (s, run) = halted_at_p70();
    let original = run.flow_dir();
    let case = |name: &str, edit: &dyn Fn(&mut Vec<EventDraft>)| {
        let dir = s.root().join("forged").join(name);
        copy_dir(&original, &dir);
        reseal(&dir, |d| edit(d));
        wfhost_evidence::verify(&dir.join("events.jsonl")).expect("the forged chain itself is valid");
        audit_trail::verify(&dir).expect_err("a broken rule must fail verification")
    };

    // A gateway call after its capability expired.
    let f = case("expired", &|d| {
        let expired = d.iter().position(|x| x.event_type == "capability.expired" && x.native_id == "capability/target/expired").unwrap();
        let record = d.remove(expired);
        let first_call = d.iter().position(|x| x.event_type == "gateway.call" && x.native_id.starts_with("P30/")).unwrap();
        d.insert(first_call, record);
    });
    assert_eq!((f.kind, f.file.as_str(), f.field.as_deref()), (FailureKind::Capability, "events.jsonl", Some("capability_id")), "{f}");
    assert!(f.problem.contains("expired at line"), "{f}");

    // A pod created without consent (Law 4).
    let f = case("no-consent", &|d| {
        let consent = position(d, "consent/provision");
        d.remove(consent);
    });
    assert_eq!(f.kind, FailureKind::Capability, "{f}");
    assert!(f.problem.contains("without a consent.given record") && f.problem.contains("Law 4"), "{f}");

    // A verdict that passes a phase whose deterministic validator failed.
    let f = case("lying-verdict", &|d| {
        let v = position(d, "P70/verdict");
        d[v].payload["court"] = Value::from("pass");
    });
    assert_eq!((f.kind, f.field.as_deref()), (FailureKind::Order, Some("payload.court")), "{f}");
    let line = f.line.unwrap();
    let expected_line = 1 + wfhost_evidence::read(&original.join("events.jsonl")).unwrap().events.iter().position(|e| e.native_id == "P70/verdict").unwrap() as u64;
    assert_eq!(line, expected_line, "{f}");

    // A phase that runs after the flow halted.
    let f = case("after-halt", &|d| {
        let v = position(d, "P70/verdict");
        let mut started = d[position(d, "P70/started")].clone();
        started.native_id = "P80/started".into();
        started.payload = serde_json::json!({"phase": "P80"});
        d.insert(v + 1, started);
    });
    assert_eq!(f.kind, FailureKind::Order, "{f}");
    assert!(f.problem.contains("P80 starts after the court halted the flow at P70"), "{f}");

    // Phase records out of order.
    let f = case("order", &|d| {
        let det = position(d, "P30/deterministic");
        let aud = position(d, "P30/constitutional");
        d.swap(det, aud);
    });
    assert_eq!(f.kind, FailureKind::Order, "{f}");
    assert!(f.problem.contains("court.auditor for P30 is out of order"), "{f}");
}

#[test]
fn replay_names_the_first_differing_byte_and_write_restores_the_file() {
    let (s, run) = halted_at_p00();
    let dir = run.flow_dir();
    let summary = dir.join("flow.summary.json");
    let good = std::fs::read(&summary).unwrap();
    let mut bad = good.clone();
    let at = good.windows(9).position(|w| w == b"\"events\":").unwrap() + 9;
    bad[at] = if bad[at] == b'9' { b'8' } else { b'9' };
    std::fs::write(&summary, &bad).unwrap();

    let verify = s.run(&["verify", &path_arg(&dir)]);
    assert_eq!(verify.status, 1, "{}", verify.explain());
    assert!(verify.stderr.contains("flow.summary.json: /events: not the projection of events.jsonl"), "{}", verify.stderr);
    let replay = s.run(&["replay", &path_arg(&dir)]);
    assert_eq!(replay.status, 1, "{}", replay.explain());
    assert!(replay.stdout.contains(&format!("flow.summary.json: DIFFERS at byte {at}")), "{}", replay.stdout);
    assert_eq!(std::fs::read(&summary).unwrap(), bad, "replay without --write changes nothing");
    let fixed = s.run(&["replay", "--write", &path_arg(&dir)]);
    assert_eq!(fixed.status, 0, "{}", fixed.explain());
    assert!(fixed.stdout.contains("flow.summary.json: written from the log"), "{}", fixed.stdout);
    assert_eq!(std::fs::read(&summary).unwrap(), good);
    assert_eq!(s.run(&["verify", &path_arg(&dir)]).status, 0);

    // A removed phase file is named by verify and restored by replay.
    let outcome = dir.join("phase/phase.P00.json");
    let kept = std::fs::read(&outcome).unwrap();
    std::fs::remove_file(&outcome).unwrap();
    let f = audit_trail::verify(&dir).unwrap_err();
    assert_eq!((f.kind, f.file.as_str()), (FailureKind::Missing, "phase/phase.P00.json"), "{f}");
    assert_eq!(s.run(&["replay", "--write", &path_arg(&dir)]).status, 0);
    assert_eq!(std::fs::read(&outcome).unwrap(), kept);

    // A stray file is named; a log that does not verify is never replayed.
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    let f = audit_trail::verify(&dir).unwrap_err();
    assert_eq!((f.kind, f.file.as_str()), (FailureKind::Unexpected, "notes.txt"), "{f}");
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    let log = dir.join("events.jsonl");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    let refused = s.run(&["replay", "--write", &path_arg(&dir)]);
    assert_eq!(refused.status, 1, "{}", refused.explain());
    assert!(refused.stderr.contains("replay rebuilds only from a log that verifies"), "{}", refused.stderr);

    // Not a flow directory: a usage error.
    for cmd in ["verify", "replay", "explain"] {
        let r = s.run(&[cmd, "no/such/flow"]);
        assert_eq!(r.status, 64, "{cmd}: {}", r.explain());
        assert!(r.stderr.contains("not a directory"), "{}", r.stderr);
    }
}

#[test]
fn a_signed_flow_verifies_against_its_pinned_key_and_any_change_after_signing_is_caught() {
    let mut s = Sandbox::new();
    let keygen = s.run(&["keygen", "keys/flow.pem"]);
    assert_eq!(keygen.status, 0, "{}", keygen.explain());
    let other = s.run(&["keygen", "keys/other.pem"]);
    assert_eq!(other.status, 0, "{}", other.explain());
    s.set("WF_SIGNING_KEY", "keys/flow.pem");
    let run = s.run(FULL);
    assert_eq!(run.status, 0, "{}", run.explain());
    let dir = run.flow_dir();
    // A signature per verdict and one over the whole flow, with the public key beside them.
    let verdicts = std::fs::read_dir(dir.join("phase"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".verdict.json"))
        .count();
    let envelopes = std::fs::read_dir(dir.join("phase"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".verdict.dsse.json"))
        .count();
    assert_eq!((verdicts, envelopes), (11, 11));
    assert!(dir.join("flow.dsse.json").is_file() && dir.join("signing.pub").is_file());
    // No secret in the evidence: the key's path is a secret of the config and its bytes never
    // leave the host.
    let private = std::fs::read_to_string(s.root().join("keys/flow.pem")).unwrap();
    let body: String = private.lines().filter(|l| !l.starts_with("-----")).collect();
    for rel in files_under(&dir) {
        let text = String::from_utf8_lossy(&std::fs::read(dir.join(&rel)).unwrap()).into_owned();
        assert!(!text.contains(&body), "{rel} holds the private key");
    }

    let flow = path_arg(&dir);
    let explain = s.run(&["explain", &flow]);
    assert!(explain.stdout.contains("signed:   ed25519:"), "{}", explain.stdout);
    let pinned = s.run(&["verify", &flow, "--key", "keys/flow.pem.pub"]);
    assert_eq!(pinned.status, 0, "{}", pinned.explain());
    let wrong = s.run(&["verify", &flow, "--key", "keys/other.pem.pub"]);
    assert_eq!(wrong.status, 1, "{}", wrong.explain());
    assert!(wrong.stderr.contains("not the key you gave"), "{}", wrong.stderr);

    // A verdict changed after signing, then resealed so the chain and the record agree, is
    // still caught by its signature; here the plain change is caught and blamed on the file.
    let verdict = dir.join("phase/phase.P70.verdict.json");
    let original = std::fs::read(&verdict).unwrap();
    let changed = String::from_utf8(original.clone()).unwrap().replace("\"court_ms\":", "\"court_ms\":1");
    std::fs::write(&verdict, changed).unwrap();
    let tampered = s.run(&["verify", &flow, "--key", "keys/flow.pem.pub"]);
    assert_eq!(tampered.status, 1, "{}", tampered.explain());
    assert!(tampered.stderr.contains("phase/phase.P70.verdict.json"), "{}", tampered.stderr);
    std::fs::write(&verdict, &original).unwrap();
    // A missing signature is caught too.
    let envelope = dir.join("phase/phase.P40.verdict.dsse.json");
    let saved = std::fs::read(&envelope).unwrap();
    std::fs::remove_file(&envelope).unwrap();
    let missing = s.run(&["verify", &flow, "--key", "keys/flow.pem.pub"]);
    assert_eq!(missing.status, 1, "{}", missing.explain());
    assert!(missing.stderr.contains("phase.P40.verdict.dsse.json"), "{}", missing.stderr);
    std::fs::write(&envelope, saved).unwrap();
    assert_eq!(s.run(&["verify", &flow, "--key", "keys/flow.pem.pub"]).status, 0);
}

#[test]
fn a_signing_key_that_cannot_be_read_stops_the_flow_in_p00() {
    let mut s = Sandbox::new();
    s.set("WF_SIGNING_KEY", "keys/absent.pem");
    let run = s.run(FULL);
    assert_eq!(run.status, 10, "{}", run.explain());
    assert_eq!(run.statuses().last().unwrap(), &("P00".to_string(), "fail".to_string(), codes::CONFIG_INVALID.get()));
    assert!(run.stderr.contains("keys/absent.pem") && run.stderr.contains("wfhost keygen"), "{}", run.stderr);
    assert!(s.pods().is_empty(), "nothing was created");
}

/// A passing flow's log cut at every record boundary verifies, as an unfinished flow, up to
/// that record: what `kill -9` leaves at that moment (each append is one write). The directory
/// of each cut holds what the engine had written by then: the phase files whose records are in
/// the cut (rebuilt by `replay --write` from those records), a phase's pack once its
/// `court.deterministic` record is there (the pack is written after it, before the auditors),
/// and `fsm.json` mirroring the cut's last transition; no summary.
#[test]
fn a_log_cut_at_every_record_boundary_verifies_up_to_that_record() {
    let (_s, run) = happy();
    let dir = run.flow_dir();
    let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 100, "a full flow records more than {} events", lines.len());
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for n in 1..lines.len() {
        let cut = work.path().join(format!("cut-{n}"));
        std::fs::create_dir_all(cut.join("phase")).unwrap();
        std::fs::copy(dir.join("fsm.json"), cut.join("fsm.json")).unwrap();
        let kept: String = lines[..n].iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(cut.join("events.jsonl"), kept).unwrap();
        for record in &lines[..n] {
            let e: Value = serde_json::from_str(record).unwrap();
            if e["event_type"] == "court.deterministic" {
                let pack = format!("phase/phase.{}.pack.json", e["payload"]["phase"].as_str().unwrap());
                std::fs::copy(dir.join(&pack), cut.join(&pack)).unwrap();
            }
        }
        let has_transition = lines[..n].iter().any(|l| event_type(l) == "fsm.transition");
        if !has_transition {
            std::fs::remove_file(cut.join("fsm.json")).unwrap();
        }
        audit_trail::replay(&cut, true).unwrap_or_else(|e| panic!("replay of the cut after {n}: {e}"));
        match audit_trail::verify(&cut) {
            Ok(report) => {
                assert!(!report.finished, "cut after {n} records reads as finished");
                assert_eq!(report.records, n as u64, "cut after {n}");
            }
            Err(f) => failures.push(format!("after record {n} ({}): {f}", event_type(lines[n - 1]))),
        }
        let _ = std::fs::remove_dir_all(&cut);
    }
    assert!(failures.is_empty(), "{} of {} cuts do not verify:\n{}", failures.len(), lines.len() - 1, failures.join("\n"));
}

fn event_type(line: &str) -> String {
    serde_json::from_str::<Value>(line).map(|v| v["event_type"].as_str().unwrap_or("?").to_string()).unwrap_or_default()
}

#[test]
fn flow_start_json_is_p00s_artifact_verified_and_rebuilt_byte_for_byte() {
    let (s, run) = happy();
    let dir = run.flow_dir();
    let path = dir.join("flow.start.json");
    let good = std::fs::read(&path).expect("P00 writes flow.start.json");
    let start: Value = serde_json::from_slice(&good).unwrap();
    // The header values as P00 printed them, and the flow.started record.
    for key in ["active_config_path", "active_config_sha256", "override_enabled", "transport", "remote_env_path", "fsm_state_file"] {
        assert_eq!(start[key].as_str(), run.header(key), "{key}: {start}");
    }
    // Autobind: P00 prints `pending`; P20 prints the bound pod later, which is not P00's.
    assert_eq!((start["resolved_target"].as_str(), start["target_source"].as_str()), (Some("pending"), Some("autobind")), "{start}");
    assert_ne!(run.header("resolved_target"), Some("pending"));
    assert_eq!(start["override_enabled"], "0");
    assert_eq!(start["flow_id"].as_str(), run.header("flow_id"));
    assert_eq!(start["command"], "flow");
    assert_eq!(start["flags"]["teardown"], "delete");
    // Altered: verify names it; replay --write rebuilds it byte for byte.
    let mut bad = good.clone();
    let at = good.windows(7).position(|w| w == b"\"flow\",").expect("command member") + 1;
    bad[at] = b'F';
    std::fs::write(&path, &bad).unwrap();
    let f = audit_trail::verify(&dir).unwrap_err();
    assert_eq!((f.kind, f.file.as_str()), (FailureKind::Projection, "flow.start.json"), "{f}");
    assert_eq!(s.run(&["replay", "--write", &path_arg(&dir)]).status, 0);
    assert_eq!(std::fs::read(&path).unwrap(), good);
    // Missing: verify names it as missing; replay --write restores it.
    std::fs::remove_file(&path).unwrap();
    let f = audit_trail::verify(&dir).unwrap_err();
    assert_eq!((f.kind, f.file.as_str()), (FailureKind::Missing, "flow.start.json"), "{f}");
    let fixed = s.run(&["replay", "--write", &path_arg(&dir)]);
    assert_eq!(fixed.status, 0, "{}", fixed.explain());
    assert!(fixed.stdout.contains("flow.start.json: written from the log"), "{}", fixed.stdout);
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_eq!(s.run(&["verify", &path_arg(&dir)]).status, 0);
}

/// A directory whose events.jsonl holds no complete record is not a verified flow: verify,
/// replay and explain all refuse it with exit 1, saying what they found and what a flow's
/// directory holds.
#[test]
fn a_log_without_a_complete_record_is_not_a_flow_for_verify_replay_or_explain() {
    let s = Sandbox::new();
    let cases: [(&str, &[u8], &str); 3] = [
        ("empty", b"", "events.jsonl: the log is empty"),
        ("partial", b"{\"actor\":{\"kind\":\"ho", "the log holds no complete record, only an unterminated line of 20 byte(s)"),
        ("nul", b"\0\0\0\0", "only an unterminated line of 4 byte(s)"),
    ];
    for (name, bytes, found) in cases {
        let dir = s.root().join("flows").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("events.jsonl"), bytes).unwrap();
        let verify = s.run(&["verify", &path_arg(&dir)]);
        assert_eq!(verify.status, 1, "{name}: {}", verify.explain());
        for said in [found, "a flow's log always starts with its flow.started record", "the directory holds nothing else", "flow.summary.json once it finished"] {
            assert!(verify.stderr.contains(said), "{name}: {said:?} missing from {}", verify.stderr);
        }
        let json = s.run(&["verify", "--json", &path_arg(&dir)]);
        assert_eq!(json.status, 1, "{name}: {}", json.explain());
        let report: Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!((report["ok"].clone(), report["failure"]["kind"].clone()), (Value::from(false), Value::from("no_records")), "{report}");
        let f = audit_trail::verify(&dir).unwrap_err();
        assert_eq!((f.kind, f.file.as_str()), (FailureKind::NoRecords, "events.jsonl"), "{f}");
        let arg = path_arg(&dir);
        for cmd in [&["replay"][..], &["replay", "--write"], &["explain"]] {
            let args: Vec<&str> = cmd.iter().copied().chain([arg.as_str()]).collect();
            let r = s.run(&args);
            assert_eq!(r.status, 1, "{name} {cmd:?}: {}", r.explain());
            assert!(r.stderr.contains(found) && r.stderr.contains("a flow's log always starts with its flow.started record"), "{name} {cmd:?}: {}", r.stderr);
            assert_eq!(files_under(&dir), ["events.jsonl"], "{name} {cmd:?} wrote nothing");
        }
    }
    // What else the directory holds is named.
    let dir = s.root().join("flows/empty");
    std::fs::write(dir.join("fsm.json"), "{}").unwrap();
    let verify = s.run(&["verify", &path_arg(&dir)]);
    assert!(verify.stderr.contains("the directory holds 1 other entry (fsm.json)"), "{}", verify.stderr);
}

/// Every log `verify` refuses at the log level, `replay` refuses too (exit 1, saying why and to
/// run verify), with the same words, and writes nothing even with --write.
#[test]
fn replay_refuses_every_log_verify_refuses_at_the_log_level() {
    let (s, run) = halted_at_p00();
    let original = run.flow_dir();
    let case = |name: &str, edit: &dyn Fn(&Path)| {
        let dir = s.root().join("refused").join(name);
        copy_dir(&original, &dir);
        edit(&dir);
        let before: Vec<(String, Vec<u8>)> = files_under(&dir).into_iter().map(|f| (f.clone(), std::fs::read(dir.join(&f)).unwrap())).collect();
        let f = audit_trail::verify(&dir).expect_err(name);
        let verify = s.run(&["verify", &path_arg(&dir)]);
        assert_eq!(verify.status, 1, "{name}: {}", verify.explain());
        let arg = path_arg(&dir);
        for args in [&["replay"][..], &["replay", "--write"]] {
            let args: Vec<&str> = args.iter().copied().chain([arg.as_str()]).collect();
            let replay = s.run(&args);
            assert_eq!(replay.status, 1, "{name} {args:?}: {}", replay.explain());
            assert!(replay.stderr.contains(&f.problem), "{name}: replay must give verify's reason {:?}: {}", f.problem, replay.stderr);
            assert!(replay.stderr.contains("replay rebuilds only from a log that verifies") && replay.stderr.contains("wfhost verify"), "{}", replay.stderr);
            let after: Vec<(String, Vec<u8>)> = files_under(&dir).into_iter().map(|f| (f.clone(), std::fs::read(dir.join(&f)).unwrap())).collect();
            assert!(after == before, "{name} {args:?} changed the directory");
        }
        f
    };
    // A crash's partial line after the summary record: nothing is appended after a summary.
    let f = case("partial-after-summary", &|dir| {
        let mut log = std::fs::OpenOptions::new().append(true).open(dir.join("events.jsonl")).unwrap();
        std::io::Write::write_all(&mut log, b"{\"actor\":{\"kind\":\"ho").unwrap();
    });
    assert_eq!(f.kind, FailureKind::Chain, "{f}");
    assert!(f.problem.contains("a partial line follows the flow.summary record"), "{f}");
    // A record after the summary record, with a valid chain.
    let f = case("record-after-summary", &|dir| {
        reseal(dir, |d| {
            let mut extra = d[0].clone();
            extra.event_type = "plugin.log".into();
            extra.native_id = "late/log".into();
            extra.payload = serde_json::json!({"level": "info", "message": "after the end"});
            d.push(extra);
        })
    });
    assert!(f.problem.contains("plugin.log comes after the flow.summary record"), "{f}");
    // A log that does not start with flow.started.
    let f = case("headless", &|dir| reseal(dir, |d| {
        d.remove(0);
    }));
    assert!(f.problem.contains("a flow's log starts with flow.started"), "{f}");
    // Two flow.started records.
    let f = case("two-starts", &|dir| {
        reseal(dir, |d| {
            let mut again = d[0].clone();
            again.native_id = "flow.again".into();
            d.insert(2, again);
        })
    });
    assert!(f.problem.contains("a second flow.started record"), "{f}");
    // Records cut off the end: the summary anchors more than the log holds.
    let f = case("cut", &|dir| {
        let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(dir.join("events.jsonl"), lines[..lines.len() - 2].iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    });
    assert_eq!((f.kind, f.file.as_str()), (FailureKind::Projection, "flow.summary.json"), "{f}");
    assert!(f.problem.contains("records were cut off the end of the log"), "{f}");
}

/// Peak resident and virtual size (KiB) of a process, sampled from /proc while it runs.
#[derive(Debug, Default, Clone, Copy)]
struct Peak {
    rss_kib: u64,
    vm_kib: u64,
}

/// Run `wfhost args` in `s` (under an address-space limit of `limit_kib`, `ulimit -v`, when
/// given), sampling its peak memory; returns its exit status, stderr and the peak.
fn measured(s: &Sandbox, args: &[&str], limit_kib: Option<u64>) -> (i32, String, Peak) {
    let limit = limit_kib.map(|k| k.to_string()).unwrap_or_else(|| "unlimited".into());
    let err_path = s.root().join(format!("measured-{}.stderr", std::process::id()));
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -v \"$0\" && exec \"$@\"", &limit, env!("CARGO_BIN_EXE_wfhost")])
        .args(args)
        .current_dir(s.root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let kib = |text: &str, key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).unwrap_or(0)
    };
    let mut peak = Peak::default();
    let t0 = Instant::now();
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            peak.rss_kib = peak.rss_kib.max(kib(&text, "VmHWM:"));
            peak.vm_kib = peak.vm_kib.max(kib(&text, "VmPeak:"));
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "wfhost {args:?} did not finish");
        std::thread::sleep(Duration::from_millis(2));
    };
    (status, std::fs::read_to_string(&err_path).unwrap_or_default(), peak)
}

/// `verify`, `replay` and `explain` read the log one record at a time: their memory does not
/// grow with the log. A flow's log grown to ~8 MB and to ~64 MB (plugin.log records of 4 KiB,
/// as a chatty plugin leaves them) costs them the same, and each runs on the large log under an
/// address-space limit a little above what it needs for the small one, far below the log's
/// size (a reader that held the log would need several times it).
#[test]
fn verify_replay_and_explain_memory_does_not_grow_with_the_log() {
    let (s, run) = halted_at_p00();
    let original = run.flow_dir();
    let grown = |name: &str, records: usize| {
        let dir = s.root().join("grown").join(name);
        copy_dir(&original, &dir);
        let options = wfhost_evidence::LogOptions::default().with_durability(wfhost_evidence::Durability::OnDecision);
        reseal_with(&dir, options, |d| {
            let at = d.iter().position(|x| x.event_type == "phase.outcome").unwrap();
            let when = d[at - 1].occurred_at;
            let logs = (0..records).map(|i| {
                let mut log = EventDraft::new(
                    "plugin.log",
                    wfhost_evidence::Actor::new("host", "wfhost"),
                    "host",
                    format!("P00/log/{i}"),
                    serde_json::json!({"level": "warn", "message": format!("poll {i}: {}", "status unreadable; retrying ".repeat(150))}),
                );
                log.occurred_at = when;
                log
            });
            d.splice(at..at, logs);
        });
        let rebuilt = s.run(&["replay", "--write", &path_arg(&dir)]);
        assert_eq!(rebuilt.status, 0, "{}", rebuilt.explain());
        dir
    };
    let small = grown("small", 2_000);
    let large = grown("large", 16_000);
    let size = |d: &Path| std::fs::metadata(d.join("events.jsonl")).unwrap().len();
    assert!(size(&large) > 60_000_000 && size(&large) > 7 * size(&small), "{} and {} bytes", size(&small), size(&large));
    let mut figures = Vec::new();
    for cmd in ["verify", "replay", "explain"] {
        let (status, err, at_small) = measured(&s, &[cmd, &path_arg(&small)], None);
        assert_eq!(status, 0, "{cmd} small: {err}");
        let (status, err, at_large) = measured(&s, &[cmd, &path_arg(&large)], None);
        assert_eq!(status, 0, "{cmd} large: {err}");
        figures.push(format!("{cmd}: {at_small:?} -> {at_large:?}"));
        // The large log is ~55 MB longer; a reader that held it would grow by several times that.
        assert!(at_large.rss_kib < at_small.rss_kib + 16 * 1024, "{cmd}: peak RSS {at_small:?} on the small log, {at_large:?} on the large one");
        // Hard bound: the large log under the small one's address space plus 32 MiB.
        let limit = at_small.vm_kib + 32 * 1024;
        let (status, err, _) = measured(&s, &[cmd, &path_arg(&large)], Some(limit));
        assert_eq!(status, 0, "{cmd} on a {} byte log under a {limit} KiB address-space limit: {err}", size(&large));
    }
    eprintln!("peak memory, small -> large log: {figures:?}");
}
