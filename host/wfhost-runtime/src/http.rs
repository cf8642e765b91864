//! Sending HTTP requests for transports (the policy behind `wfhost:plugin/http`), as
//! [`crate::process`] runs host programs for them.
//!
//! [`HttpClient::send`] enforces the policy on every request, before anything leaves the host:
//!
//! - the URL is `https://` (plain `http://` only to a loopback host: 127.0.0.0/8, `::1`,
//!   `localhost`), carries no user name or password, names a host the transport's profile
//!   declares ([`HttpPolicy::declared_hosts`]) AND lies under a base URL the config allows
//!   ([`HttpPolicy::allowed_bases`]: same scheme, host and port, and the path under the base's);
//! - headers are checked: a component may not set `Host`, `Content-Length`,
//!   `Transfer-Encoding`, `Connection` or any header a secret goes into, and names and values
//!   must be valid HTTP;
//! - secrets go into a header by handle (a `secret-header`): the value comes from the
//!   [`SecretResolver`] (each issuance recorded by resolvers that keep custody), the component
//!   only names the handle, and the value is scrubbed from the response's headers and body
//!   before they are returned (an API that echoes the header back leaks nothing);
//! - every request has a timeout (connect: [`HttpPolicy::connect_timeout`]; whole request: the
//!   request's own, at most [`HttpPolicy::max_timeout`]), no proxy from the environment, no
//!   redirect followed (a 3xx comes back as it is), and a response body over
//!   [`HttpPolicy::max_response_bytes`] is refused as too large, never cut.
//!
//! Whether a side effect may be sent (a request the transport marks as one, and every POST, PUT,
//! PATCH or DELETE: [`HttpRequestRecord::is_side_effect`]) is the caller's decision: the flow engine
//! checks its grants and records the call. The client is [`ureq`] with rustls and the webpki roots.

use crate::process::{redact, SecretResolver, REDACTED};
use crate::types::{HttpMethod, HttpRequestRecord, HttpResponseRecord, Kv, WitHttpError};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use ureq::http::Uri;

/// Headers a component may not set: the host sets them, or they would change framing.
const RESERVED_HEADERS: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];
/// Secret values shorter than this are not scrubbed (too likely to mangle a response).
const MIN_SCRUBBED_SECRET: usize = 4;

impl HttpMethod {
    /// GET and HEAD: reads; the others are external side effects.
    pub fn is_read(self) -> bool {
        matches!(self, HttpMethod::Get | HttpMethod::Head)
    }

    /// `GET`, `HEAD`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

impl HttpRequestRecord {
    /// Whether the request is an external side effect: marked so by the transport, or any
    /// method but GET and HEAD (a transport cannot make a POST a read by not marking it).
    pub fn is_side_effect(&self) -> bool {
        self.side_effect || !self.method.is_read()
    }
}

impl WitHttpError {
    /// `<kind>: <message>` (the generated `Display` shows the Rust form).
    pub fn text(&self) -> String {
        let (kind, message) = match self {
            WitHttpError::Refused(m) => ("refused", m),
            WitHttpError::Unreachable(m) => ("unreachable", m),
            WitHttpError::Timeout(m) => ("timeout", m),
            WitHttpError::TooLarge(m) => ("too large", m),
            WitHttpError::Failed(m) => ("failed", m),
        };
        format!("{kind}: {message}")
    }
}

/// What a client allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPolicy {
    /// Host names the transport's profile declares (`http_hosts`), lowercase.
    pub declared_hosts: BTreeSet<String>,
    /// Base URLs the config allows, e.g. `https://api.example.com/v1`.
    pub allowed_bases: Vec<String>,
    /// Time to connect (TCP and TLS).
    pub connect_timeout: Duration,
    /// Upper bound on any request's timeout.
    pub max_timeout: Duration,
    /// Largest response body returned.
    pub max_response_bytes: u64,
    /// Largest request body sent.
    pub max_request_bytes: usize,
    /// The secret handles a request may carry, each with the one header it may go into (names
    /// compared without case); `None` puts no limit beyond the resolver's knowing the handle.
    pub secret_headers: Option<BTreeMap<String, String>>,
    /// Where the hosts and grants are declared, for refusals (`the transport's profile`, or
    /// `pack acme@1.0.0's pack.json`).
    pub declared_in: String,
    /// The config keys the allowed base URLs come from, for refusals (`LIUM_BASE_URL`).
    pub base_url_keys: Vec<String>,
}

impl HttpPolicy {
    /// A policy for `hosts` and `bases` with the default bounds: 10 s to connect, 120 s per
    /// request at most, 8 MiB responses and 1 MiB requests.
    pub fn new<H, B>(hosts: H, bases: B) -> HttpPolicy
    where
        H: IntoIterator,
        H::Item: AsRef<str>,
        B: IntoIterator,
        B::Item: Into<String>,
    {
        HttpPolicy {
            declared_hosts: hosts.into_iter().map(|h| h.as_ref().to_ascii_lowercase()).collect(),
            allowed_bases: bases.into_iter().map(Into::into).collect(),
            connect_timeout: Duration::from_secs(10),
            max_timeout: Duration::from_secs(120),
            max_response_bytes: 8 * 1024 * 1024,
            max_request_bytes: 1024 * 1024,
            secret_headers: None,
            declared_in: "the transport's profile".to_string(),
            base_url_keys: Vec::new(),
        }
    }

    /// The same policy, its refusals naming where its hosts are declared and the config keys
    /// its base URLs come from.
    pub fn described(mut self, declared_in: impl Into<String>, base_url_keys: &[String]) -> HttpPolicy {
        self.declared_in = declared_in.into();
        self.base_url_keys = base_url_keys.to_vec();
        self
    }

    /// The same policy, letting secrets go only into the headers `grants` names (handle →
    /// header): any other handle, or a granted one in another header, is refused.
    pub fn with_secret_headers<I, K, V>(mut self, grants: I) -> HttpPolicy
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.secret_headers = Some(grants.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }
}

/// A URL's scheme, host and port (the port filled in from the scheme), and path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

impl Origin {
    fn parse(url: &str) -> Result<Origin, String> {
        let uri: Uri = url.parse().map_err(|e| format!("{url:?} is not a URL ({e})"))?;
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            "" => return Err(format!("{url:?} is not an absolute URL")),
            other => return Err(format!("{url:?}: scheme {other} is not http or https")),
        };
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        if authority.contains('@') {
            return Err(format!("{url:?} carries a user name or password; put credentials in a secret header"));
        }
        let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        Ok(Origin { scheme, host, port: uri.port_u16().unwrap_or(default_port), path: uri.path().to_string() })
    }

    fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether this URL lies under `base`: same scheme, host and port, path at or below.
    fn under(&self, base: &Origin) -> bool {
        let prefix = base.path.trim_end_matches('/');
        self.scheme == base.scheme
            && self.host == base.host
            && self.port == base.port
            && (prefix.is_empty()
                || self.path == prefix
                || self.path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')))
    }
}

/// Sends requests under an [`HttpPolicy`].
#[derive(Clone)]
pub struct HttpClient {
    policy: HttpPolicy,
    secrets: Arc<dyn SecretResolver>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client with a policy and a secret resolver.
    pub fn new(policy: HttpPolicy, secrets: Arc<dyn SecretResolver>) -> HttpClient {
        HttpClient { policy, secrets }
    }

    /// The policy.
    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    /// Check `request` against the policy without sending it: the refusal, if any.
    pub fn check(&self, request: &HttpRequestRecord) -> Result<(), WitHttpError> {
        let origin = Origin::parse(&request.url).map_err(WitHttpError::Refused)?;
        let refused = |why: String| Err(WitHttpError::Refused(why));
        if origin.scheme != "https" && !origin.is_loopback() {
            return refused(format!("{}: plain http is allowed only to a loopback host; use https", request.url));
        }
        if !self.policy.declared_hosts.contains(&origin.host) {
            let declared: Vec<&str> = self.policy.declared_hosts.iter().map(String::as_str).collect();
            return refused(format!(
                "host {} is not among the hosts {} declares ({}); declare it under http_hosts",
                origin.host,
                self.policy.declared_in,
                if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
            ));
        }
        let bases: Vec<Origin> = self.policy.allowed_bases.iter().filter_map(|b| Origin::parse(b).ok()).collect();
        if !bases.iter().any(|b| origin.under(b)) {
            let keys = if self.policy.base_url_keys.is_empty() { "the transport's base URL key".to_string() } else { self.policy.base_url_keys.join(" or ") };
            return refused(format!(
                "{} is under no base URL the config allows ({}); to call it, set {keys} to a base URL it lies under",
                request.url,
                if self.policy.allowed_bases.is_empty() { "none".to_string() } else { self.policy.allowed_bases.join(", ") }
            ));
        }
        if request.timeout_ms == 0 {
            return refused("every request needs a timeout; timeout-ms must be greater than 0".into());
        }
        if request.method.is_read() && request.body.is_some() {
            return refused(format!("a {} request carries no body", request.method.as_str()));
        }
        if request.body.as_ref().is_some_and(|b| b.len() > self.policy.max_request_bytes) {
            return refused(format!("the request body is over {} bytes", self.policy.max_request_bytes));
        }
        if let Some(grants) = &self.policy.secret_headers {
            for s in &request.secret_headers {
                match grants.get(&s.handle) {
                    Some(allowed) if allowed.eq_ignore_ascii_case(&s.name) => {}
                    Some(allowed) => return refused(format!("secret handle {:?} may go only into header {allowed}, not {}", s.handle, s.name)),
                    None => {
                        return refused(format!(
                            "secret handle {:?} may not go into an HTTP request: {} grants it no http_header",
                            s.handle, self.policy.declared_in
                        ))
                    }
                }
            }
        }
        let secret_names: Vec<String> = request.secret_headers.iter().map(|s| s.name.to_ascii_lowercase()).collect();
        for Kv { key: name, .. } in &request.headers {
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) || lower == "idempotency-key" {
                return refused(format!("header {name:?} is set by the host"));
            }
            if secret_names.contains(&lower) {
                return refused(format!("header {name:?} carries a secret; it cannot also be set in clear"));
            }
        }
        Ok(())
    }

    /// Check and send one request; the response with every secret value it carried scrubbed.
    pub fn send(&self, request: &HttpRequestRecord) -> Result<HttpResponseRecord, WitHttpError> {
        self.check(request)?;
        let mut builder = ureq::http::Request::builder().method(request.method.as_str()).uri(&request.url);
        for Kv { key, value } in &request.headers {
            builder = builder.header(key, value);
        }
        let host = Origin::parse(&request.url).map(|o| o.host).unwrap_or_default();
        let mut secrets = Vec::new();
        for s in &request.secret_headers {
            let value = self.secrets.issue_header(&s.handle, &s.name, &host).ok_or_else(|| {
                WitHttpError::Refused(format!("secret handle {:?} (for header {}) is not known to the host; configure the secret first", s.handle, s.name))
            })?;
            builder = builder.header(&s.name, format!("{}{value}", s.prefix));
            if value.len() >= MIN_SCRUBBED_SECRET {
                secrets.push(value);
            }
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        let timeout = Duration::from_millis(request.timeout_ms).min(self.policy.max_timeout);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(self.policy.connect_timeout.min(timeout)))
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .build()
            .into();
        let bad_header = |e: ureq::http::Error| WitHttpError::Refused(format!("a header or the URL is not valid HTTP ({e})"));
        let sent = match &request.body {
            Some(body) => agent.run(builder.body(body.clone()).map_err(bad_header)?),
            None => agent.run(builder.body(()).map_err(bad_header)?),
        };
        let mut response = sent.map_err(|e| error_of(e, timeout))?;
        let status = response.status().as_u16();
        let headers: Vec<Kv> = response
            .headers()
            .iter()
            .map(|(n, v)| Kv { key: n.as_str().to_string(), value: String::from_utf8_lossy(v.as_bytes()).into_owned() })
            .collect();
        let cap = self.policy.max_response_bytes;
        let mut body = Vec::new();
        response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(cap.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::TimedOut => WitHttpError::Timeout(format!("the response was not read within {} ms", timeout.as_millis())),
                _ => WitHttpError::Failed(format!("reading the response failed: {e}")),
            })?;
        if body.len() as u64 > cap {
            return Err(WitHttpError::TooLarge(format!("the response body of {} is over the {cap}-byte cap", request.url)));
        }
        Ok(scrub(HttpResponseRecord { status, headers, body }, &secrets))
    }
}

/// The response with every occurrence of each secret value replaced by [`REDACTED`].
fn scrub(mut response: HttpResponseRecord, secrets: &[String]) -> HttpResponseRecord {
    for secret in secrets {
        response.body = redact(&response.body, secret.as_bytes());
        for Kv { value, .. } in &mut response.headers {
            if value.contains(secret.as_str()) {
                *value = value.replace(secret.as_str(), REDACTED);
            }
        }
    }
    response
}

fn error_of(e: ureq::Error, timeout: Duration) -> WitHttpError {
    match e {
        ureq::Error::Timeout(_) => WitHttpError::Timeout(format!("no complete answer within {} ms", timeout.as_millis())),
        ureq::Error::HostNotFound => WitHttpError::Unreachable("the host name does not resolve".into()),
        ureq::Error::ConnectionFailed => WitHttpError::Unreachable("the connection failed".into()),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            WitHttpError::Timeout(format!("no complete answer within {} ms", timeout.as_millis()))
        }
        ureq::Error::Io(io) => WitHttpError::Unreachable(format!("{io}")),
        ureq::Error::Tls(m) => WitHttpError::Unreachable(format!("TLS: {m}")),
        ureq::Error::Rustls(e) => WitHttpError::Unreachable(format!("TLS: {e}")),
        other => WitHttpError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_under_a_base_by_scheme_host_port_and_whole_path_segments() {
        let base = Origin::parse("https://api.example.com/v1").unwrap();
        let under = |url: &str| Origin::parse(url).unwrap().under(&base);
        assert!(under("https://api.example.com/v1"));
        assert!(under("https://API.example.com:443/v1/pods?x=1"));
        assert!(!under("https://api.example.com/v10/pods"));
        assert!(!under("https://api.example.com/"));
        assert!(!under("http://api.example.com/v1/pods"));
        assert!(!under("https://api.example.com:8443/v1/pods"));
        assert!(!under("https://api.example.com.evil/v1"));
        let root = Origin::parse("http://127.0.0.1:8080").unwrap();
        assert!(Origin::parse("http://127.0.0.1:8080/anything").unwrap().under(&root));
        assert!(Origin::parse("http://[::1]:9/").unwrap().is_loopback());
        assert!(!Origin::parse("http://10.0.0.1/").unwrap().is_loopback());
        assert!(Origin::parse("https://user:pw@api.example.com/").unwrap_err().contains("password"));
        assert!(Origin::parse("ftp://x/").unwrap_err().contains("not http"));
        assert!(Origin::parse("/relative").is_err());
    }

    #[test]
    fn scrubbing_replaces_the_value_in_headers_and_body() {
        let r = HttpResponseRecord {
            status: 200,
            headers: vec![Kv { key: "x-echo".into(), value: "Bearer s3cr3t-key".into() }],
            body: b"{\"auth\":\"Bearer s3cr3t-key\"}".to_vec(),
        };
        let r = scrub(r, &["s3cr3t-key".to_string()]);
        assert_eq!(r.headers[0].value, "Bearer [redacted]");
        assert_eq!(r.body, b"{\"auth\":\"Bearer [redacted]\"}".to_vec());
    }

    #[test]
    fn a_secret_goes_only_into_the_header_its_grant_names() {
        use crate::process::NoSecrets;
        use crate::types::HttpSecretHeader;
        let policy = HttpPolicy::new(["127.0.0.1"], ["http://127.0.0.1:9/api"]).with_secret_headers([("api_key", "X-API-KEY")]);
        let client = HttpClient::new(policy, Arc::new(NoSecrets));
        let request = |name: &str, handle: &str| HttpRequestRecord {
            method: HttpMethod::Get,
            url: "http://127.0.0.1:9/api/pods".into(),
            headers: Vec::new(),
            secret_headers: vec![HttpSecretHeader { name: name.into(), handle: handle.into(), prefix: String::new() }],
            body: None,
            timeout_ms: 1000,
            side_effect: false,
            idempotency_key: None,
        };
        assert!(client.check(&request("x-api-key", "api_key")).is_ok());
        let refused = |r: HttpRequestRecord| match client.check(&r) {
            Err(WitHttpError::Refused(m)) => m,
            other => panic!("not refused: {other:?}"),
        };
        assert!(refused(request("X-Echo", "api_key")).contains("may go only into header X-API-KEY, not X-Echo"));
        assert!(refused(request("X-API-KEY", "ssh_identity")).contains("grants it no http_header"));
    }
}
