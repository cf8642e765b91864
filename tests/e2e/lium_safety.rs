//! The lium transport's schedule-removal safety net end to end: the real `wfhost` binary against
//! the Lium API simulator ([`crate::lium::Sim`]), stdin closed.
//!
//! Right after a rent, P10 asks Lium to remove the pod at the rent's time plus LIUM_TTL
//! (`POST /pods/{id}/schedule-removal`), beside the rent's `termination_hours`. The simulator's
//! request log shows the request (its body, its `Idempotency-Key` header, its answer) and its
//! pod rows the time it stored; a failing schedule (the `schedule_fail` knob) must leave the
//! flow passing with a warning, exactly one pod rented, and no pod listed at the end.

use crate::harness::{Run, Sandbox};
use crate::lium::Sim;
use serde_json::{json, Value};
use std::time::Duration;

/// HTTP answers the test looks for (named, so no number reads as a wfhost failure code).
const HTTP_OK: u64 = 200;
const HTTP_SERVER_ERROR: u64 = 500;
/// LIUM_TTL's default, in seconds (the config's default is 8 hours; the rent body the full flow
/// test checks says so too).
const TTL_8H_SECS: i64 = 8 * 3600;

const NO_SWEEP: [&str; 10] = ["flow", "--provision", "auto", "--yes", "--sweep", "skip", "--fetch", "none", "--teardown", "delete"];

fn flow(s: &Sandbox) -> Run {
    s.run_with_limit(&NO_SWEEP, Duration::from_secs(240))
}

/// Seconds since the Unix epoch of a UTC time `YYYY-MM-DDTHH:MM:SS`, with or without a
/// `+00:00` offset (the simulator's naive UTC timestamps, and the form wfhost sends).
fn epoch_secs(iso: &str) -> i64 {
    let t = iso.strip_suffix("+00:00").unwrap_or(iso);
    let n = |r: std::ops::Range<usize>| -> i64 { t.get(r).and_then(|d| d.parse().ok()).unwrap_or_else(|| panic!("not a UTC time: {iso:?}")) };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days since 1970-01-01 of a civil date (the proleptic Gregorian calendar).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

/// A request's header, by name in any case.
fn header<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    request["headers"].as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
}

/// Successful rents the simulator saw.
fn rented(sim: &Sim) -> Vec<Value> {
    sim.sent("POST", "/rent").into_iter().filter(|r| r["status"] == HTTP_OK).collect()
}

#[test]
fn p10_schedules_the_pods_removal_at_the_ttl_and_a_failed_schedule_is_only_a_warning() {
    assert_eq!(epoch_secs("1970-01-02T00:00:01"), 86_401);
    assert_eq!(epoch_secs("2026-10-17T13:30:00+00:00"), 1_792_215_000 + TTL_8H_SECS);

    // The schedule is set once, right after the rent, at the rent's time plus LIUM_TTL.
    let sim = Sim::start(json!({}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    let run = flow(&s);
    assert_eq!(run.status, 0, "{}", run.explain());
    let rent = rented(&sim);
    assert_eq!(rent.len(), 1, "{rent:#?}");
    let pods = sim.pods();
    assert_eq!(pods.len(), 1, "{pods:#?}");
    let id = pods[0]["id"].as_str().unwrap();
    let scheduled = sim.sent("POST", "/schedule-removal");
    assert_eq!(scheduled.len(), 1, "{scheduled:#?}");
    let sched = &scheduled[0];
    assert_eq!(sched["path"], format!("/api/pods/{id}/schedule-removal"), "{sched}");
    assert_eq!(sched["status"], HTTP_OK, "{sched}");
    let at = sched["body"]["removal_scheduled_at"].as_str().unwrap_or_else(|| panic!("no removal_scheduled_at: {sched}"));
    assert!(at.ends_with("+00:00"), "ISO 8601 UTC with its offset: {at}");
    let after_rent = epoch_secs(at) - epoch_secs(rent[0]["at"].as_str().unwrap());
    assert!((TTL_8H_SECS - 5..=TTL_8H_SECS + 5).contains(&after_rent), "scheduled {after_rent} s after the rent, not LIUM_TTL=8 h: {at} vs {}", rent[0]["at"]);
    // The simulator stored that time for the pod (its rows drop the offset).
    assert_eq!(pods[0]["removal_scheduled_at"].as_str().map(epoch_secs), Some(epoch_secs(at)), "{}", pods[0]);
    // Under a key derived from the rent's, sent right after it (before any readiness read).
    let rent_key = rent[0]["idempotency_key"].as_str().unwrap();
    assert_eq!(header(sched, "Idempotency-Key"), Some(format!("{rent_key}-schedule").as_str()), "{sched}");
    let between: Vec<Value> = sim.requests().into_iter().filter(|r| r["seq"].as_u64() > rent[0]["seq"].as_u64() && r["seq"].as_u64() < sched["seq"].as_u64()).collect();
    assert!(between.is_empty(), "requests between the rent and the schedule: {between:#?}");
    // The pod was deleted by P90, so the schedule never had to act; nothing is listed.
    assert_eq!(pods[0]["deleted"], true, "{}", pods[0]);
    assert!(!run.stderr.contains("could not be scheduled"), "{}", run.explain());
    sim.no_live_pods();

    // Both tries of the schedule fail (500): the flow still passes, says that LIUM_TTL still
    // applies, and rents exactly one pod.
    let sim = Sim::start(json!({}));
    sim.inject(json!({"knob": "schedule_fail", "count": 2}));
    let mut s = Sandbox::new();
    sim.configure(&mut s);
    let run = flow(&s);
    assert_eq!(run.status, 0, "{}", run.explain());
    let scheduled = sim.sent("POST", "/schedule-removal");
    assert_eq!(scheduled.len(), 2, "one try and one more: {scheduled:#?}");
    assert!(scheduled.iter().all(|r| r["status"] == HTTP_SERVER_ERROR), "{scheduled:#?}");
    assert_eq!(header(&scheduled[0], "Idempotency-Key"), header(&scheduled[1], "Idempotency-Key"), "the second try repeats the first");
    assert_eq!(scheduled[0]["body"], scheduled[1]["body"]);
    assert!(
        run.stderr.contains("could not be scheduled") && run.stderr.contains("LIUM_TTL=8 h still applies") && run.stderr.contains("termination_hours"),
        "no warning naming the TTL:\n{}",
        run.explain()
    );
    assert_eq!(sim.sent("POST", "/rent").len(), 1, "a failed schedule never rents again");
    let pods = sim.pods();
    assert_eq!(pods.len(), 1, "{pods:#?}");
    assert_eq!(pods[0]["removal_scheduled_at"], Value::Null, "nothing was stored: {}", pods[0]);
    assert_eq!(pods[0]["termination_hours"], 8, "the rent's TTL is the net left: {}", pods[0]);
    sim.no_live_pods();
}
