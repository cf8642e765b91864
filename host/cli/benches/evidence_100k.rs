//! `wfhost verify`, `replay` and `explain` of a real flow grown to 100,000 events.
//!
//! Runs the quickstart flow once with the real binary, then rewrites its `events.jsonl` with
//! about 100,000 records: the flow's own, plus `plugin.log` warnings inserted in P70 (as a
//! chatty monitor would leave them), each sealed into the hash chain by the evidence crate, and
//! rebuilds the projections with `wfhost replay --write`. Then it times the real binary:
//! `verify` (hash chain, every record rule, every file), `replay` (the same log-level checks,
//! rebuild and compare every projection) and `explain` (the account, then verify), a few runs
//! each, and prints the medians and each command's peak resident memory (VmHWM, sampled from
//! /proc every millisecond while it runs).
//!
//!     cargo bench --bench evidence_100k      (WFHOST_BENCH_EVENTS=N, WFHOST_BENCH_RUNS=N,
//!                                             WFHOST_BENCH_KEEP=<dir>: keep the flow there)

use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wfhost_evidence::{Actor, Durability, EventDraft, EventLog, LogOptions};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Run `wfhost args` with its output discarded; its exit status, wall time and peak RSS (KiB).
fn timed(args: &[&str], cache: &Path) -> (bool, f64, u64) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wfhost"))
        .args(args)
        .env("WFHOST_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wfhost runs");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(st) = child.try_wait().expect("wait") {
            return (st.success(), t0.elapsed().as_secs_f64(), peak);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn wfhost(args: &[&str], cache: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wfhost"))
        .args(args)
        .env("WFHOST_CACHE_DIR", cache)
        .stdin(Stdio::null())
        .output()
        .expect("wfhost runs")
}

fn main() {
    let target: usize = std::env::var("WFHOST_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let runs: usize = std::env::var("WFHOST_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let work = tempfile::tempdir().expect("tempdir");
    let qs = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let cache = work.path().join("cache");
    let out = wfhost(&["-C", &qs.display().to_string(), "flow", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"], &cache);
    assert!(out.status.success(), "quickstart failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdict = stdout.lines().filter_map(|l| l.split(" VERDICT=").nth(1)).last().expect("verdict line");
    let produced = Path::new(verdict).parent().and_then(Path::parent).expect("flow dir").to_path_buf();
    // Work on a copy; the example directory keeps no evidence of the bench.
    let flow_dir = work.path().join(produced.file_name().expect("flow id"));
    let copied = Command::new("cp").args(["-r", &produced.display().to_string(), &flow_dir.display().to_string()]).status().expect("cp");
    assert!(copied.success(), "copying {} failed", produced.display());
    let _ = std::fs::remove_dir_all(&produced);
    let dir = flow_dir.display().to_string();

    // Grow the log: the flow's records with plugin.log warnings inserted before P70's outcome.
    let log_path = flow_dir.join("events.jsonl");
    let contents = wfhost_evidence::read(&log_path).expect("read the log");
    let own = contents.events.len();
    let flow_id = contents.events[0].correlation_id.clone();
    let mut drafts: Vec<EventDraft> = contents.events.iter().map(|e| e.to_draft()).collect();
    let at = drafts
        .iter()
        .position(|d| d.event_type == "phase.outcome" && d.payload["phase"] == "P70")
        .expect("P70 outcome");
    let when = drafts[at - 1].occurred_at;
    let extra = target.saturating_sub(own);
    let inserted = (0..extra).map(|i| {
        let mut d = EventDraft::new(
            "plugin.log",
            Actor::new("host", "wfhost"),
            "host",
            format!("P70/log/{i}"),
            json!({"level": "warn", "message": format!("sweep status unreadable (poll {i}: status.sh gave no answer within 60 s); retrying")}),
        );
        d.occurred_at = when;
        d
    });
    drafts.splice(at..at, inserted);
    std::fs::remove_file(&log_path).expect("remove the log");
    let t0 = Instant::now();
    let opts = LogOptions::default().with_durability(Durability::OnDecision);
    let mut log = EventLog::create_with(&log_path, &flow_id, opts).expect("create the log");
    for d in drafts {
        log.append(d).expect("append");
    }
    log.sync().expect("sync");
    drop(log);
    let bytes = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    eprintln!("wrote {} records ({} of the flow), {:.1} MB, in {:.2} s", own + extra, own, bytes as f64 / 1e6, t0.elapsed().as_secs_f64());
    let rewrite = wfhost(&["replay", "--write", &dir], &cache);
    assert!(rewrite.status.success() || rewrite.status.code() == Some(1), "replay --write: {}", String::from_utf8_lossy(&rewrite.stderr));

    let mut times: Vec<(&str, Vec<f64>, u64)> = vec![("verify", Vec::new(), 0), ("replay", Vec::new(), 0), ("explain", Vec::new(), 0)];
    for _ in 0..runs {
        for (cmd, v, peak) in times.iter_mut() {
            let (ok, secs, rss) = timed(&[cmd, &dir], &cache);
            if !ok {
                let out = wfhost(&[cmd, &dir], &cache);
                panic!("wfhost {cmd} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            }
            v.push(secs);
            *peak = (*peak).max(rss);
        }
    }
    if let Ok(keep) = std::env::var("WFHOST_BENCH_KEEP") {
        let kept = Command::new("cp").args(["-r", &dir, &keep]).status().expect("cp");
        assert!(kept.success(), "copying the flow to {keep} failed");
    }
    println!("a flow of {} events ({:.1} MB log), {runs} runs each (medians; peak RSS):", own + extra, bytes as f64 / 1e6);
    for (cmd, v, peak) in times {
        let m = median(v);
        println!("  wfhost {cmd:<7} {m:>7.2} s   ({:>7.0} events/s)   {:>6.1} MB", (own + extra) as f64 / m, peak as f64 / 1024.0);
    }
}
