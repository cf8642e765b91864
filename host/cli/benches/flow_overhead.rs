//! Wall time of the quickstart flow and where it goes, measured from the flow's own evidence.
//!
//! Runs `wfhost -C examples/quickstart flow --yes --wait true --fetch all --teardown delete`
//! several times with the real binary and reads each flow.summary.json `timing` block:
//! phases, time inside commands on the target, gateway calls, and the court. Prints medians.
//!
//!     cargo bench --bench flow_overhead            (5 runs; WFHOST_BENCH_RUNS=N for more)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; any filter argument is ignored.
    let runs: usize = std::env::var("WFHOST_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let qs = root.join("examples/quickstart");
    let cache = tempfile::tempdir().expect("tempdir");
    let mut walls = Vec::new();
    let mut fields: Vec<(&str, Vec<f64>)> =
        ["phases_ms", "target_process_ms", "gateway_ms", "court_ms", "host_overhead_ms"].iter().map(|k| (*k, Vec::new())).collect();
    let mut p70 = Vec::new();
    for i in 0..=runs {
        let t0 = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_wfhost"))
            .args(["-C", &qs.display().to_string(), "flow", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"])
            .env("WFHOST_CACHE_DIR", cache.path())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("wfhost runs");
        let wall = t0.elapsed().as_secs_f64() * 1000.0;
        assert!(out.status.success(), "quickstart failed:\n{}", String::from_utf8_lossy(&out.stdout));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let verdict = stdout.lines().filter_map(|l| l.split(" VERDICT=").nth(1)).last().expect("verdict line");
        let flow_dir = Path::new(verdict).parent().and_then(Path::parent).expect("flow dir");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(flow_dir.join("flow.summary.json")).expect("summary")).expect("json");
        let p70_ms = summary["phases"].as_array().into_iter().flatten().find(|p| p["phase"] == "P70").and_then(|p| p["duration_ms"].as_f64()).unwrap_or(0.0);
        let _ = std::fs::remove_dir_all(flow_dir);
        if i == 0 {
            eprintln!("warm-up run (compiles plugins into the cache): {wall:.0} ms");
            continue;
        }
        walls.push(wall);
        p70.push(p70_ms);
        for (k, v) in fields.iter_mut() {
            v.push(summary["timing"][*k].as_f64().unwrap_or(f64::NAN));
        }
    }
    println!("quickstart flow, {runs} runs (medians):");
    println!("  wall time                    {:>8.0} ms", median(walls));
    println!("  of which P70 (waiting on the sweep) {:>8.0} ms", median(p70));
    for (k, v) in fields {
        println!("  {k:<28} {:>8.0} ms", median(v));
    }
}
