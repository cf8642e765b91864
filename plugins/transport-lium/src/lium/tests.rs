//! The rent's recovery, the deletion's confirmation and the reads' patience, against a host
//! that answers HTTP from a script and records every request (the end-to-end tests run the
//! same code against the Lium simulator).

use super::*;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use wfhost_pack_sdk::transport::{HttpRequest, HttpResponse};

thread_local! {
    static NOW: Cell<u64> = const { Cell::new(0) };
    static SLEPT: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn sleep(ms: u64) {
    NOW.with(|n| n.set(n.get() + ms));
    SLEPT.with(|s| s.borrow_mut().push(ms));
}

fn now() -> u64 {
    NOW.with(Cell::get)
}

const POD: &str = "0b6f2a7e-4c1d-4e0f-9a3b-2d5e6f708192";
const NODE: &str = "aa11bb22-cc33-4d44-8e55-66778899aabb";

/// The host's clock in these tests: 2026-10-17T05:30:00Z.
const NOW_SECS: i64 = 1_792_215_000;

/// Answers `METHOD path` from a queue (the last answer repeats); records each request and each
/// log line; settings other than the defaults below come from `settings`.
#[derive(Default)]
struct Script {
    answers: RefCell<BTreeMap<String, VecDeque<Result<HttpResponse, HttpError>>>>,
    sent: RefCell<Vec<HttpRequest>>,
    settings: RefCell<BTreeMap<String, String>>,
    logs: RefCell<Vec<(Level, String)>>,
    memo: RefCell<BTreeMap<String, String>>,
}

fn ok(status: u16, body: Value) -> Result<HttpResponse, HttpError> {
    Ok(HttpResponse { status, headers: vec![], body: body.to_string().into_bytes() })
}

impl Script {
    fn on(&self, what: &str, answers: Vec<Result<HttpResponse, HttpError>>) -> &Self {
        self.answers.borrow_mut().insert(what.to_string(), answers.into());
        self
    }

    fn sent(&self, method: HttpMethod, path: &str) -> Vec<HttpRequest> {
        self.sent.borrow().iter().filter(|r| r.method == method && r.url.ends_with(path)).cloned().collect()
    }

    fn set(&self, key: &str, value: &str) -> &Self {
        self.settings.borrow_mut().insert(key.to_string(), value.to_string());
        self
    }

    fn logged(&self, level: Level) -> Vec<String> {
        self.logs.borrow().iter().filter(|(l, _)| *l == level).map(|(_, m)| m.clone()).collect()
    }
}

impl Host for Script {
    fn run(&self, _: &RunRequest) -> Result<CommandResult, String> {
        Err("no processes here".into())
    }
    fn setting(&self, key: &str) -> Option<String> {
        if let Some(v) = self.settings.borrow().get(key) {
            return Some(v.clone());
        }
        let v = match key {
            "LIUM_BASE_URL" => "http://127.0.0.1:9/api",
            "LIUM_API_KEY_HANDLE" => "lium_api_key",
            "LIUM_TTL" => "2",
            "LIUM_COUNT" => "1",
            "LIUM_READY_RETRIES" => "1",
            "WF_POD_READY_TIMEOUT_SECS" => "60",
            "LIUM_DELETE_CONFIRM_SECS" => "10",
            _ => return None,
        };
        Some(v.to_string())
    }
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }
    fn now_secs(&self) -> i64 {
        NOW_SECS
    }
    fn memo_get(&self, key: &str) -> Option<String> {
        self.memo.borrow().get(key).cloned()
    }
    fn memo_set(&self, key: &str, value: &str) -> Result<(), String> {
        self.memo.borrow_mut().insert(key.to_string(), value.to_string());
        Ok(())
    }
    fn http(&self, r: &HttpRequest) -> Result<HttpResponse, HttpError> {
        self.sent.borrow_mut().push(r.clone());
        let path = r.url.trim_start_matches("http://127.0.0.1:9/api");
        let what = format!("{} {path}", format!("{:?}", r.method).to_uppercase());
        let mut answers = self.answers.borrow_mut();
        let q = answers.get_mut(&what).unwrap_or_else(|| panic!("unexpected request {what}"));
        if q.len() > 1 {
            q.pop_front().expect("an answer")
        } else {
            q.front().cloned().expect("an answer")
        }
    }
}

fn node() -> Node {
    Node {
        id: NODE.into(),
        machine_name: "NVIDIA H100".into(),
        price_per_gpu: 2.4,
        gpu_count: 1,
        available: 1,
        whole_only: false,
        country: ("germany".into(), "de".into()),
        tier: "secure".into(),
    }
}

fn with<R>(script: &Script, f: impl FnOnce(&Lium<'_, Script>, &Settings, &Api<'_, Script>) -> R) -> R {
    NOW.with(|n| n.set(0));
    SLEPT.with(|s| s.borrow_mut().clear());
    let l = Lium::with_clock(script, sleep, now);
    let s = l.settings().expect("settings");
    let api = l.api(&s).expect("api");
    f(&l, &s, &api)
}

fn rent(script: &Script) -> Result<Rent, TransportError> {
    with(script, |l, s, api| l.rent(s, api, &node(), "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "ssh-ed25519 AAAA k", "wfhost-wf-1-ab-1", "wfhost-key-1"))
}

#[test]
fn a_rent_sends_the_key_the_name_the_ttl_and_the_key_header_by_handle() {
    let script = Script::default();
    script.on(&format!("POST /executors/{NODE}/rent"), vec![ok(200, json!({"success": true, "pod_id": POD}))]);
    assert_eq!(rent(&script).unwrap(), Rent::Rented(POD.into()));
    let sent = script.sent(HttpMethod::Post, "/rent");
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(r.idempotency_key.as_deref(), Some("wfhost-key-1"));
    assert!(r.side_effect);
    assert_eq!(r.secret_headers.len(), 1);
    assert_eq!((r.secret_headers[0].name.as_str(), r.secret_headers[0].handle.as_str()), ("X-API-KEY", "lium_api_key"));
    let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["pod_name"], "wfhost-wf-1-ab-1");
    assert_eq!(body["termination_hours"], 2);
    assert_eq!(body["gpu_count"], 1);
    assert_eq!(body["user_public_key"], json!(["ssh-ed25519 AAAA k"]));
}

#[test]
fn a_lost_answer_is_recovered_by_the_pods_name_without_renting_again() {
    let script = Script::default();
    script
        .on(&format!("POST /executors/{NODE}/rent"), vec![Err(HttpError::Unreachable("connection closed".into()))])
        .on("GET /pods", vec![ok(200, json!([])), ok(200, json!([{"id": POD, "pod_name": "wfhost-wf-1-ab-1", "status": "PENDING"}]))]);
    assert_eq!(rent(&script).unwrap(), Rent::Rented(POD.into()));
    assert_eq!(script.sent(HttpMethod::Post, "/rent").len(), 1, "found by name: no resend");
    assert_eq!(script.sent(HttpMethod::Get, "/pods").len(), 2);
}

#[test]
fn a_5xx_is_followed_by_one_resend_with_the_same_key_then_the_outcome_is_unknown() {
    let script = Script::default();
    script
        .on(&format!("POST /executors/{NODE}/rent"), vec![ok(502, json!({"detail": "Bad Gateway"})), ok(200, json!({"success": true, "pod_id": POD}))])
        .on("GET /pods", vec![ok(200, json!([]))]);
    assert_eq!(rent(&script).unwrap(), Rent::Rented(POD.into()));
    let posts = script.sent(HttpMethod::Post, "/rent");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key, "a resend keeps the key");
    assert_eq!(posts[0].body, posts[1].body, "and the body");

    // Both lost: no third request, and the message says a pod may exist and how to find it.
    let script = Script::default();
    script
        .on(&format!("POST /executors/{NODE}/rent"), vec![Err(HttpError::Timeout("30 s".into()))])
        .on("GET /pods", vec![ok(200, json!([]))]);
    let e = rent(&script).unwrap_err().to_string();
    assert!(e.contains("unknown outcome") && e.contains("lium ps") && e.contains("wfhost-wf-1-ab-1"), "{e}");
    assert_eq!(script.sent(HttpMethod::Post, "/rent").len(), 2);
}

#[test]
fn refusals_and_hard_errors_are_told_apart() {
    let script = Script::default();
    script.on(&format!("POST /executors/{NODE}/rent"), vec![ok(400, json!({"detail": "Can't rent node. Try again later."}))]);
    assert_eq!(rent(&script).unwrap(), Rent::Refused("Can't rent node. Try again later.".into()));
    let script = Script::default();
    script.on(
        &format!("POST /executors/{NODE}/rent"),
        vec![ok(403, json!({"success": false, "error": {"code": "insufficient_balance", "message": "Insufficient balance."}}))],
    );
    let e = rent(&script).unwrap_err().to_string();
    assert!(e.contains("HTTP 403 insufficient_balance") && e.contains("nothing was rented"), "{e}");
    // Throttled: the same request again after Retry-After.
    let script = Script::default();
    script.on(
        &format!("POST /executors/{NODE}/rent"),
        vec![Ok(HttpResponse { status: 429, headers: vec![("Retry-After".into(), "2".into())], body: b"{}".to_vec() }), ok(200, json!({"pod_id": POD}))],
    );
    assert_eq!(rent(&script).unwrap(), Rent::Rented(POD.into()));
    assert!(SLEPT.with(|s| s.borrow().contains(&2_000)));
}

#[test]
fn a_delete_is_confirmed_by_listing_until_the_pod_is_gone() {
    let listed = || ok(200, json!([{"id": POD, "status": "RUNNING"}]));
    let script = Script::default();
    script
        .on(&format!("DELETE /pods/{POD}"), vec![ok(200, json!({"success": true}))])
        .on("GET /pods", vec![listed(), listed(), ok(200, json!([]))]);
    let r = with(&script, |l, s, api| l.remove(s, api, POD)).unwrap();
    assert!(matches!(r, Removal::Gone { listings: 3, .. }), "{r:?}");

    // Still listed past LIUM_DELETE_CONFIRM_SECS: the exact commands that finish it.
    let script = Script::default();
    script.on(&format!("DELETE /pods/{POD}"), vec![ok(200, json!({"success": true}))]).on("GET /pods", vec![listed()]);
    let e = with(&script, |l, s, api| l.remove(s, api, POD)).unwrap_err().to_string();
    assert!(e.contains("still listed (RUNNING)") && e.contains(&format!("wfhost pod-delete --target {POD} --yes")) && e.contains("lium rm"), "{e}");
    assert!(now() >= 10_000 && now() < 16_000, "bounded by the setting: {} ms", now());

    // After a confirmed delete, the pod's status costs no request.
    let script = Script::default();
    script.on(&format!("DELETE /pods/{POD}"), vec![ok(200, json!({"success": true}))]).on("GET /pods", vec![ok(200, json!([]))]);
    let (sent, report) = with(&script, |l, _, _| {
        l.delete(POD).unwrap();
        let sent = script.sent.borrow().len();
        (sent, l.status(POD).unwrap())
    });
    assert!(matches!(report.state, PodState::Missing) && report.detail.contains("was deleted by this flow"), "{report:?}");
    assert_eq!(script.sent.borrow().len(), sent, "no request after the confirmed delete");

    // Unknown and unlisted: already gone.
    let script = Script::default();
    script.on(&format!("DELETE /pods/{POD}"), vec![ok(404, json!({"detail": "Not Found"}))]).on("GET /pods", vec![ok(200, json!([]))]);
    assert_eq!(with(&script, |l, s, api| l.remove(s, api, POD)).unwrap(), Removal::AlreadyGone);
}

#[test]
fn reads_ride_out_throttling_and_5xx_within_their_bound() {
    let script = Script::default();
    script.on(
        "GET /users/me",
        vec![
            Ok(HttpResponse { status: 429, headers: vec![("retry-after".into(), "3".into())], body: b"{}".to_vec() }),
            ok(503, json!({"detail": "Service Unavailable"})),
            ok(200, json!({"balance": 12.5})),
        ],
    );
    let v = with(&script, |_, _, api| api.read("/users/me")).unwrap();
    assert_eq!(v["balance"], 12.5);
    assert_eq!(SLEPT.with(|s| s.borrow().clone()), vec![3_000, 2_000]);

    let script = Script::default();
    script.on("GET /users/me", vec![ok(500, json!({"detail": "boom"}))]);
    let e = with(&script, |_, _, api| api.read("/users/me")).unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert_eq!(script.sent(HttpMethod::Get, "/users/me").len(), crate::api::READ_ATTEMPTS as usize);
}

#[test]
fn targets_are_pod_uuids() {
    assert_eq!(Lium::<Script>::pod_id(&format!(" {} ", POD.to_uppercase())).unwrap(), POD);
    for bad in ["", "wfhost-wf-1", "ssh://root@h", "lium-0b6f2a7e"] {
        assert!(matches!(Lium::<Script>::pod_id(bad), Err(TransportError::Invalid(_))), "{bad:?}");
    }
    assert_eq!(poll_ms(0), 1_000);
    assert_eq!(poll_ms(45_000), 2_000);
    assert_eq!(poll_ms(100_000), 5_000);
}

/// The safety net after a rent, as P10 calls it (the rent's key is `wfhost-key-1`).
fn after_rent(script: &Script) -> Option<bool> {
    with(script, |l, s, api| l.after_rent(s, api, POD, NOW_SECS, "wfhost-key-1"))
}

#[test]
fn a_rent_is_followed_by_a_removal_scheduled_at_the_rent_time_plus_the_ttl() {
    let script = Script::default();
    script.set("LIUM_TTL", "8").on(&format!("POST /pods/{POD}/schedule-removal"), vec![ok(200, json!({"success": true}))]);
    assert_eq!(after_rent(&script), Some(true));
    let sent = script.sent(HttpMethod::Post, "/schedule-removal");
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    // A side effect under a key derived from the rent's, so a resend repeats it.
    assert!(r.side_effect);
    assert_eq!(r.idempotency_key.as_deref(), Some("wfhost-key-1-schedule"));
    assert_eq!(r.secret_headers[0].handle, "lium_api_key");
    let body: Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(body, json!({"removal_scheduled_at": "2026-10-17T13:30:00+00:00"}), "05:30 plus LIUM_TTL=8 h, UTC with its offset");
    assert_eq!(script.sent.borrow().len(), 1, "one request, nothing else");
    assert!(script.logged(Level::Warn).is_empty());
    assert!(SLEPT.with(|s| s.borrow().is_empty()), "no pause when it worked");
}

#[test]
fn a_failed_schedule_is_tried_once_more_then_a_warning_naming_the_ttl() {
    // 5xx twice: two tries with the same key and body, one short pause, a warning, no error.
    let script = Script::default();
    script.on(&format!("POST /pods/{POD}/schedule-removal"), vec![ok(500, json!({"detail": "Internal Server Error"}))]);
    assert_eq!(after_rent(&script), Some(false));
    let sent = script.sent(HttpMethod::Post, "/schedule-removal");
    assert_eq!(sent.len(), SCHEDULE_TRIES as usize);
    assert_eq!(sent[0].idempotency_key, sent[1].idempotency_key);
    assert_eq!(sent[0].body, sent[1].body);
    assert_eq!(SLEPT.with(|s| s.borrow().clone()), vec![SCHEDULE_PAUSE_MS]);
    let warned = script.logged(Level::Warn);
    assert_eq!(warned.len(), 1, "{warned:?}");
    let w = &warned[0];
    assert!(w.contains(POD) && w.contains("HTTP 500") && w.contains("LIUM_TTL=2 h still applies") && w.contains("termination_hours"), "{w}");
    assert!(w.contains("2026-10-17T07:30:00+00:00"), "the time the TTL removes it: {w}");
    assert_eq!(script.sent.borrow().len(), 2, "nothing but the two tries: no rent, no delete");

    // A lost answer, then success: set on the second try.
    let script = Script::default();
    script.on(&format!("POST /pods/{POD}/schedule-removal"), vec![Err(HttpError::Unreachable("connection reset".into())), ok(200, json!({"success": true}))]);
    assert_eq!(after_rent(&script), Some(true));
    assert_eq!(script.sent(HttpMethod::Post, "/schedule-removal").len(), 2);
    assert!(script.logged(Level::Warn).is_empty());

    // Throttled: the pause is its Retry-After, bounded.
    let script = Script::default();
    script.on(
        &format!("POST /pods/{POD}/schedule-removal"),
        vec![Ok(HttpResponse { status: 429, headers: vec![("Retry-After".into(), "60".into())], body: b"{}".to_vec() }), ok(200, json!({}))],
    );
    assert_eq!(after_rent(&script), Some(true));
    assert_eq!(SLEPT.with(|s| s.borrow().clone()), vec![SCHEDULE_MAX_PAUSE_MS]);

    // A refusal that a resend cannot change (400): one try, then the warning.
    let script = Script::default();
    script.on(&format!("POST /pods/{POD}/schedule-removal"), vec![ok(400, json!({"detail": "Pod is BROKEN: only deletion is possible"}))]);
    assert_eq!(after_rent(&script), Some(false));
    assert_eq!(script.sent(HttpMethod::Post, "/schedule-removal").len(), 1);
    assert!(script.logged(Level::Warn)[0].contains("only deletion is possible"));
}

#[test]
fn without_a_ttl_no_removal_is_scheduled() {
    let script = Script::default();
    script.set("LIUM_TTL", "none");
    assert_eq!(after_rent(&script), None);
    assert!(script.sent.borrow().is_empty(), "no request at all");
    assert!(script.logged(Level::Warn).is_empty());
}

#[test]
fn the_scheduled_time_is_iso_utc_with_an_offset() {
    assert_eq!(iso_utc(0), "1970-01-01T00:00:00+00:00");
    assert_eq!(iso_utc(NOW_SECS), "2026-10-17T05:30:00+00:00");
}

/// The read times (ms after the wait began) of a pod that never gets ready within `until_ms`,
/// reads taking no time.
fn read_times(until_ms: u64) -> Vec<u64> {
    let (mut t, mut reads, mut times) = (0u64, 0u32, Vec::new());
    loop {
        t += ready_pause_ms(reads, t);
        if t >= until_ms {
            return times;
        }
        reads += 1;
        times.push(t);
    }
}

#[test]
fn the_readiness_reads_start_fast_and_stay_within_60_a_minute() {
    // The first pause is short, and the ramp reaches the steady schedule.
    assert_eq!(ready_pause_ms(0, 0), 200);
    assert_eq!((ready_pause_ms(1, 200), ready_pause_ms(2, 600), ready_pause_ms(3, 1_400)), (400, 800, 1_000));
    assert_eq!(ready_pause_ms(9, 45_000), poll_ms(45_000));
    let times = read_times(600_000);
    assert_eq!(&times[..4], [200, 600, 1_400, 2_400]);
    // No more than 60 reads in any minute (Lium's limit on its listings, kept for the pod's
    // own reads too), the first minute included.
    let in_first_minute = times.iter().filter(|t| **t < 60_000).count();
    assert!(in_first_minute <= 60, "{in_first_minute} reads in the first minute");
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|t| **t < start + 60_000).count();
        assert!(in_window <= 60, "{in_window} reads in the minute from {start} ms");
    }
    // Faster than the steady schedule alone where it matters (a pod up within the first
    // seconds), and never slower after it.
    assert_eq!(times.iter().filter(|t| **t < 2_000).count(), 3, "1 s apart would read once");
    let steady: Vec<u64> = (1..).map(|n| n * 1_000).take_while(|t| *t < 40_000).collect();
    for s in steady.iter().skip(2) {
        assert!(times.iter().any(|t| t <= s && s - t < 1_000), "no read within a second before {s} ms");
    }
}

#[test]
fn waiting_for_a_pod_reads_it_on_the_schedule_until_the_limit() {
    // PENDING for good: reads on the schedule, then not ready at WF_POD_READY_TIMEOUT_SECS.
    let script = Script::default();
    script.set("WF_POD_READY_TIMEOUT_SECS", "60").on(&format!("GET /pods/{POD}"), vec![ok(200, json!({"id": POD, "status": "PENDING"}))]);
    let w = with(&script, |l, s, api| l.wait_ready(s, api, POD)).unwrap();
    assert_eq!(w, Wait::NotReady("PENDING".into()));
    let reads = script.sent(HttpMethod::Get, &format!("/pods/{POD}")).len();
    assert_eq!(reads, read_times(60_000).len() + 1, "the last read is at the limit itself");
    assert!(reads <= 61, "{reads}");
    let slept = SLEPT.with(|s| s.borrow().clone());
    assert_eq!(&slept[..5], [200, 400, 800, 1_000, 1_000], "no read before the first pause");
    assert!(now() >= 60_000 && now() < 61_000, "bounded by the limit: {} ms", now());

    // A pod that fails is seen on the second read, 600 ms after the rent, with its events.
    let script = Script::default();
    script
        .on(&format!("GET /pods/{POD}"), vec![ok(200, json!({"id": POD, "status": "PENDING"})), ok(200, json!({"id": POD, "status": "CREATION_FAILED"}))])
        .on(&format!("GET /pods/{POD}/events"), vec![ok(200, json!([{"event_type": "pod-create", "error": "image pull timeout"}]))]);
    let w = with(&script, |l, s, api| l.wait_ready(s, api, POD)).unwrap();
    assert!(matches!(&w, Wait::Terminal(m) if m.contains("CREATION_FAILED") && m.contains("image pull timeout")), "{w:?}");
    assert_eq!(now(), 600);
}

#[test]
fn p00_warns_when_the_ready_waits_do_not_fit_p10s_budget_and_still_passes() {
    let script = Script::default();
    script
        .set("WF_SSH_IDENTITY_HANDLE", "ssh_identity")
        .set("WF_POD_READY_TIMEOUT_SECS", &settings::P10_TIMEOUT_SECS.to_string())
        .on("GET /users/me", vec![ok(200, json!({"balance": 12.5}))]);
    let l = Lium::with_clock(&script, sleep, now);
    assert_eq!(l.check_config(), Ok(()), "a warning, not a refusal");
    let warned = script.logged(Level::Warn);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("LIUM_READY_RETRIES=1") && warned[0].contains("WF_POD_READY_TIMEOUT_SECS=") && warned[0].contains("WF_PHASE_TIMEOUT_P10"), "{}", warned[0]);
    assert!(script.logged(Level::Info).iter().any(|m| m.contains("balance $12.50")));

    // Waits that fit: no warning.
    let script = Script::default();
    script.set("WF_SSH_IDENTITY_HANDLE", "ssh_identity").on("GET /users/me", vec![ok(200, json!({"balance": 12.5}))]);
    assert_eq!(Lium::with_clock(&script, sleep, now).check_config(), Ok(()));
    assert!(script.logged(Level::Warn).is_empty());
}
