//! Hardening over the ssh transport, against the loopback OpenSSH server of [`crate::ssh`]:
//! hostile input files, login noise, a full evidence disk, and signals.

use crate::harness::Sandbox;
use crate::ssh::Sshd;
use std::time::Duration;
use wfhost_constitution::codes;

/// BOOTSTRAP_SCRIPT as a FIFO or a symlink to /dev/zero: refused at once in P40 over ssh, with
/// nothing sent to the host.
#[test]
fn a_bootstrap_script_that_is_a_fifo_or_a_device_is_refused_over_ssh() {
    let sshd = Sshd::start();
    for fifo in [true, false] {
        let mut s = Sandbox::new();
        sshd.configure(&mut s);
        s.set("BOOTSTRAP_SCRIPT", "boot.sh");
        crate::hardening::hostile_file(&s.root().join("boot.sh"), fifo);
        let t0 = std::time::Instant::now();
        let run = s.run_with_limit(&["flow", "--provision", "skip", "--sweep", "skip"], Duration::from_secs(60));
        assert!(t0.elapsed() < Duration::from_secs(45), "took {:?}", t0.elapsed());
        let last = run.statuses().last().cloned().unwrap_or_else(|| panic!("{}", run.explain()));
        assert_eq!(last, ("P40".to_string(), "fail".to_string(), codes::BOOTSTRAP_FAILED.get()), "{}", run.explain());
        assert!(run.stderr.contains("boot.sh") && run.stderr.contains("not a regular file"), "{}", run.explain());
        assert!(!s.root().join("remote/outputs/_control/bootstrap.sh").exists());
    }
}
