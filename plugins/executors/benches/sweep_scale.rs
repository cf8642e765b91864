//! Bench of the target side of a sweep at scale: the real `prepare.sh` (as P60 generates it),
//! `runner.sh` and `status.sh` (as P60 installs them: `common.sh` in front), run with `sh` from
//! `PATH` on a temp OUT tree, for N runs of `true`.
//!
//! For each N it times, each step bounded by `WFHOST_BENCH_LIMIT_SECS` (default 900; a status
//! snapshot by `WFHOST_BENCH_SNAPSHOT_LIMIT_SECS`, default the same):
//! - prepare: writing `prepare.sh` and running it (one command file per run, `runs.tsv`);
//! - launch: `runner.sh launch` (the detached runner started and checked in); prepare + launch
//!   is what P60 spends on the target;
//! - one `status.sh` snapshot right after the launch, while the runs are still pending;
//! - the runner to completion (every run claimed and finished, the runner gone), polled by
//!   reading its pid, never with status.sh; past the limit the runner is killed and the runs
//!   done so far (counted by the bench itself: the run directories with an `exit_code`) are
//!   reported;
//! - `status.sh` snapshots of the finished sweep: the best of 3, and the first (which may meet
//!   cold caches after the runner's million writes).
//!
//! Run it with
//!
//! ```text
//! cargo bench --manifest-path plugins/Cargo.toml -p wfhost-executors --bench sweep_scale
//! ```
//!
//! Settings (environment): `WFHOST_BENCH_SIZES` (default `1000,10000,100000`),
//! `WFHOST_BENCH_MAXP` (`SWEEP_MAX_PARALLEL`, default 4), `WFHOST_BENCH_LIMIT_SECS`. It prints
//! one Markdown table; docs/performance.md ("Sweep at scale") holds its figures.

#[allow(dead_code, unused_imports)]
#[path = "../src/scripts.rs"]
mod scripts;
#[allow(dead_code, unused_imports)]
#[path = "../src/status.rs"]
mod status;

use std::time::{Duration, Instant};
use wfhost_pack_sdk::testing::{run, RunOutput, RunSpec as Proc, TempDir};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `sh -c SCRIPT` bounded by `limit`.
fn sh(script: &str, limit: Duration) -> RunOutput {
    run(&Proc {
        timeout: limit,
        ..Proc::sh(script, &[])
    })
}

/// One status snapshot: its time and what it says (or why it gave nothing).
fn snapshot(out: &str, limit: Duration) -> (Duration, Result<status::SweepStatus, String>) {
    let t0 = Instant::now();
    let r = sh(&scripts::status_command(out), limit);
    let took = t0.elapsed();
    if r.timed_out {
        return (took, Err(format!("no answer within {}", secs(limit))));
    }
    (
        took,
        status::parse(&r.stdout).map_err(|e| format!("{e} ({})", r.stderr.trim())),
    )
}

/// Runs with an exit code, counted without status.sh.
fn count_finished(out: &str) -> usize {
    std::fs::read_dir(format!("{out}/runs"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().join("_wf/exit_code").is_file())
                .count()
        })
        .unwrap_or(0)
}

fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(") ").map(|(_, rest)| rest.as_bytes()[0]),
            Some(b'Z') | Some(b'X')
        ),
        Err(_) => false,
    }
}

struct Row {
    /// The tree, removed (unmeasured, it takes a while at 100,000 runs) once the row is out.
    _tmp: TempDir,
    n: usize,
    prepare: Duration,
    launch: Duration,
    pending_snapshot: String,
    runner: String,
    done_snapshot: String,
}

fn bench(n: usize, maxp: u32, limit: Duration, snap_limit: Duration) -> Result<Row, String> {
    let tmp = TempDir::new("wfhost-sweep-bench").map_err(|e| e.to_string())?;
    let out = tmp.join("outputs");
    let repo = tmp.join("repo");
    for d in ["_sweep", "runs", "_manifests"] {
        std::fs::create_dir_all(format!("{out}/{d}")).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(&repo).map_err(|e| e.to_string())?;
    std::fs::write(format!("{out}/_sweep/runner.sh"), scripts::RUNNER_SH)
        .map_err(|e| e.to_string())?;
    std::fs::write(format!("{out}/_sweep/status.sh"), scripts::STATUS_SH)
        .map_err(|e| e.to_string())?;
    let runs: Vec<scripts::RunSpec> = (0..n)
        .map(|i| scripts::RunSpec {
            run_id: format!("r{i:06}"),
            command: "true".into(),
        })
        .collect();

    let t0 = Instant::now();
    let prepare = format!("{out}/_sweep/prepare.sh");
    std::fs::write(
        &prepare,
        scripts::prepare_script(&runs, &"ab".repeat(32), "bench", false),
    )
    .map_err(|e| e.to_string())?;
    let r = sh(&format!("sh '{prepare}' '{out}'"), limit);
    if r.exit_code != Some(0) {
        return Err(format!(
            "prepare of {n} runs failed after {} (timed out: {}): {}",
            secs(t0.elapsed()),
            r.timed_out,
            r.stderr.trim()
        ));
    }
    let prepare_took = t0.elapsed();
    let t1 = Instant::now();
    let r = sh(
        &scripts::launch_command(&out, &repo, maxp, "bench", scripts::Requeue::default()),
        limit,
    );
    let launch_took = t1.elapsed();
    let Some(launched) = scripts::Launched::parse(&r.stdout) else {
        return Err(format!("launch answered {:?} {:?}", r.stdout, r.stderr));
    };

    let (took, st) = snapshot(&out, snap_limit);
    let pending_snapshot = match st {
        Ok(s) => format!("{} ({} pending)", secs(took), s.pending),
        Err(e) => format!("{}: {e}", secs(took)),
    };

    let t2 = Instant::now();
    while alive(&launched.pid) && t2.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(200));
    }
    let runner_took = t2.elapsed();
    let finished = !alive(&launched.pid);
    if !finished {
        let _ = std::process::Command::new("kill")
            .args(["-9", &launched.pid])
            .status();
        std::thread::sleep(Duration::from_millis(500));
    }
    // The first read after the runner may find the kernel's caches cold; the best of 3 is
    // what a monitor polling every few seconds meets.
    let mut first: Option<Duration> = None;
    let mut best: Option<(Duration, Result<status::SweepStatus, String>)> = None;
    for _ in 0..3 {
        let s = snapshot(&out, snap_limit);
        first.get_or_insert(s.0);
        if best.as_ref().map(|b| s.0 < b.0).unwrap_or(true) {
            best = Some(s);
        }
    }
    let (took, st) = best.ok_or("no snapshot")?;
    let first = first.map(secs).unwrap_or_default();
    let done_snapshot = match st {
        Ok(s) => format!(
            "{} best of 3, {first} first ({} ok, {} lost)",
            secs(took),
            s.ok,
            s.lost
        ),
        Err(e) => format!("{}: {e}", secs(took)),
    };
    let done = count_finished(&out);
    let runner = if finished {
        format!("{} ({done} done)", secs(runner_took))
    } else {
        format!(
            "not done within {}: {done} of {n} runs finished (runner killed)",
            secs(limit)
        )
    };
    Ok(Row {
        _tmp: tmp,
        n,
        prepare: prepare_took,
        launch: launch_took,
        pending_snapshot,
        runner,
        done_snapshot,
    })
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    if std::env::args().skip(1).any(|a| a != "--bench") {
        eprintln!(
            "usage: cargo bench --bench sweep_scale (settings through WFHOST_BENCH_* variables)"
        );
        std::process::exit(2);
    }
    let sizes: Vec<usize> = env_or("WFHOST_BENCH_SIZES", "1000,10000,100000")
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("WFHOST_BENCH_SIZES: comma-separated run counts")
        })
        .collect();
    let maxp: u32 = env_or("WFHOST_BENCH_MAXP", "4")
        .parse()
        .expect("WFHOST_BENCH_MAXP: a positive integer");
    let limit = Duration::from_secs(
        env_or("WFHOST_BENCH_LIMIT_SECS", "900")
            .parse()
            .expect("WFHOST_BENCH_LIMIT_SECS: seconds"),
    );
    let snap_limit = match std::env::var("WFHOST_BENCH_SNAPSHOT_LIMIT_SECS") {
        Ok(v) => Duration::from_secs(
            v.parse()
                .expect("WFHOST_BENCH_SNAPSHOT_LIMIT_SECS: seconds"),
        ),
        Err(_) => limit,
    };
    let shell = run(&Proc::sh("ls -l \"$(command -v sh)\" | sed 's/.* //'", &[]));
    println!(
        "sh = {}, SWEEP_MAX_PARALLEL = {maxp}, limit per step {} (snapshot {}), temp dir {}",
        shell.stdout.trim(),
        secs(limit),
        secs(snap_limit),
        std::env::temp_dir().display()
    );
    println!();
    println!("| runs | prepare | prepare + launch | snapshot, runs pending | runner to completion | snapshot, runs finished |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for n in sizes {
        match bench(n, maxp, limit, snap_limit) {
            Ok(r) => {
                println!(
                    "| {} | {} | {} | {} | {} | {} |",
                    r.n,
                    secs(r.prepare),
                    secs(r.prepare + r.launch),
                    r.pending_snapshot,
                    r.runner,
                    r.done_snapshot
                );
                // The row is out before its tree is removed.
                use std::io::Write;
                let _ = std::io::stdout().flush();
            }
            Err(e) => println!("| {n} | failed: {e} | | | | |"),
        }
    }
}
