//! `wfhost logs` over the loopback sshd (the ssh transport, as on a real pod): the tail of a
//! finished run, `--follow` of a live run to its end, and `--follow` ending within its bound,
//! with the target family's exit status, when sshd is stopped under it.

use crate::harness::Sandbox;
use crate::ssh::Sshd;
use std::time::{Duration, Instant};
use wfhost_constitution::Constitution;

/// A sweep on the ssh target: `quick` prints three lines and ends; `slow` prints a line every
/// 0.2 s for up to a minute.
fn sweep(sshd: &Sshd) -> Sandbox {
    let mut s = Sandbox::new();
    sshd.configure(&mut s);
    s.manifest(
        "run_id,command\n\
         quick,\"echo one; echo two; sleep 1; echo three; echo oops >&2\"\n\
         slow,\"i=0; while [ $i -lt 300 ]; do echo tick $i; i=$((i+1)); sleep 0.2; done\"\n",
    );
    let start = s.run(&["flow", "--provision", "skip", "--wait", "false"]);
    assert_eq!(start.status, 0, "{}", start.explain());
    s
}

#[test]
fn logs_shows_and_follows_a_run_and_gives_up_on_a_stopped_sshd_within_its_bound() {
    let mut sshd = Sshd::start();
    let s = sweep(&sshd);

    // --follow of a live run ends when the run ends, with every line.
    let t0 = Instant::now();
    let quick = s.run_with_limit(&["logs", "quick", "--follow"], Duration::from_secs(60));
    assert_eq!(quick.status, 0, "{}", quick.explain());
    assert_eq!(quick.stdout, "one\ntwo\nthree\n", "{}", quick.explain());
    assert!(quick.stderr.contains("run quick ended with exit code 0"), "{}", quick.explain());
    assert!(t0.elapsed() < Duration::from_secs(30));
    // Its stderr, and the last line only.
    let err = s.run(&["logs", "quick", "--stderr"]);
    assert_eq!((err.status, err.stdout.as_str()), (0, "oops\n"), "{}", err.explain());
    let last = s.run(&["logs", "quick", "--lines", "1"]);
    assert_eq!((last.status, last.stdout.as_str()), (0, "three\n"), "{}", last.explain());
    // A run that is not there is named.
    let none = s.run(&["logs", "nosuchrun"]);
    assert_eq!(none.status, 64, "{}", none.explain());
    assert!(none.stderr.contains("nosuchrun") && none.stderr.contains("sweep-status"), "{}", none.explain());

    // --follow of the slow run; sshd goes away under it.
    let (followed, stopped_at) = std::thread::scope(|scope| {
        let follower = scope.spawn(|| s.run_with_limit(&["logs", "slow", "--follow"], Duration::from_secs(120)));
        std::thread::sleep(Duration::from_secs(3));
        sshd.stop();
        let stopped_at = Instant::now();
        (follower.join().expect("the follower finished"), stopped_at)
    });
    let after_stop = stopped_at.elapsed();
    eprintln!("logs --follow gave up {after_stop:?} after sshd stopped");
    let target_status = Constitution::get().unwrap().family_exit_status(2).unwrap();
    assert_eq!(followed.status, target_status, "{}", followed.explain());
    assert!(followed.stdout.starts_with("tick 0\ntick 1\n"), "{}", followed.explain());
    assert!(followed.stderr.contains("read(s) in a row failed"), "{}", followed.explain());
    assert!(followed.stderr.contains("logs slow --follow"), "{}", followed.explain());
    // Three failed reads, each refused at once, with the poll between them: well under the
    // bound of three reads' timeouts.
    let bound = wfhost_flow::logs::CALL_TIMEOUT * wfhost_flow::logs::MAX_FAILURES + Duration::from_secs(5);
    assert!(after_stop < bound, "--follow took {after_stop:?} to give up after sshd stopped (bound {bound:?})");
    // The run went on without the connection; stop it so nothing outlives the test.
    let pgid = std::fs::read_to_string(s.root().join("remote/outputs/runs/slow/_wf/pgid")).unwrap_or_default();
    if let Ok(pgid) = pgid.trim().parse::<i32>() {
        let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
    }
}

#[test]
fn a_log_longer_than_one_read_comes_back_whole_on_the_local_transport() {
    let mut s = Sandbox::new();
    // 2.5 MiB and a bit: three reads of at most wfhost_flow::logs::CHUNK.
    s.manifest("run_id,command\nbig,\"head -c 2621440 /dev/zero | tr '\\000' x; echo; echo end\"\n");
    let run = s.run(&["flow", "--yes", "--wait", "true"]);
    assert_eq!(run.status, 0, "{}", run.explain());
    let pod = run.header("resolved_target").expect("the flow names its pod").to_string();
    let all = s.run(&["logs", "big", "--target", &pod]);
    assert_eq!(all.status, 0, "{}", all.explain());
    assert_eq!(all.stdout.len(), 2_621_440 + "\nend\n".len());
    assert!(all.stdout.ends_with("x\nend\n") && all.stdout.bytes().take(2_621_440).all(|b| b == b'x'));
    assert!(2_621_440 > 2 * wfhost_flow::logs::CHUNK as usize);
    let followed = s.run(&["logs", "big", "--target", &pod, "--follow"]);
    assert_eq!((followed.status, followed.stdout.len()), (0, all.stdout.len()), "{}", followed.stderr);
    let tail = s.run(&["logs", "big", "--target", &pod, "-n", "1"]);
    assert_eq!(tail.stdout, "end\n");
}
