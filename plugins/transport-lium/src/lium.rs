//! The operations of the lium transport ([`Transport`]), over the [`Host`] capabilities.
//!
//! - `check-config` (P00): the settings ([`Settings::read`]), the API key and the identity are
//!   set, and the key is accepted (`GET /users/me`, whose balance is logged); ready waits
//!   longer than P10's budget are a warning ([`Settings::ready_budget_warning`]).
//! - `provision` (P10, under the flow's provision grant): the balance, the node
//!   ([`crate::rows::candidates`]), the budget guard (price × LIUM_TTL hours within the balance;
//!   the cap was applied to the candidates), then the rent ([`Lium::rent`]: `Idempotency-Key`,
//!   a pod name carrying the flow, `termination_hours`; a lost answer or a 5xx is recovered by
//!   the name and one resend with the same key, never a second rent; a node that refuses is
//!   replaced by the next, at most [`MAX_NODE_TRIES`] refusals), the removal scheduled at the
//!   rent's time plus LIUM_TTL ([`Lium::schedule_removal`], a safety net for backends that
//!   ignore `termination_hours`; its failure is a warning), and the wait
//!   ([`Lium::wait_ready`]: RUNNING with an ssh endpoint that answers ssh, within
//!   WF_POD_READY_TIMEOUT_SECS). A pod that fails (CREATION_FAILED, BROKEN, ...) or vanishes
//!   fails P10 at once with its events (a failed one is deleted first); a pod that is not ready
//!   in time is deleted, its absence confirmed, and another rented, LIUM_READY_RETRIES times at
//!   most, preferring a node not tried yet.
//! - `status`: the pod's row; `ready` only when it is RUNNING and ssh answers, `missing` when
//!   Lium does not list it, a terminal status an error carrying its events.
//! - `exec`, `put-file`, `get-file`, `fetch-*`: the ssh client's, to the pod's endpoint (kept in
//!   the host's memo), with the host key pinned under the pod id ([`crate::podssh`]); when ssh
//!   fails the pod is looked up, so a pod that is gone is `vanished`, not `unreachable`.
//! - `delete` (P90, under the delete grant): `DELETE /pods/{id}`, then `GET /pods` until the pod
//!   is not listed, within LIUM_DELETE_CONFIRM_SECS; a pod still listed fails with the command
//!   that finishes the job.
//!
//! Every wait is bounded: reads by [`crate::api::READ_ATTEMPTS`], the rent's recovery by one
//! resend, readiness by WF_POD_READY_TIMEOUT_SECS, deletion by LIUM_DELETE_CONFIRM_SECS.

use crate::api::{retry_after, Api, CallError, READ_ATTEMPTS};
use crate::podssh::PodHost;
use crate::rows::{self, Endpoint, Node, Phase, Pod};
use crate::settings::{self, is_uuid, Settings};
use serde_json::{json, Value};
use wfhost_pack_sdk::path::normalize_abs_path;
use wfhost_pack_sdk::text::{last_line, utc_rfc3339};
use wfhost_pack_sdk::transport::{
    CommandResult, ExecSpec, FetchSource, Host, HttpError, HttpMethod, Level, PodIdentity, PodReport, PodState, RunRequest, Transport,
    TransportError,
};
use wfhost_ssh_client::ssh::Ssh;

/// Transport id.
pub const ID: &str = "lium";
/// Refused rents one P10 rides out (each on the next node, or after a pause on the only one).
pub const MAX_NODE_TRIES: usize = 3;
/// A rented pod not listed for this long is missing (the official client's grace).
pub const LISTING_GRACE_MS: u64 = 20_000;
/// Listings that look for a pod by name after a rent's answer was lost, and the pause between.
pub const FIND_BY_NAME_TRIES: u32 = 3;
/// See [`FIND_BY_NAME_TRIES`].
pub const FIND_BY_NAME_PAUSE_MS: u64 = 3_000;
/// The pause before renting the only candidate node again after it refused (a node frees a
/// deleted pod's GPUs a moment after the pod leaves the listing).
pub const REFUSED_PAUSE_MS: u64 = 3_000;
/// How long ssh may take to connect (and exchange banners) in a readiness probe.
pub const PROBE_CONNECT_SECS: u32 = 5;
/// How long one readiness probe (a login that runs `echo`) may take.
pub const PROBE_TIMEOUT_MS: u64 = 10_000;
/// How long `ssh-keygen -y` may take.
pub const KEYGEN_TIMEOUT_MS: u64 = 15_000;
/// Tries of the schedule-removal safety net, the first included.
pub const SCHEDULE_TRIES: u32 = 2;
/// The pause before the schedule-removal is tried again (a `Retry-After` is honoured up to
/// [`SCHEDULE_MAX_PAUSE_MS`]).
pub const SCHEDULE_PAUSE_MS: u64 = 1_000;
/// See [`SCHEDULE_PAUSE_MS`].
pub const SCHEDULE_MAX_PAUSE_MS: u64 = 5_000;

/// How a rent ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Rent {
    /// A pod exists: its id.
    Rented(String),
    /// The node refused (taken, pending, paused): nothing was rented.
    Refused(String),
}

/// How waiting for a pod ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// RUNNING and ssh answers.
    Ready(Box<Pod>, Endpoint),
    /// A status it never leaves, with its events.
    Terminal(String),
    /// Not listed any more (or never), with its events.
    Vanished(String),
    /// Still not ready when the time was up: the last thing seen.
    NotReady(String),
}

/// How a delete ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Accepted, and the pod left the listing: after this many listings and milliseconds.
    Gone { listings: u32, ms: u64 },
    /// Lium did not know the pod (404) and does not list it.
    AlreadyGone,
}

/// `secs` since the Unix epoch as ISO 8601 UTC with an explicit offset
/// (`2026-10-17T15:30:00+00:00`), the form `removal_scheduled_at` takes.
pub fn iso_utc(secs: i64) -> String {
    let z = utc_rfc3339(secs);
    format!("{}+00:00", z.strip_suffix('Z').unwrap_or(&z))
}

fn real_sleep(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

fn real_now_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

/// The pause between two reads of a pod that is getting ready: every second for 40 s, every
/// 2 s until 90 s, then every 5 s (the official client's schedule, slower at the end).
pub fn poll_ms(elapsed_ms: u64) -> u64 {
    match elapsed_ms {
        0..40_000 => 1_000,
        40_000..90_000 => 2_000,
        _ => 5_000,
    }
}

/// The pauses before the first reads of a pod that is getting ready. A pod that is up at once
/// (a cached template; the simulator) is seen 200 ms after the rent instead of a second, and
/// one up within 1.4 s no later than with [`poll_ms`] alone; these three reads are all the
/// ramp adds, so the reads stay within the API's 60 a minute (see [`ready_pause_ms`]).
pub const FIRST_PAUSES_MS: [u64; 3] = [200, 400, 800];

/// The pause before read number `reads + 1` of a pod getting ready, `elapsed_ms` after the wait
/// began: [`FIRST_PAUSES_MS`], then [`poll_ms`]. There is no read right after the rent: a pod
/// is never ready the moment it is rented, and the read would spend one of the API's 60 a
/// minute on a certain PENDING. Reads 0.2, 0.6 and 1.4 s after the rent, then every second
/// (51 in the first minute when reads take no time, 50 before the ramp); a 429 is ridden out by
/// [`Api::read`] with its `Retry-After`.
pub fn ready_pause_ms(reads: u32, elapsed_ms: u64) -> u64 {
    FIRST_PAUSES_MS.get(reads as usize).copied().unwrap_or_else(|| poll_ms(elapsed_ms))
}

/// The lium transport bound to a host; its operations are its [`Transport`] implementation.
pub struct Lium<'h, H: Host> {
    host: &'h H,
    sleep: fn(u64),
    now_ms: fn() -> u64,
}

impl<'h, H: Host> Lium<'h, H> {
    /// Wrap `host`, waiting with the real clock.
    pub fn new(host: &'h H) -> Self {
        Lium { host, sleep: real_sleep, now_ms: real_now_ms }
    }

    /// Wrap `host` with another clock (tests).
    pub fn with_clock(host: &'h H, sleep: fn(u64), now_ms: fn() -> u64) -> Self {
        Lium { host, sleep, now_ms }
    }

    fn settings(&self) -> Result<Settings, TransportError> {
        Settings::read(|k| self.host.setting(k))
    }

    fn api<'a>(&'a self, s: &'a Settings) -> Result<Api<'a, H>, TransportError> {
        Ok(Api::new(self.host, &s.base_url, s.api_key()?, &self.sleep))
    }

    fn log(&self, level: Level, message: &str) {
        self.host.log(level, message);
    }

    /// A failed read as the transport's error.
    fn api_err(&self, s: &Settings, what: &str, e: CallError) -> TransportError {
        match &e {
            CallError::Status { status: 401, message, .. } => TransportError::Failed(format!(
                "{what}: Lium at {} refused {} (HTTP 401: {message}); check the key (lium.io, Settings > API keys)",
                s.base_url,
                settings::API_KEY
            )),
            CallError::Status { status, message, .. } if *status == 429 || *status >= 500 => TransportError::Unreachable(format!(
                "{what}: Lium at {} still answered HTTP {status} ({message}) after {READ_ATTEMPTS} tries; try again later",
                s.base_url
            )),
            CallError::Http(HttpError::Unreachable(_) | HttpError::Timeout(_)) => {
                TransportError::Unreachable(format!("{what}: Lium at {} did not answer ({e})", s.base_url))
            }
            CallError::Http(HttpError::Refused(m)) => TransportError::Failed(format!("{what}: the host refused the request: {m}")),
            _ => TransportError::Failed(format!("{what}: {e}")),
        }
    }

    /// The pod id a target names (a UUID, lowercase).
    pub fn pod_id(target: &str) -> Result<String, TransportError> {
        let t = target.trim();
        if is_uuid(t) {
            Ok(t.to_ascii_lowercase())
        } else {
            Err(TransportError::Invalid(format!(
                "target {target:?} is not a Lium pod id: the lium transport's target is the pod's UUID (`lium ps` shows it; P10 binds the one it rents)"
            )))
        }
    }

    /// The last events of a pod, in words (or why they cannot be read).
    fn events(&self, api: &Api<'_, H>, id: &str) -> String {
        match api.read(&format!("/pods/{id}/events")) {
            Ok(v) => rows::events_words(&v),
            Err(e) => format!("its events could not be read ({e})"),
        }
    }

    /// The public half of WF_SSH_IDENTITY (`ssh-keygen -y`, the path by handle), the line a rent
    /// authorises.
    fn public_key(&self, s: &Settings) -> Result<String, TransportError> {
        let handle = s.identity()?;
        let env = wfhost_ssh_client::command::IDENTITY_ENV;
        let request = RunRequest {
            program: "sh".into(),
            args: vec!["-c".into(), format!("exec ssh-keygen -y -f \"${env}\"")],
            secret_env: vec![(env.to_string(), handle.to_string())],
            timeout_ms: KEYGEN_TIMEOUT_MS,
            ..RunRequest::default()
        };
        let r = self.host.run(&request).map_err(|e| TransportError::Failed(format!("could not run ssh-keygen: {e}")))?;
        let line = r.stdout.lines().map(str::trim).find(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-"));
        match (r.exit_code, line) {
            (Some(0), Some(l)) => Ok(l.to_string()),
            _ => Err(TransportError::Failed(format!(
                "could not read the public key of {} with `ssh-keygen -y` ({}); use an OpenSSH private key without a passphrase",
                settings::IDENTITY,
                if r.timed_out { "it timed out".to_string() } else { last_line(&r.stderr).to_string() }
            ))),
        }
    }

    /// Make sure the directory of LIUM_KNOWN_HOSTS exists (ssh does not create it), once per
    /// flow.
    fn known_hosts_dir(&self, s: &Settings) {
        let Some(file) = &s.known_hosts else { return };
        let Some(dir) = file.rsplit_once('/').map(|(d, _)| d).filter(|d| !d.is_empty()) else { return };
        let mark = "known-hosts-dir";
        if self.host.memo_get(mark).as_deref() == Some(dir) {
            return;
        }
        let request = RunRequest {
            program: "sh".into(),
            args: vec!["-c".into(), "mkdir -p -m 700 -- \"$1\"".into(), "sh".into(), dir.to_string()],
            timeout_ms: 10_000,
            ..RunRequest::default()
        };
        match self.host.run(&request) {
            Ok(r) if r.exit_code == Some(0) => {
                let _ = self.host.memo_set(mark, dir);
            }
            Ok(r) => self.log(Level::Warn, &format!("cannot create {dir} for {}: {}; ssh cannot pin the pods' host keys", settings::KNOWN_HOSTS, last_line(&r.stderr))),
            Err(e) => self.log(Level::Warn, &format!("cannot create {dir} for {}: {e}", settings::KNOWN_HOSTS)),
        }
    }

    /// Whether ssh to the pod answers: `Ok` once a shell runs a command, else what ssh said.
    /// One try takes at most [`PROBE_TIMEOUT_MS`], so a login that hangs is tried again
    /// within the ready limit instead of using it up. Not a cost to cut: the first login (most
    /// of P10's time against a pod that is up at once) also starts the ssh connection master
    /// that every later call of the flow reuses.
    fn probe(&self, s: &Settings, id: &str, ep: &Endpoint) -> Result<(), String> {
        self.known_hosts_dir(s);
        let ph = PodHost::new(self.host, id, s.known_hosts.as_deref(), &format!("-o ConnectTimeout={PROBE_CONNECT_SECS}"));
        let spec = ExecSpec { command: "echo wfhost-lium-ready".into(), timeout_ms: PROBE_TIMEOUT_MS, ..ExecSpec::default() };
        let why = match Ssh::new(&ph).exec(&ep.destination(), &spec) {
            Ok(r) if r.exit_code == Some(0) && r.stdout.lines().any(|l| l.trim() == "wfhost-lium-ready") => return Ok(()),
            Ok(r) if r.timed_out => format!("no answer within {} s", PROBE_TIMEOUT_MS / 1000),
            Ok(r) => format!("exit {:?}: {}", r.exit_code, last_line(&r.stderr)),
            Err(e) => last_line(&e.to_string()).to_string(),
        };
        Err(format!("RUNNING, but ssh to {} does not answer yet ({why})", ep.words()))
    }

    /// Remember a pod's endpoint for later calls of this flow.
    fn remember(&self, id: &str, ep: &Endpoint) {
        let _ = self.host.memo_set(&format!("ep:{id}"), &ep.words());
    }

    /// Wait until pod `id` is ready, fails, vanishes, or WF_POD_READY_TIMEOUT_SECS pass: a
    /// read of the pod after each pause of [`ready_pause_ms`], and, once it is RUNNING with an
    /// endpoint, the ssh probe (the readiness rule's second half, which no read can replace).
    pub fn wait_ready(&self, s: &Settings, api: &Api<'_, H>, id: &str) -> Result<Wait, TransportError> {
        let t0 = (self.now_ms)();
        let limit = s.ready_timeout_s.saturating_mul(1000);
        let mut seen = false;
        let mut detail = "not listed yet".to_string();
        let mut reads = 0u32;
        loop {
            let elapsed = (self.now_ms)().saturating_sub(t0);
            (self.sleep)(ready_pause_ms(reads, elapsed).min(limit.saturating_sub(elapsed)).max(10));
            reads += 1;
            let elapsed = (self.now_ms)().saturating_sub(t0);
            match api.read_opt(&format!("/pods/{id}")) {
                Ok(None) if seen => return Ok(Wait::Vanished(format!("it left Lium's listing; last events: {}", self.events(api, id)))),
                Ok(None) if elapsed >= LISTING_GRACE_MS => {
                    return Ok(Wait::Vanished(format!(
                        "Lium has not listed it in the {} s since the rent; last events: {}",
                        LISTING_GRACE_MS / 1000,
                        self.events(api, id)
                    )))
                }
                Ok(None) => {}
                Ok(Some(row)) => {
                    seen = true;
                    let pod = Pod::from_row(&row).ok_or_else(|| TransportError::Failed(format!("GET /pods/{id} answered a row without an id")))?;
                    match pod.phase() {
                        Phase::Terminal => return Ok(Wait::Terminal(format!("{}: {}", pod.status, self.events(api, id)))),
                        Phase::Deleting => return Ok(Wait::Vanished(format!("it is being deleted; last events: {}", self.events(api, id)))),
                        Phase::Starting => {
                            detail = match &pod.progress {
                                Some(p) => format!("{} ({p})", pod.status),
                                None => pod.status.clone(),
                            }
                        }
                        Phase::Running => match pod.endpoint.clone() {
                            None => detail = "RUNNING without an ssh endpoint yet".into(),
                            Some(ep) => match self.probe(s, id, &ep) {
                                Ok(()) => {
                                    self.remember(id, &ep);
                                    return Ok(Wait::Ready(Box::new(pod), ep));
                                }
                                Err(why) => detail = why,
                            },
                        },
                    }
                }
                Err(e) if e.transient() => detail = format!("the API did not answer ({e})"),
                Err(e) => return Err(self.api_err(s, &format!("waiting for pod {id}"), e)),
            }
            if (self.now_ms)().saturating_sub(t0) >= limit {
                return Ok(Wait::NotReady(detail));
            }
        }
    }

    /// Look for a pod named `name` in `GET /pods` (a fresh pod may be listed late).
    fn find_by_name(&self, api: &Api<'_, H>, name: &str) -> Option<String> {
        for attempt in 1..=FIND_BY_NAME_TRIES {
            match api.read("/pods") {
                Ok(list) => {
                    if let Some(p) = rows::pods(&list).into_iter().find(|p| p.name == name) {
                        return Some(p.id);
                    }
                }
                Err(e) => self.log(Level::Warn, &format!("listing pods to find {name}: {e}")),
            }
            if attempt < FIND_BY_NAME_TRIES {
                (self.sleep)(FIND_BY_NAME_PAUSE_MS);
            }
        }
        None
    }

    /// Rent `node` once (see the module documentation): the pod's id, or the node's refusal.
    #[allow(clippy::too_many_arguments)]
    pub fn rent(&self, s: &Settings, api: &Api<'_, H>, node: &Node, template: &str, public_key: &str, name: &str, key: &str) -> Result<Rent, TransportError> {
        let mut body = json!({"pod_name": name, "template_id": template, "user_public_key": [public_key]});
        if !node.whole_only {
            body["gpu_count"] = json!(s.count);
        }
        if let Some(h) = s.ttl_hours {
            body["termination_hours"] = json!(h);
        }
        let path = format!("/executors/{}/rent", node.id);
        let mut resent = false;
        let mut waits = 0u32;
        loop {
            let answer = api.send(HttpMethod::Post, &path, Some(&body), Some(key));
            let wait_s = answer.as_ref().ok().and_then(retry_after);
            let lost = match Api::<H>::judge(answer) {
                Ok(v) => match v.get("pod_id").or_else(|| v.get("id")).and_then(Value::as_str) {
                    Some(id) if is_uuid(id) => return Ok(Rent::Rented(id.to_ascii_lowercase())),
                    _ => CallError::Body(format!("the rent answered without a pod id ({})", v.to_string().chars().take(200).collect::<String>())),
                },
                // Throttled before anything happened: the same request again, after the pause.
                Err(CallError::Status { status: 429, .. }) if waits < 3 => {
                    waits += 1;
                    (self.sleep)(wait_s.unwrap_or(2).min(crate::api::MAX_RETRY_AFTER_S) * 1000);
                    continue;
                }
                // The first request with this key is still being processed: wait for it.
                Err(CallError::Status { status: 409, code: Some(c), .. }) if c == "idempotency_in_progress" && waits < 5 => {
                    waits += 1;
                    if let Some(id) = self.find_by_name(api, name) {
                        return Ok(Rent::Rented(id));
                    }
                    continue;
                }
                Err(CallError::Status { status: 400 | 409, message, .. }) => return Ok(Rent::Refused(message)),
                Err(CallError::Status { status, message, code }) if status < 500 => {
                    return Err(TransportError::Failed(format!(
                        "Lium refused to rent node {} (HTTP {status}{}: {message}); nothing was rented",
                        node.id,
                        code.map(|c| format!(" {c}")).unwrap_or_default()
                    )))
                }
                Err(CallError::Http(HttpError::Refused(m))) => {
                    return Err(TransportError::Failed(format!("the host refused the rent of node {}: {m}; nothing was sent", node.id)))
                }
                Err(e) => e,
            };
            // No usable answer: the rent may have happened. Look for the pod by its name, then
            // send the same request once more with the same key (Lium answers a repeat with
            // the first outcome); never a new key.
            self.log(Level::Warn, &format!("the answer to the rent of node {} was lost ({lost}); looking for pod {name}", node.id));
            if let Some(id) = self.find_by_name(api, name) {
                return Ok(Rent::Rented(id));
            }
            if !resent {
                resent = true;
                self.log(Level::Warn, &format!("no pod named {name} is listed; sending the rent once more with the same Idempotency-Key"));
                continue;
            }
            return Err(TransportError::Failed(format!(
                "the rent of node {} has an unknown outcome ({lost}), and no pod named {name} is listed; a pod may exist and bill: check `lium ps` and remove it with `lium rm <its id> --yes`. wfhost did not rent again",
                node.id
            )));
        }
    }

    /// The safety net after a rent made at `rented_at` (seconds since the epoch) with
    /// `rent_key`: with a LIUM_TTL, the removal scheduled at that time plus its hours
    /// ([`Lium::schedule_removal`]); with `LIUM_TTL=none` nothing is sent. Whether it was set
    /// (`None`: there is nothing to set).
    pub fn after_rent(&self, s: &Settings, api: &Api<'_, H>, id: &str, rented_at: i64, rent_key: &str) -> Option<bool> {
        let hours = s.ttl_hours?;
        Some(self.schedule_removal(s, api, id, rented_at.saturating_add(i64::from(hours) * 3600), rent_key))
    }

    /// Ask Lium to remove pod `id` at `at` (seconds since the epoch: the rent's time plus
    /// LIUM_TTL), the safety net that backends which ignore the rent's `termination_hours` still
    /// honour. A side effect (the host's provision grant, with a receipt) whose
    /// `Idempotency-Key` is the rent's key plus `-schedule`, so its one resend repeats it. A
    /// failure is a warning, never P10's failure and never a reason to rent again: a lost
    /// answer, 429, 5xx or 404 (a fresh pod listed late) is tried once more after a short
    /// pause; then the warning says that LIUM_TTL (the rent's `termination_hours`) still
    /// removes the pod. Whether it was set.
    pub fn schedule_removal(&self, s: &Settings, api: &Api<'_, H>, id: &str, at: i64, rent_key: &str) -> bool {
        let when = iso_utc(at);
        let body = json!({"removal_scheduled_at": when});
        let key = format!("{rent_key}-schedule");
        let path = format!("/pods/{id}/schedule-removal");
        let mut why = String::new();
        for attempt in 1..=SCHEDULE_TRIES {
            let answer = api.send(HttpMethod::Post, &path, Some(&body), Some(&key));
            let wait_s = answer.as_ref().ok().filter(|r| r.status == 429).and_then(retry_after);
            match Api::<H>::judge(answer) {
                Ok(_) => return true,
                Err(e) => {
                    let again = e.transient() || e.status() == Some(404);
                    why = e.to_string();
                    if !again || attempt == SCHEDULE_TRIES {
                        break;
                    }
                    let pause = wait_s.map(|s| s.saturating_mul(1000).min(SCHEDULE_MAX_PAUSE_MS)).unwrap_or(SCHEDULE_PAUSE_MS);
                    self.log(Level::Debug, &format!("POST {path}: {e}; trying again in {pause} ms"));
                    (self.sleep)(pause);
                }
            }
        }
        self.log(
            Level::Warn,
            &format!(
                "the removal of pod {id} at {when} could not be scheduled (POST {path}: {why}); {} still applies: the rent's termination_hours removes the pod then unless it is deleted first",
                s.ttl_words()
            ),
        );
        false
    }

    /// Delete pod `id` and wait until Lium no longer lists it (see the module documentation).
    pub fn remove(&self, s: &Settings, api: &Api<'_, H>, id: &str) -> Result<Removal, TransportError> {
        let finish = format!("finish it with `wfhost pod-delete --target {id} --yes` (or `lium rm {id} --yes`) and check `lium ps`");
        let mut tries = 0;
        let not_found = loop {
            tries += 1;
            match Api::<H>::judge(api.send(HttpMethod::Delete, &format!("/pods/{id}"), None, None)) {
                Ok(_) => break false,
                Err(CallError::Status { status: 404, .. }) => break true,
                Err(e) if e.transient() && tries < 3 => (self.sleep)(1_000 * tries),
                Err(e) => return Err(TransportError::Failed(format!("DELETE /pods/{id} failed ({e}); the pod may still run: {finish}"))),
            }
        };
        let t0 = (self.now_ms)();
        let bound = s.delete_confirm_s.saturating_mul(1000);
        let mut listings = 0u32;
        let mut pause = 1_000;
        loop {
            listings += 1;
            let still = match api.read("/pods") {
                Ok(list) => rows::pods(&list).into_iter().find(|p| p.id == id).map(|p| p.status),
                Err(e) => Some(format!("unknown: the listing failed ({e})")),
            };
            let elapsed = (self.now_ms)().saturating_sub(t0);
            match still {
                None if not_found && listings == 1 => return Ok(Removal::AlreadyGone),
                None => return Ok(Removal::Gone { listings, ms: elapsed }),
                Some(status) if elapsed >= bound => {
                    return Err(TransportError::Failed(format!(
                        "pod {id} is still listed ({status}) {} s after Lium {} its deletion ({listings} listings, {}={}); {finish}",
                        elapsed / 1000,
                        if not_found { "answered 404 to" } else { "accepted" },
                        settings::DELETE_CONFIRM,
                        s.delete_confirm_s
                    )))
                }
                Some(_) => {}
            }
            (self.sleep)(pause.min(bound - elapsed).max(10));
            pause = (pause * 2).min(5_000);
        }
    }

    /// What happened to an unready or failed pod's deletion, in words.
    fn removal_words(&self, s: &Settings, api: &Api<'_, H>, id: &str) -> String {
        match self.remove(s, api, id) {
            Ok(Removal::Gone { listings, ms }) => format!("it was deleted (gone from the listing after {listings} listing(s), {} ms)", ms),
            Ok(Removal::AlreadyGone) => "Lium had already removed it".into(),
            Err(e) => format!("deleting it failed: {e}"),
        }
    }

    /// The identity of a ready pod, its location saying when Lium removes it by itself.
    fn identity(&self, s: &Settings, node: &Node, pod: &Pod, ep: &Endpoint, rented_at: i64) -> PodIdentity {
        let ttl = match s.ttl_hours {
            Some(h) => format!(
                "Lium removes it by itself at {} ({}) unless it is deleted first",
                utc_rfc3339(rented_at.saturating_add(i64::from(h) * 3600)),
                s.ttl_words()
            ),
            None => format!("no server-side time limit ({}): it bills until it is deleted", s.ttl_words()),
        };
        let gpus = node.gpus_for(s.count);
        let machine = if pod.machine_name.is_empty() { &node.machine_name } else { &pod.machine_name };
        PodIdentity {
            transport: ID.into(),
            target: pod.id.clone(),
            location: format!(
                "{machine} x{gpus} on Lium node {} (${:.2}/h), ssh {}; {ttl}",
                node.id,
                pod.price.unwrap_or_else(|| node.price_for(s.count)),
                ep.words()
            ),
        }
    }

    /// The pod's endpoint: from the memo, else from its row (which must be RUNNING).
    fn endpoint(&self, s: &Settings, id: &str) -> Result<Endpoint, TransportError> {
        if let Some(ep) = self.host.memo_get(&format!("ep:{id}")).and_then(|w| Endpoint::from_words(&w)) {
            return Ok(ep);
        }
        let api = self.api(s)?;
        let row = api.read_opt(&format!("/pods/{id}")).map_err(|e| self.api_err(s, &format!("reading pod {id}"), e))?;
        let Some(pod) = row.as_ref().and_then(Pod::from_row) else {
            return Err(TransportError::Vanished(format!("Lium does not list pod {id}: it was deleted, or never rented")));
        };
        match (pod.phase(), pod.endpoint) {
            (Phase::Running, Some(ep)) => {
                self.remember(id, &ep);
                Ok(ep)
            }
            (Phase::Running | Phase::Starting, _) => Err(TransportError::Unreachable(format!("pod {id} is {} and has no ssh endpoint yet", pod.status))),
            (_, _) => Err(TransportError::Vanished(format!("pod {id} is {}: it will not run again", pod.status))),
        }
    }

    /// Run `op` with the ssh client of pod `target`; a pod ssh cannot reach is looked up, and
    /// one Lium no longer runs is `vanished`.
    fn on_pod<R>(&self, target: &str, op: impl FnOnce(&Ssh<'_, PodHost<'_, H>>, &str) -> Result<R, TransportError>) -> Result<R, TransportError> {
        let id = Self::pod_id(target)?;
        let s = self.settings()?;
        let ep = self.endpoint(&s, &id)?;
        self.known_hosts_dir(&s);
        let ph = PodHost::new(self.host, &id, s.known_hosts.as_deref(), "");
        match op(&Ssh::new(&ph), &ep.destination()) {
            Err(e @ (TransportError::Unreachable(_) | TransportError::Failed(_) | TransportError::Timeout(_))) => Err(self.unless_gone(&s, &id, e)),
            other => other,
        }
    }

    /// `vanished` when Lium no longer runs pod `id` (ssh failing because the pod is gone), else
    /// ssh's own error `e`.
    fn unless_gone(&self, s: &Settings, id: &str, e: TransportError) -> TransportError {
        let Ok(api) = self.api(s) else { return e };
        let ssh_said = last_line(&e.to_string()).to_string();
        match api.read_opt(&format!("/pods/{id}")) {
            Ok(None) => TransportError::Vanished(format!("pod {id} is gone: Lium no longer lists it ({}; ssh: {ssh_said})", self.events(&api, id))),
            Ok(Some(row)) => match Pod::from_row(&row) {
                Some(p) if matches!(p.phase(), Phase::Terminal | Phase::Deleting) => {
                    TransportError::Vanished(format!("pod {id} is {} ({}; ssh: {ssh_said})", p.status, self.events(&api, id)))
                }
                _ => e,
            },
            Err(_) => e,
        }
    }
}

impl<H: Host> Transport for Lium<'_, H> {
    /// `id`.
    fn id(&self) -> String {
        ID.to_string()
    }

    /// `check-config`: the settings, the key and the identity; the key is tried on
    /// `GET /users/me`, and the balance logged. Ready waits that P10's budget cannot hold are
    /// a warning ([`Settings::ready_budget_warning`]), not a refusal.
    fn check_config(&self) -> Result<(), TransportError> {
        let s = self.settings()?;
        s.identity()?;
        if let Some(why) = s.ready_budget_warning() {
            self.log(Level::Warn, &why);
        }
        let api = self.api(&s)?;
        let me = api.read("/users/me").map_err(|e| match e {
            CallError::Status { status: 401 | 403, message, .. } => TransportError::Invalid(format!(
                "{} is refused by {} ({message}); use a valid key (lium.io, Settings > API keys)",
                settings::API_KEY,
                s.base_url
            )),
            other => self.api_err(&s, "checking LIUM_API_KEY (GET /users/me)", other),
        })?;
        let balance = me.get("balance").and_then(Value::as_f64);
        self.log(
            Level::Info,
            &format!(
                "{} is accepted by {}; balance {}",
                settings::API_KEY,
                s.base_url,
                balance.map(|b| format!("${b:.2}")).unwrap_or_else(|| "unknown".into())
            ),
        );
        Ok(())
    }

    /// `parse-target`: a pod UUID, lowercase.
    fn parse_target(&self, target: &str) -> Result<String, TransportError> {
        Self::pod_id(target)
    }

    /// `provision`: rent a pod and wait until it is ready (see the module documentation).
    fn provision(&self, name_hint: &str, idempotency_key: &str) -> Result<PodIdentity, TransportError> {
        let s = self.settings()?;
        let api = self.api(&s)?;
        let public_key = self.public_key(&s)?;
        // The reads before the rent, each needed: the balance (the money guard acts on a fresh
        // one, not on P00's, and GET /users/me is not the route Lium limits), the nodes (the
        // choice and the price cap, LIUM_EXECUTOR_ID's included) and, without
        // LIUM_TEMPLATE_ID, the templates (set LIUM_TEMPLATE_ID to save that read). There is
        // no `GET /pods` snapshot before the rent: the pod's name carries the flow, the key
        // and the attempt, so a lost answer is recovered by that name alone, and a listing is
        // one of the 60 a minute Lium allows.
        let me = api.read("/users/me").map_err(|e| self.api_err(&s, "reading the balance (GET /users/me)", e))?;
        let balance = me
            .get("balance")
            .and_then(Value::as_f64)
            .ok_or_else(|| TransportError::Failed("GET /users/me answered no balance; nothing was rented".into()))?;
        let listing = api.read("/executors").map_err(|e| self.api_err(&s, "listing nodes (GET /executors)", e))?;
        let nodes = rows::candidates(listing.as_array().map(Vec::as_slice).unwrap_or_default(), &s)
            .map_err(|m| TransportError::Failed(format!("nothing was rented: {m}")))?;
        let template = match &s.template_id {
            Some(t) => t.clone(),
            None => {
                let list = api.read("/templates").map_err(|e| self.api_err(&s, "listing templates (GET /templates)", e))?;
                list.as_array()
                    .and_then(|a| a.iter().find_map(|t| t.get("id").and_then(Value::as_str).filter(|id| is_uuid(id))))
                    .map(str::to_string)
                    .ok_or_else(|| TransportError::Failed("Lium lists no template; set LIUM_TEMPLATE_ID; nothing was rented".into()))?
            }
        };
        let guard_hours = f64::from(s.ttl_hours.unwrap_or(1));
        let tag: String = idempotency_key.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
        let mut tried: Vec<String> = Vec::new();
        let mut refused: Vec<String> = Vec::new();
        let mut unready: Vec<String> = Vec::new();
        let mut ready_left = s.ready_retries;
        let mut attempt = 0u32;
        loop {
            let node = match nodes.iter().find(|n| !tried.contains(&n.id)) {
                Some(n) => n,
                // Every node was tried: the only one again (after a refusal, a pause first).
                None if nodes.len() == 1 => nodes.first().expect("one node"),
                None => {
                    return Err(TransportError::Failed(format!(
                        "no node could be rented: {}",
                        refused.iter().chain(&unready).cloned().collect::<Vec<_>>().join("; ")
                    )))
                }
            };
            let price = node.price_for(s.count);
            if price * guard_hours > balance {
                return Err(TransportError::Failed(format!(
                    "renting refused before anything was sent: node {} costs ${price:.2}/h, so {} hour(s) ({}) cost ${:.2}, more than the balance of ${balance:.2}; top up, lower LIUM_TTL, or choose a cheaper node (LIUM_MAX_PRICE_PER_HOUR, LIUM_GPU)",
                    node.id,
                    guard_hours,
                    s.ttl_words(),
                    price * guard_hours
                )));
            }
            attempt += 1;
            let name = format!("wfhost-{name_hint}-{tag}-{attempt}");
            let key = format!("wfhost-{idempotency_key}-{attempt}");
            tried.push(node.id.clone());
            let rented_at = self.host.now_secs();
            let id = match self.rent(&s, &api, node, &template, &public_key, &name, &key)? {
                Rent::Refused(why) => {
                    refused.push(format!("node {} refused ({why})", node.id));
                    self.log(Level::Warn, &format!("node {} refused the rent: {why}", node.id));
                    if refused.len() >= MAX_NODE_TRIES {
                        return Err(TransportError::Failed(format!(
                            "{} rents were refused: {}; nothing was rented. Try again later or choose other nodes",
                            refused.len(),
                            refused.join("; ")
                        )));
                    }
                    if nodes.len() == 1 {
                        (self.sleep)(REFUSED_PAUSE_MS);
                    }
                    continue;
                }
                Rent::Rented(id) => id,
            };
            // The safety net beside termination_hours, right away (before the wait, which may
            // be long); its failure is a warning.
            self.after_rent(&s, &api, &id, rented_at, &key);
            self.log(Level::Info, &format!("rented pod {id} ({name}) on node {} at ${price:.2}/h ({}); waiting until it is ready", node.id, s.ttl_words()));
            match self.wait_ready(&s, &api, &id)? {
                Wait::Ready(pod, ep) => {
                    self.log(Level::Info, &format!("pod {id} is RUNNING and answers ssh at {}", ep.words()));
                    return Ok(self.identity(&s, node, &pod, &ep, rented_at));
                }
                Wait::Terminal(words) => {
                    let removal = self.removal_words(&s, &api, &id);
                    return Err(TransportError::Failed(format!("pod {id} on node {} failed before it was ready: {words}; {removal}", node.id)));
                }
                Wait::Vanished(words) => {
                    return Err(TransportError::Failed(format!("pod {id} on node {} vanished before it was ready: {words}", node.id)));
                }
                Wait::NotReady(detail) => {
                    let why = format!("pod {id} on node {} was not ready within {}={} s ({detail})", node.id, settings::READY_TIMEOUT, s.ready_timeout_s);
                    match self.remove(&s, &api, &id) {
                        Ok(_) => {}
                        Err(e) => return Err(TransportError::Failed(format!("{why}, and deleting it failed: {e}"))),
                    }
                    unready.push(format!("{why}; deleted, gone from the listing"));
                    if ready_left == 0 {
                        return Err(TransportError::Failed(format!(
                            "no pod got ready: {}; {}={} replacement(s) used. Raise {} or {}, or choose another node",
                            unready.join("; "),
                            settings::READY_RETRIES,
                            s.ready_retries,
                            settings::READY_TIMEOUT,
                            settings::READY_RETRIES
                        )));
                    }
                    ready_left -= 1;
                    self.log(Level::Warn, &format!("{why}; it was deleted (confirmed) and another pod is rented ({} of {})", s.ready_retries - ready_left, s.ready_retries));
                }
            }
        }
    }

    /// `status`: see the module documentation.
    fn status(&self, target: &str) -> Result<PodReport, TransportError> {
        let id = Self::pod_id(target)?;
        // A pod this flow deleted and saw leave the listing is not asked about again (the
        // gateway's read after a delete would cost a pod read and an events read).
        if let Some(seen) = self.host.memo_get(&format!("gone:{id}")) {
            return Ok(PodReport { state: PodState::Missing, detail: format!("pod {id} was deleted by this flow: Lium stopped listing it after {seen}") });
        }
        let s = self.settings()?;
        let api = self.api(&s)?;
        let row = api.read_opt(&format!("/pods/{id}")).map_err(|e| self.api_err(&s, &format!("reading pod {id}"), e))?;
        let report = |state, detail: String| Ok(PodReport { state, detail });
        let Some(pod) = row.as_ref().and_then(Pod::from_row) else {
            return report(PodState::Missing, format!("Lium does not list pod {id} (deleted, removed at its LIUM_TTL, or never rented); last events: {}", self.events(&api, &id)));
        };
        match pod.phase() {
            Phase::Starting => report(PodState::Starting, format!("pod {id} is {}{}", pod.status, pod.progress.map(|p| format!(" ({p})")).unwrap_or_default())),
            Phase::Deleting => report(PodState::Missing, format!("pod {id} is being deleted")),
            Phase::Terminal => Err(TransportError::Failed(format!(
                "pod {id} is {}: it will never run ({}); delete it with `wfhost pod-delete --target {id} --yes`",
                pod.status,
                self.events(&api, &id)
            ))),
            Phase::Running => match &pod.endpoint {
                None => report(PodState::Starting, format!("pod {id} is RUNNING without an ssh endpoint yet")),
                Some(ep) => {
                    self.remember(&id, ep);
                    match self.probe(&s, &id, ep) {
                        Ok(()) => report(PodState::Ready, format!("pod {id} is RUNNING ({}), ssh {} answers", pod.machine_name, ep.words())),
                        Err(why) => report(PodState::Starting, format!("pod {id}: {why}")),
                    }
                }
            },
        }
    }

    /// `resolve-path`: the pod's own paths; absolute normalised paths only.
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, TransportError> {
        Self::pod_id(target)?;
        normalize_abs_path(path).map_err(|e| TransportError::Invalid(format!("remote path {path:?} refused: {e}")))
    }

    /// `exec`: the ssh client's, on the pod.
    fn exec(&self, target: &str, spec: &ExecSpec) -> Result<CommandResult, TransportError> {
        self.on_pod(target, |ssh, dest| ssh.exec(dest, spec))
    }

    /// `put-file`.
    fn put_file(&self, target: &str, path: &str, contents: Vec<u8>, mode: u32) -> Result<(), TransportError> {
        self.on_pod(target, |ssh, dest| ssh.put_file(dest, path, contents, mode))
    }

    /// `get-file`.
    fn get_file(&self, target: &str, path: &str, max_bytes: u64) -> Result<Vec<u8>, TransportError> {
        self.on_pod(target, |ssh, dest| ssh.get_file(dest, path, max_bytes))
    }

    /// `fetch-command`: the ssh client's tar stream from the pod.
    fn fetch_command(&self, target: &str, remote_dir: &str) -> Result<FetchSource, TransportError> {
        self.on_pod(target, |ssh, dest| ssh.fetch_command(dest, remote_dir))
    }

    /// `fetch-ended`: judged by the ssh client.
    fn fetch_ended(&self, target: &str, remote_dir: &str, ended: &CommandResult) -> Result<(), TransportError> {
        self.on_pod(target, |ssh, dest| ssh.fetch_ended(dest, remote_dir, ended))
    }

    /// `delete`: DELETE, then list until the pod is gone; `vanished` when Lium did not know it.
    fn delete(&self, target: &str) -> Result<(), TransportError> {
        let id = Self::pod_id(target)?;
        let s = self.settings()?;
        let api = self.api(&s)?;
        match self.remove(&s, &api, &id)? {
            Removal::AlreadyGone => Err(TransportError::Vanished(format!("Lium did not know pod {id} (HTTP 404) and does not list it: it was already deleted"))),
            Removal::Gone { listings, ms } => {
                self.log(Level::Info, &format!("pod {id} is deleted: Lium accepted the DELETE and stopped listing it after {listings} listing(s), {ms} ms"));
                let _ = self.host.memo_set(&format!("gone:{id}"), &format!("{listings} listing(s), {ms} ms"));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
