//! The host's peak memory stays bounded while hostile auditors bomb memory and flood output.
//!
//! One test in its own binary, cases run one after another, so the peak RSS (VmHWM) of this
//! process is attributable. Where the kernel allows it the peak is reset before each case
//! (`/proc/self/clear_refs`), otherwise the check is on the growth over the whole run.

mod common;

use common::{component, current_rss, peak_rss, request, reset_peak_rss, runtime};
use std::time::Duration;
use wfhost_runtime::{FailureKind, Limits};

const MIB: u64 = 1024 * 1024;

#[test]
fn hostile_output_and_memory_do_not_blow_up_the_host() {
    let (rt, _dir) = runtime();
    let auditor = rt
        .load_auditor(&component("hostile_runtime"))
        .expect("loads");
    let defaults = Limits {
        wall: Duration::from_secs(20),
        ..Limits::auditor_default()
    };
    // Warm up: one well-behaved call so code and allocator pools are in place.
    auditor.audit(&request("pass"), &defaults);
    let roomy = Limits {
        memory_bytes: 160 * 1024 * 1024,
        ..defaults
    };
    let cases: [(&str, Limits, Option<FailureKind>, u64); 4] = [
        // The guest may use its 64 MiB; the host keeps nothing of it.
        (
            "memory-bomb",
            defaults,
            Some(FailureKind::MemoryLimit),
            64 * MIB + 48 * MIB,
        ),
        // 100 MB of stdout and of stderr are reduced to a 64 KiB tail each (the stdout flood
        // then returns a valid verdict, which stands).
        ("stdout-flood", defaults, None, 48 * MIB),
        (
            "stderr-flood-panic",
            defaults,
            Some(FailureKind::GuestPanic),
            48 * MIB,
        ),
        // 100 MB returned: the guest holds it in its (raised) memory; the host's transient copy
        // made while lifting is bounded by that memory limit, and dropped at once.
        (
            "output-100mb",
            roomy,
            Some(FailureKind::OversizedOutput),
            2 * 160 * MIB + 48 * MIB,
        ),
    ];
    let start = peak_rss();
    let mut resettable = true;
    for (case, limits, kind, budget) in cases {
        resettable = resettable && reset_peak_rss();
        let before = if resettable { current_rss() } else { start };
        let result = auditor.audit(&request(case), &limits);
        let grew = peak_rss().saturating_sub(before);
        println!(
            "{case}: peak grew {} MiB (budget {} MiB), {:?}",
            grew / MIB,
            budget / MIB,
            result.reason
        );
        assert_eq!(
            result.reason.as_ref().map(|r| r.kind),
            kind,
            "{case}: {result:?}"
        );
        if resettable {
            assert!(grew < budget, "{case}: peak RSS grew by {} MiB", grew / MIB);
        }
    }
    let total = peak_rss().saturating_sub(start);
    println!(
        "overall peak growth {} MiB (peak reset per case: {resettable})",
        total / MIB
    );
    assert!(
        total < 2 * 160 * MIB + 64 * MIB,
        "peak RSS grew by {} MiB",
        total / MIB
    );
}
