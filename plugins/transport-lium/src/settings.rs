//! The lium transport's settings, read from the host and checked once per call.
//!
//! The host hands the transport the config keys its profile names (defaults applied by the
//! host, uint and decimal keys already checked against their ranges) and the names of two
//! secret handles: the API key's and the ssh identity's. [`Settings::read`] turns them into
//! typed values and refuses, as [`TransportError::Invalid`] naming the key, anything a later
//! call would refuse: a base URL that is not https (or plain http to loopback), a LIUM_TTL that
//! is not 1 to [`MAX_TTL_HOURS`] or `none`, an executor or template id that is not a UUID, a
//! missing API key or identity.
//!
//! [`Settings::ready_budget_warning`] (P00) compares the longest P10 the ready waits allow with
//! P10's budget: WF_PHASE_TIMEOUT_P10 when the host passes it, else P10's `timeout_secs`, which
//! `build.rs` reads from `constitution/phases.toml` ([`P10_TIMEOUT_SECS`]).

use wfhost_pack_sdk::transport::TransportError;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/phase_budget.rs"));
}
pub use generated::P10_TIMEOUT_SECS;

/// Setting: the API's base URL.
pub const BASE_URL: &str = "LIUM_BASE_URL";
/// Setting: the handle of the API key (present only when LIUM_API_KEY is set).
pub const API_KEY_HANDLE: &str = "LIUM_API_KEY_HANDLE";
/// The config key of the API key (named in messages only).
pub const API_KEY: &str = "LIUM_API_KEY";
/// Setting: the node to rent.
pub const EXECUTOR_ID: &str = "LIUM_EXECUTOR_ID";
/// Setting: the GPU model filter.
pub const GPU: &str = "LIUM_GPU";
/// Setting: GPUs per pod.
pub const COUNT: &str = "LIUM_COUNT";
/// Setting: the country filter.
pub const COUNTRY: &str = "LIUM_COUNTRY";
/// Setting: the price cap in USD per hour.
pub const MAX_PRICE: &str = "LIUM_MAX_PRICE_PER_HOUR";
/// Setting: the server-side time limit in hours, or `none`.
pub const TTL: &str = "LIUM_TTL";
/// Setting: how many unready pods P10 replaces.
pub const READY_RETRIES: &str = "LIUM_READY_RETRIES";
/// Setting: the template to run.
pub const TEMPLATE_ID: &str = "LIUM_TEMPLATE_ID";
/// Setting: how long a deletion is confirmed for.
pub const DELETE_CONFIRM: &str = "LIUM_DELETE_CONFIRM_SECS";
/// Setting: the known_hosts file of the per-pod host key pins.
pub const KNOWN_HOSTS: &str = "LIUM_KNOWN_HOSTS";
/// Setting: how long one pod may take to get ready.
pub const READY_TIMEOUT: &str = "WF_POD_READY_TIMEOUT_SECS";
/// The config key of the ssh identity (named in messages only).
pub const IDENTITY: &str = "WF_SSH_IDENTITY";
/// Setting: P10's budget in seconds, when the config sets it (else [`P10_TIMEOUT_SECS`]).
pub const P10_TIMEOUT: &str = "WF_PHASE_TIMEOUT_P10";
/// The time one rent may take besides its ready wait (the reads, the rent and its safety net,
/// each bounded by one request's time limit), for [`Settings::ready_budget_warning`].
pub const RENT_MARGIN_S: u64 = crate::api::REQUEST_TIMEOUT_MS / 1000;
/// The largest `termination_hours` the API accepts.
pub const MAX_TTL_HOURS: u32 = 720;

/// What the transport runs with, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The API's base URL, without a trailing slash.
    pub base_url: String,
    /// The API key's handle.
    pub api_key_handle: Option<String>,
    /// The ssh identity's handle.
    pub identity_handle: Option<String>,
    /// The node to rent (a UUID, lowercase).
    pub executor_id: Option<String>,
    /// GPU model filter (lowercase).
    pub gpu: Option<String>,
    /// GPUs per pod.
    pub count: u32,
    /// Country filter (lowercase).
    pub country: Option<String>,
    /// Price cap, USD per hour.
    pub max_price: f64,
    /// Server-side time limit in hours; `None` = explicitly none.
    pub ttl_hours: Option<u32>,
    /// Unready pods P10 replaces.
    pub ready_retries: u32,
    /// Seconds one pod may take to get ready.
    pub ready_timeout_s: u64,
    /// The template to run.
    pub template_id: Option<String>,
    /// Seconds a deletion is confirmed for.
    pub delete_confirm_s: u64,
    /// The known_hosts file of the pins (absolute; the host made it so).
    pub known_hosts: Option<String>,
    /// P10's budget in seconds, and whether the config set it (WF_PHASE_TIMEOUT_P10).
    pub p10_budget_s: (u64, bool),
}

fn invalid(key: &str, value: &str, why: &str) -> TransportError {
    TransportError::Invalid(format!("{key}={value:?} is refused: {why}"))
}

/// Whether `s` is a UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `host` (lowercase, brackets stripped) is a loopback host.
fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// Check a base URL: `https://host[:port][/path]`, or `http://` to a loopback host; no user
/// name, query or fragment. Returns it without a trailing slash.
pub fn check_base_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").ok_or("it is not an absolute URL (https://...)")?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err("it names no host".into());
    }
    if authority.contains('@') || url.contains(['?', '#', ' ']) {
        return Err("it may carry no user name, query, fragment or space".into());
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("").to_ascii_lowercase()
    } else {
        authority.split(':').next().unwrap_or("").to_ascii_lowercase()
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(url.to_string()),
        "http" if is_loopback(&host) => Ok(url.to_string()),
        "http" => Err("plain http is allowed only to a loopback simulator; use https".into()),
        other => Err(format!("scheme {other} is not https")),
    }
}

/// Read LIUM_TTL: whole hours 1 to [`MAX_TTL_HOURS`], or `none`.
pub fn parse_ttl(raw: &str) -> Result<Option<u32>, String> {
    let v = raw.trim();
    if v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match v.parse::<u32>() {
        Ok(h) if (1..=MAX_TTL_HOURS).contains(&h) => Ok(Some(h)),
        _ => Err(format!(
            "give whole hours from 1 to {MAX_TTL_HOURS} (Lium's termination_hours), or `none` to rent without a server-side time limit"
        )),
    }
}

impl Settings {
    /// Read and check the settings through `get` (the `settings` import).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, TransportError> {
        let opt = |key: &str| get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        // The host applies the vocabulary's defaults, so a number is never unset here.
        let uint = |key: &str| -> Result<u64, TransportError> {
            match opt(key) {
                None => Err(TransportError::Invalid(format!("{key} has no value; set it in the config (constitution/config.toml gives its default and range)"))),
                Some(v) => v.parse().map_err(|_| invalid(key, &v, "it is not a whole number")),
            }
        };
        let base_raw = opt(BASE_URL).ok_or_else(|| {
            TransportError::Invalid(format!("{BASE_URL} is empty; leave it unset for the public API, or name a simulator"))
        })?;
        let base_url = check_base_url(&base_raw).map_err(|why| invalid(BASE_URL, &base_raw, &why))?;
        let uuid = |key: &str| -> Result<Option<String>, TransportError> {
            match opt(key) {
                None => Ok(None),
                Some(v) if is_uuid(&v) => Ok(Some(v.to_ascii_lowercase())),
                Some(v) => Err(invalid(key, &v, "it is not a UUID (8-4-4-4-12 hex digits)")),
            }
        };
        let handle = |key: &str| -> Result<Option<String>, TransportError> {
            match opt(key) {
                None => Ok(None),
                Some(h) if h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => Ok(Some(h)),
                Some(h) => Err(invalid(key, &h, "it is not a secret handle name")),
            }
        };
        let ttl_raw = opt(TTL).ok_or_else(|| {
            TransportError::Invalid(format!("{TTL} is empty; give hours (1 to {MAX_TTL_HOURS}) or `none`"))
        })?;
        let ttl_hours = parse_ttl(&ttl_raw).map_err(|why| invalid(TTL, &ttl_raw, &why))?;
        let max_price = match opt(MAX_PRICE) {
            None => f64::INFINITY,
            Some(v) => match v.parse::<f64>() {
                Ok(p) if p > 0.0 && p.is_finite() => p,
                _ => return Err(invalid(MAX_PRICE, &v, "it is not a positive number of US dollars per hour")),
            },
        };
        let p10_budget_s = match opt(P10_TIMEOUT) {
            Some(v) => (v.parse().map_err(|_| invalid(P10_TIMEOUT, &v, "it is not a whole number of seconds"))?, true),
            None => (P10_TIMEOUT_SECS, false),
        };
        let count = uint(COUNT)?;
        let count = u32::try_from(count).ok().filter(|c| *c >= 1).ok_or_else(|| invalid(COUNT, &count.to_string(), "give 1 or more GPUs"))?;
        Ok(Settings {
            base_url,
            api_key_handle: handle(API_KEY_HANDLE)?,
            identity_handle: handle(wfhost_ssh_client::command::SETTING_IDENTITY_HANDLE)?,
            executor_id: uuid(EXECUTOR_ID)?,
            gpu: opt(GPU).map(|g| g.to_ascii_lowercase()),
            count,
            country: opt(COUNTRY).map(|c| c.to_ascii_lowercase()),
            max_price,
            ttl_hours,
            ready_retries: u32::try_from(uint(READY_RETRIES)?).unwrap_or(u32::MAX),
            ready_timeout_s: uint(READY_TIMEOUT)?.max(1),
            template_id: uuid(TEMPLATE_ID)?,
            delete_confirm_s: uint(DELETE_CONFIRM)?.max(1),
            known_hosts: opt(KNOWN_HOSTS),
            p10_budget_s,
        })
    }

    /// Why P10 may run out of time before it is done with slow pods, or `None` when its waits
    /// fit: each of the 1 + LIUM_READY_RETRIES pods may wait WF_POD_READY_TIMEOUT_SECS (plus
    /// [`RENT_MARGIN_S`] for its rent), and each replaced one LIUM_DELETE_CONFIRM_SECS for its
    /// deletion; over P10's budget the phase is stopped by its timeout instead of replacing
    /// the pod. The words name the keys, the numbers, the budget and what to change (P00 says
    /// them as a warning: a pod is seldom that slow).
    pub fn ready_budget_warning(&self) -> Option<String> {
        let retries = u64::from(self.ready_retries);
        let pods = retries + 1;
        let waits = pods.saturating_mul(self.ready_timeout_s);
        let rents = pods.saturating_mul(RENT_MARGIN_S);
        let deletes = retries.saturating_mul(self.delete_confirm_s);
        let worst = waits.saturating_add(rents).saturating_add(deletes);
        let (budget, set) = self.p10_budget_s;
        if worst <= budget {
            return None;
        }
        let budget_words = if set {
            format!("{P10_TIMEOUT}={budget} s")
        } else {
            format!("{budget} s (P10's timeout_secs in constitution/phases.toml; {P10_TIMEOUT} replaces it)")
        };
        // The longest ready wait that fits with these retries: pods x (T + margin) + deletes.
        let fits = budget.checked_sub(deletes).map(|b| b / pods).and_then(|b| b.checked_sub(RENT_MARGIN_S)).filter(|t| *t >= 1);
        let change = match fits {
            Some(t) => format!("raise {P10_TIMEOUT} to {worst} or more, lower {READY_TIMEOUT} to {t} or less, or lower {READY_RETRIES}"),
            None => format!("raise {P10_TIMEOUT} to {worst} or more, or lower {READY_RETRIES} and {READY_TIMEOUT}"),
        };
        Some(format!(
            "P10 may run out of time before a slow pod is replaced: (1 + {READY_RETRIES}={retries}) x {READY_TIMEOUT}={} s = {waits} s of ready waits, plus {rents} s for the rents and {deletes} s for confirming {retries} deletion(s) ({DELETE_CONFIRM}={}), is {worst} s, more than P10's budget of {budget_words}; P10 would be stopped by its timeout instead of replacing the pod. To fit: {change}",
            self.ready_timeout_s, self.delete_confirm_s
        ))
    }

    /// The API key's handle, or why a call cannot be made without one.
    pub fn api_key(&self) -> Result<&str, TransportError> {
        self.api_key_handle.as_deref().ok_or_else(|| {
            TransportError::Invalid(format!(
                "{API_KEY} is not set: the lium transport needs an API key (from lium.io, Settings > API keys) in the config or the environment"
            ))
        })
    }

    /// The ssh identity's handle, or why a pod cannot be reached without one.
    pub fn identity(&self) -> Result<&str, TransportError> {
        self.identity_handle.as_deref().ok_or_else(|| {
            TransportError::Invalid(format!(
                "{IDENTITY} is not set: the lium transport authorises this private key's public half on the pods it rents and logs in with it; set {IDENTITY} to a key file without a passphrase"
            ))
        })
    }

    /// The TTL in words, for messages.
    pub fn ttl_words(&self) -> String {
        match self.ttl_hours {
            Some(h) => format!("{TTL}={h} h"),
            None => format!("{TTL}=none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, TransportError> {
        let mut m: BTreeMap<String, String> = [
            (BASE_URL, "https://lium.io/api"),
            (TTL, "8"),
            (COUNT, "1"),
            (READY_RETRIES, "1"),
            (READY_TIMEOUT, "60"),
            (DELETE_CONFIRM, "120"),
        ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.to_string());
        }
        Settings::read(|k| m.get(k).cloned())
    }

    fn refusal(pairs: &[(&str, &str)]) -> String {
        match read(pairs) {
            Err(TransportError::Invalid(m)) => m,
            other => panic!("{pairs:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_values_are_read_typed() {
        let s = read(&[]).unwrap();
        assert_eq!(s.base_url, "https://lium.io/api");
        assert_eq!((s.ttl_hours, s.count, s.ready_retries), (Some(8), 1, 1));
        assert!(s.max_price.is_infinite());
        assert!(s.api_key().is_err() && s.identity().is_err());
        let s = read(&[
            (BASE_URL, "http://127.0.0.1:8080/api/"),
            (TTL, "None"),
            (EXECUTOR_ID, "AA11BB22-CC33-4D44-8E55-66778899AABB"),
            (GPU, "H100"),
            (COUNTRY, "DE"),
            (MAX_PRICE, "2.5"),
            (API_KEY_HANDLE, "lium_api_key"),
            (READY_RETRIES, "0"),
        ])
        .unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:8080/api");
        assert_eq!(s.ttl_hours, None);
        assert_eq!(s.executor_id.as_deref(), Some("aa11bb22-cc33-4d44-8e55-66778899aabb"));
        assert_eq!((s.gpu.as_deref(), s.country.as_deref(), s.max_price), (Some("h100"), Some("de"), 2.5));
        assert_eq!((s.api_key().unwrap(), s.ready_retries), ("lium_api_key", 0));
        assert_eq!(s.ttl_words(), "LIUM_TTL=none");
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        for (pairs, key, why) in [
            (vec![(TTL, "0")], TTL, "1 to 720"),
            (vec![(TTL, "721")], TTL, "1 to 720"),
            (vec![(TTL, "1.5")], TTL, "whole hours"),
            (vec![(TTL, " ")], TTL, "empty"),
            (vec![(BASE_URL, "http://lium.io/api")], BASE_URL, "loopback"),
            (vec![(BASE_URL, "ftp://x/api")], BASE_URL, "not https"),
            (vec![(BASE_URL, "lium.io/api")], BASE_URL, "absolute URL"),
            (vec![(BASE_URL, "https://u:p@lium.io/api")], BASE_URL, "user name"),
            (vec![(BASE_URL, "https://lium.io/api?x=1")], BASE_URL, "query"),
            (vec![(EXECUTOR_ID, "node-1")], EXECUTOR_ID, "UUID"),
            (vec![(TEMPLATE_ID, "pytorch")], TEMPLATE_ID, "UUID"),
            (vec![(MAX_PRICE, "-1")], MAX_PRICE, "positive"),
            (vec![(COUNT, "0")], COUNT, "1 or more"),
            (vec![(COUNT, "")], COUNT, "no value"),
            (vec![(API_KEY_HANDLE, "a b")], API_KEY_HANDLE, "handle"),
        ] {
            let m = refusal(&pairs);
            assert!(m.contains(key) && m.contains(why), "{pairs:?}: {m}");
        }
    }

    #[test]
    fn ready_waits_over_p10s_budget_are_named_with_what_to_change() {
        // The defaults fit.
        assert_eq!(read(&[]).unwrap().ready_budget_warning(), None);
        // Two pods waiting P10's whole budget each cannot fit, whatever the table says.
        let budget = P10_TIMEOUT_SECS;
        let t = budget.to_string();
        let s = read(&[(READY_TIMEOUT, &t), (READY_RETRIES, "1"), (DELETE_CONFIRM, "120")]).unwrap();
        assert_eq!(s.p10_budget_s, (budget, false));
        let w = s.ready_budget_warning().expect("a warning");
        let worst = 2 * budget + 2 * RENT_MARGIN_S + 120;
        for part in [
            format!("(1 + {READY_RETRIES}=1) x {READY_TIMEOUT}={budget} s = {} s", 2 * budget),
            format!("{} s for the rents and 120 s for confirming 1 deletion(s) ({DELETE_CONFIRM}=120)", 2 * RENT_MARGIN_S),
            format!("is {worst} s, more than P10's budget of {budget} s (P10's timeout_secs in constitution/phases.toml; {P10_TIMEOUT} replaces it)"),
            format!("raise {P10_TIMEOUT} to {worst} or more"),
            format!("lower {READY_TIMEOUT} to {} or less", (budget - 120) / 2 - RENT_MARGIN_S),
        ] {
            assert!(w.contains(&part), "{part:?} is not in: {w}");
        }
        // The advice is right: the suggested ready wait fits, one second more does not.
        let fit = ((budget - 120) / 2 - RENT_MARGIN_S).to_string();
        assert_eq!(read(&[(READY_TIMEOUT, &fit)]).unwrap().ready_budget_warning(), None);
        let over = ((budget - 120) / 2 - RENT_MARGIN_S + 1).to_string();
        assert!(read(&[(READY_TIMEOUT, &over)]).unwrap().ready_budget_warning().is_some());
        // WF_PHASE_TIMEOUT_P10, when given, is the budget.
        let worst_s = worst.to_string();
        assert_eq!(read(&[(READY_TIMEOUT, &t), (P10_TIMEOUT, &worst_s)]).unwrap().ready_budget_warning(), None);
        let w = read(&[(READY_RETRIES, "0"), (P10_TIMEOUT, "60")]).unwrap().ready_budget_warning().expect("60 + 30 > 60");
        assert!(w.contains(&format!("budget of {P10_TIMEOUT}=60 s")) && w.contains(&format!("(1 + {READY_RETRIES}=0)")), "{w}");
        assert!(w.contains(&format!("raise {P10_TIMEOUT} to {} or more", 60 + RENT_MARGIN_S)) && w.contains(&format!("lower {READY_TIMEOUT} to 30 or less")), "{w}");
        // No ready wait fits: the retries must go.
        let w = read(&[(READY_RETRIES, "5"), (P10_TIMEOUT, "100")]).unwrap().ready_budget_warning().unwrap();
        assert!(w.contains(&format!("or lower {READY_RETRIES} and {READY_TIMEOUT}")), "{w}");
    }

    #[test]
    fn p10s_budget_is_the_phase_tables() {
        // build.rs read it from the table: the P10 row carries exactly this timeout_secs.
        let table = include_str!("../../../constitution/phases.toml");
        let p10 = table.split("[[phase]]").find(|row| row.contains("id = \"P10\"")).expect("a P10 row");
        assert!(p10.lines().any(|l| l.trim() == format!("timeout_secs = {P10_TIMEOUT_SECS}")), "{p10}");
        assert!(matches!(read(&[(P10_TIMEOUT, "soon")]), Err(TransportError::Invalid(m)) if m.contains(P10_TIMEOUT)));
    }

    #[test]
    fn uuids_and_loopback_urls() {
        assert!(is_uuid("aa11bb22-cc33-4d44-8e55-66778899aabb"));
        assert!(!is_uuid("aa11bb22-cc33-4d44-8e55-66778899aab"));
        assert!(!is_uuid("aa11bb22cc33-4d44-8e55-66778899aabbx"));
        assert_eq!(check_base_url("http://[::1]:9/api"), Ok("http://[::1]:9/api".into()));
        assert_eq!(check_base_url("http://localhost/api"), Ok("http://localhost/api".into()));
        assert!(check_base_url("http://10.0.0.1/api").is_err());
    }
}
