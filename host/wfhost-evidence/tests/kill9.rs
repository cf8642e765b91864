//! A writer killed with SIGKILL at random points leaves a log that verifies up to its last
//! complete record, never loses an append that had returned, and can be reopened and extended.
//!
//! The test re-executes its own binary as the writer (selected by an environment variable):
//! the child appends events of random sizes (some large, so a kill can land inside a `write`)
//! and prints `ACK <seq>` after each append returns; the parent kills it after a random number
//! of acknowledgements plus a random delay, verifies the log, and starts the next round, whose
//! child reopens the log (cutting off any partial last line) and goes on.

mod common;

use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wfhost_evidence::{
    read, verify, Actor, Durability, EventDraft, EventLog, LogOptions, Tail, TailPolicy,
};

const LOG_ENV: &str = "WFHOST_EVIDENCE_KILL9_LOG";
const ROUND_ENV: &str = "WFHOST_EVIDENCE_KILL9_ROUND";
const PARENT_ENV: &str = "WFHOST_EVIDENCE_KILL9_PARENT";
const TEST_NAME: &str = "sigkill_during_appends_leaves_a_verifiable_log";
const ROUNDS: u64 = 16;

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn child(path: std::path::PathBuf) -> ! {
    let round: u64 = std::env::var(ROUND_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let parent: u32 = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // OnDecision: `artifact.written` records are written without an fsync, so the writer spends
    // more of its time inside `write` and a kill lands there more often. A killed process loses
    // nothing the kernel has accepted, so acknowledged records must survive in both modes.
    let options = LogOptions::default()
        .with_partial_tail(TailPolicy::Discard)
        .with_durability(Durability::OnDecision);
    let mut log = if path.exists() {
        EventLog::open_existing(&path, common::FLOW, options)
            .expect("child reopens the log")
            .0
    } else {
        EventLog::create_with(&path, common::FLOW, options).expect("child creates the log")
    };
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D ^ (round + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut out = std::io::stdout().lock();
    for i in 0..5_000u64 {
        // Stop if the parent test is gone, so a failed run leaves no writer behind.
        if std::os::unix::process::parent_id() != parent {
            break;
        }
        let size = if rng.below(4) == 0 {
            rng.below(256 << 10)
        } else {
            rng.below(300)
        };
        let event_type = if rng.below(2) == 0 {
            "gateway.call"
        } else {
            "artifact.written"
        };
        let draft = EventDraft::new(
            event_type,
            Actor::new("plugin", "writer"),
            "plugin:writer",
            format!("r{round}/i{i}"),
            json!({"round": round, "i": i, "blob": "é".repeat(size as usize / 2)}),
        )
        .with_capability("cap-kill9");
        let env = log.append(draft).expect("child appends");
        writeln!(out, "ACK {}", env.seq).expect("stdout");
        out.flush().expect("stdout");
    }
    std::process::exit(0)
}

#[test]
fn sigkill_during_appends_leaves_a_verifiable_log() {
    if let Some(path) = std::env::var_os(LOG_ENV) {
        child(path.into());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let exe = std::env::current_exe().expect("test binary path");
    let mut rng = XorShift(0x853C_49E6_748F_EA9B);
    let (mut records_before, mut partial_tails, mut torn_on_purpose, mut discarded_markers) =
        (0u64, 0u64, 0u64, 0u64);
    for round in 0..ROUNDS {
        let stderr_path = dir.path().join(format!("child-{round}.stderr"));
        let mut child = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(LOG_ENV, &path)
            .env(ROUND_ENV, round.to_string())
            .env(PARENT_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(seq) = line.strip_prefix("ACK ").and_then(|s| s.parse().ok()) {
                    if tx.send(seq).is_err() {
                        break;
                    }
                }
            }
        });
        let want = 1 + rng.below(25) as usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut acked = Vec::new();
        while acked.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(seq) => acked.push(seq),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    panic!(
                        "round {round}: writer stopped acknowledging ({e}); its stderr:\n{stderr}"
                    );
                }
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(5_000)));
        child.kill().expect("SIGKILL the writer");
        let status = child.wait().expect("reap the writer");
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "round {round}: writer was not killed by SIGKILL: {status}"
            );
        }
        reader.join().expect("reader thread");
        acked.extend(rx.try_iter());

        let report = verify(&path)
            .unwrap_or_else(|e| panic!("round {round}: log fails verification after SIGKILL: {e}"));
        let max_acked = acked.iter().copied().max().expect("at least one ack");
        assert!(
            report.records > max_acked,
            "round {round}: append of seq {max_acked} returned but the log has {} records",
            report.records
        );
        assert!(
            report.records > records_before,
            "round {round}: log shrank or did not grow"
        );
        if let Tail::Partial { offset, .. } = report.tail {
            assert_eq!(offset, report.complete_len);
            partial_tails += 1;
        } else if round % 3 == 2 {
            // A kill rarely lands inside `write` (the kernel finishes a buffered write first);
            // a power loss or a full disk can still tear a line. Tear one on purpose so the
            // next writer's recovery runs in a real process too.
            let bytes = std::fs::read(&path).expect("read log");
            let last = bytes[..bytes.len() - 1]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let torn = &bytes[last..last + 1 + rng.below((bytes.len() - last - 2) as u64) as usize];
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(torn))
                .expect("tear");
            assert!(matches!(
                verify(&path).expect("torn log verifies").tail,
                Tail::Partial { .. }
            ));
            partial_tails += 1;
            torn_on_purpose += 1;
        }
        records_before = report.records;
    }
    // Recovery: a last reopen cuts any partial line and records it; the log is then clean.
    let options = LogOptions::default().with_partial_tail(TailPolicy::Discard);
    let (log, opened) =
        EventLog::open_existing(&path, common::FLOW, options).expect("final reopen");
    drop(log);
    let report = verify(&path).expect("verifies after recovery");
    assert_eq!(report.tail, Tail::Clean);
    let contents = read(&path).expect("read");
    for e in &contents.events {
        if e.event_type == "log.tail_discarded" {
            discarded_markers += 1;
        }
    }
    let final_cut = u64::from(opened.discarded_tail.is_some());
    assert_eq!(
        discarded_markers, partial_tails,
        "every partial tail seen was cut and recorded once"
    );
    assert!(final_cut <= 1);
    eprintln!(
        "kill9: {ROUNDS} SIGKILLs, {} records, {partial_tails} partial tail(s) recovered ({} torn on purpose)",
        report.records,
        torn_on_purpose
    );
}
