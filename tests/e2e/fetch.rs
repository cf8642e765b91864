//! What a run leaves in its directory cannot reach the user's machine as anything but regular
//! files and directories: P80 over the local transport and over the loopback sshd, with a run
//! that plants a setuid binary, a device node, a FIFO and a symlink to `/` (the tests run as
//! root, so `mknod` works), and a fetch over WF_FETCH_MAX_BYTES.

use crate::harness::{git, Run, Sandbox};
use crate::ssh::Sshd;
use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use wfhost_constitution::codes;

/// The run of the hostile experiment: it plants what a rented host could, then writes its
/// metrics like any run.
const HOSTILE: &str = r#"#!/bin/sh
set -eu
cp /bin/true "$WF_RUN_DIR/suid"; chmod 4755 "$WF_RUN_DIR/suid"
mknod -m 666 "$WF_RUN_DIR/dev" c 1 3
ln -s / "$WF_RUN_DIR/root_link"
mkfifo "$WF_RUN_DIR/fifo"
printf '{"seed": 1}\n' > "$WF_RUN_DIR/metrics.json"
"#;

/// A sandbox whose one run (`h1`) is the hostile experiment.
fn hostile_sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    let repo = s.root().join("repo");
    std::fs::write(repo.join("hostile.sh"), HOSTILE).unwrap();
    git(&repo, &["add", "hostile.sh"]);
    git(&repo, &["commit", "-qm", "hostile run"]);
    s.set("SWEEP_RUN_TEMPLATE", "sh hostile.sh");
    s.manifest("run_id,seed,extra\nh1,1,\n");
    s
}

fn events(run: &Run) -> Vec<Value> {
    let text = std::fs::read_to_string(run.flow_dir().join("events.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Every entry under `dir` is a regular file or a directory without special mode bits.
fn only_plain_files(dir: &Path) -> usize {
    let mut count = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        let ft = meta.file_type();
        assert!(ft.is_file() || ft.is_dir(), "{} is a {ft:?}", e.path().display());
        assert!(!ft.is_symlink() && !ft.is_char_device() && !ft.is_block_device() && !ft.is_fifo() && !ft.is_socket());
        assert_eq!(meta.mode() & 0o7000, 0, "{} keeps mode {:o}", e.path().display(), meta.mode());
        count += if ft.is_dir() { only_plain_files(&e.path()) } else { 1 };
    }
    count
}

/// The fetched copy of `h1` holds plain files only, and the evidence lists what was left out.
fn assert_contained(s: &Sandbox, run: &Run) {
    assert_eq!(run.status, 0, "{}", run.explain());
    let pod_logs = s.root().join("artifacts/pod_logs");
    let h1 = std::fs::read_dir(&pod_logs).unwrap().flatten().map(|e| e.path().join("h1")).find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no fetched h1 under {}\n{}", pod_logs.display(), run.explain()));
    assert!(only_plain_files(&pod_logs) >= 2);
    let suid = std::fs::metadata(h1.join("suid")).unwrap();
    assert_eq!(suid.mode() & 0o7777, 0o755, "suid kept {:o}", suid.mode());
    assert_eq!(std::fs::read(h1.join("metrics.json")).unwrap(), b"{\"seed\": 1}\n");
    for gone in ["dev", "root_link", "fifo"] {
        assert!(std::fs::symlink_metadata(h1.join(gone)).is_err(), "{gone} was recreated");
    }

    let ev = events(run);
    let skipped: Vec<&Value> = ev.iter().filter(|e| e["event_type"] == "artifact.skipped").collect();
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    let p = &skipped[0]["payload"];
    let listed: Vec<(String, String)> = p["skipped"].as_array().unwrap().iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["kind"].as_str().unwrap().to_string())).collect();
    let mut want = vec![("dev".to_string(), "char-device".to_string()), ("fifo".into(), "fifo".into()), ("root_link".into(), "symlink".into())];
    let mut got = listed.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{p}");
    let entry = |name: &str| p["skipped"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap().clone();
    assert_eq!(entry("root_link")["link_target"], "/");
    assert_eq!((entry("dev")["device"].as_str(), entry("dev")["mode"].as_str()), (Some("1,3"), Some("666")));
    assert_eq!(p["modes_dropped"], serde_json::json!([{"name": "suid", "archive_mode": "4755", "written_mode": "755"}]));
    // The setuid file is recorded with the digest of what was written.
    let written = ev.iter().find(|e| e["event_type"] == "artifact.written" && e["payload"]["name"] == "suid").expect("suid recorded");
    assert_eq!(written["payload"]["sha256"].as_str().unwrap(), wfhost_evidence::hash::sha256_hex(&std::fs::read(h1.join("suid")).unwrap()));
    let verify = s.run(&["verify", &run.flow_dir().display().to_string()]);
    assert_eq!(verify.status, 0, "{}\n{}", verify.stdout, verify.stderr);
}

#[test]
fn a_local_pod_brings_back_plain_files_only_and_lists_the_rest() {
    let s = hostile_sandbox();
    let run = s.run(&["flow", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"]);
    assert_contained(&s, &run);
}

#[test]
fn an_ssh_host_brings_back_plain_files_only_and_lists_the_rest() {
    let sshd = Sshd::start();
    let mut s = hostile_sandbox();
    sshd.configure(&mut s);
    let run = s.run(&["flow", "--provision", "skip", "--wait", "true", "--fetch", "all"]);
    assert_contained(&s, &run);
}

#[test]
fn a_fetch_over_the_byte_cap_halts_p80_and_keeps_nothing_of_it() {
    let mut s = Sandbox::new();
    s.set("WF_FETCH_MAX_BYTES", "20");
    let run = s.run(&["flow", "--yes", "--wait", "true", "--fetch", "all"]);
    assert_ne!(run.status, 0, "{}", run.explain());
    let p80 = run.statuses().into_iter().find(|(p, _, _)| p == "P80").unwrap_or_else(|| panic!("{}", run.explain()));
    assert_eq!((p80.1.as_str(), p80.2), ("fail", codes::FETCH_FAILED.get()), "{}", run.explain());
    let outcome: Value = serde_json::from_slice(&std::fs::read(run.flow_dir().join("phase/phase.P80.json")).unwrap()).unwrap();
    let message = outcome["message"].as_str().unwrap();
    for part in ["more than 20 bytes", "WF_FETCH_MAX_BYTES=20", "nothing of this fetch was kept", "Raise WF_FETCH_MAX_BYTES (at most 1099511627776)"] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert!(run.stdout.contains("WF_FETCH_MAX_BYTES") || run.stderr.contains("WF_FETCH_MAX_BYTES"), "{}", run.explain());
    // Nothing of the stopped fetch is left: no run directory, no partial one.
    let pods: Vec<_> = std::fs::read_dir(s.root().join("artifacts/pod_logs")).unwrap().flatten().map(|e| e.path()).filter(|p| !p.ends_with("_flows")).collect();
    assert_eq!(pods.len(), 1, "{pods:?}");
    let leftovers: Vec<_> = walk(&pods[0]);
    assert!(leftovers.iter().all(|p| p.is_dir()), "files left behind: {leftovers:?}");
    assert!(!events(&run).iter().any(|e| e["event_type"] == "artifact.written"), "a file of the stopped fetch was recorded");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.path());
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}
