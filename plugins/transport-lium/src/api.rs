//! The Lium REST API through the host's `http` import.
//!
//! Every request goes to `<LIUM_BASE_URL><path>` with `Accept: application/json`, a JSON body
//! when it has one, and the API key put into `X-API-KEY` by the host from its handle (the key
//! never enters the component). [`Api::read`] is a GET that rides out what a busy service
//! answers: 429 (waiting its `Retry-After`, at most [`MAX_RETRY_AFTER_S`]), 5xx and a lost
//! connection, each with a doubling pause, at most [`READ_ATTEMPTS`] tries in all; anything
//! else comes back at once. [`Api::send`] sends one request as it is (the rent and the delete
//! decide themselves what a failure means). [`error_message`] reads the message out of the
//! API's error bodies (the platform's envelope, FastAPI's `detail`, validation errors).

use serde_json::Value;
use wfhost_pack_sdk::transport::{HttpError, HttpMethod, HttpRequest, HttpResponse, Host, Kv, SecretHeader};

/// The header the API key goes into.
pub const KEY_HEADER: &str = "X-API-KEY";
/// One request's time limit (the official client's).
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Tries of one read, the first included.
pub const READ_ATTEMPTS: u32 = 6;
/// The longest `Retry-After` honoured; a longer one is waited for this long.
pub const MAX_RETRY_AFTER_S: u64 = 30;
/// The longest pause between two tries of a read without `Retry-After`.
pub const MAX_BACKOFF_MS: u64 = 8_000;

/// Why a call gave no usable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The API answered with a status that is not 2xx: the status, the message of its body and
    /// its error code (`error.code`), when it has one.
    Status { status: u16, message: String, code: Option<String> },
    /// No answer: the host refused the request, or the connection failed or timed out.
    Http(HttpError),
    /// A 2xx whose body is not JSON.
    Body(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Status { status, message, .. } => write!(f, "HTTP {status}: {message}"),
            CallError::Http(e) => write!(f, "{e}"),
            CallError::Body(m) => write!(f, "{m}"),
        }
    }
}

impl CallError {
    /// The status, when the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether a read may be tried again: 429, 5xx, or no answer (but never a host refusal).
    pub fn transient(&self) -> bool {
        match self {
            CallError::Status { status, .. } => *status == 429 || *status >= 500,
            CallError::Http(HttpError::Refused(_) | HttpError::TooLarge(_)) => false,
            CallError::Http(_) => true,
            CallError::Body(_) => false,
        }
    }
}

/// The message of an error body, in the official client's order: `validation_errors`, then
/// `detail[0].msg`, then the envelope's `error.message`, then `detail` or `message`; the raw
/// text (cut) when the body is not JSON.
pub fn error_message(body: &[u8]) -> (String, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text: String = String::from_utf8_lossy(body).chars().filter(|c| !c.is_control()).take(200).collect();
        return (if text.trim().is_empty() { "no error body".into() } else { text }, None);
    };
    let code = v.pointer("/error/code").and_then(Value::as_str).map(str::to_string);
    let text = |v: &Value| v.as_str().map(str::to_string);
    let message = v
        .get("validation_errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|e| Some(format!("{}: {}", e.get("field")?.as_str()?, e.get("message")?.as_str()?)))
        .or_else(|| v.pointer("/detail/0/msg").and_then(text))
        .or_else(|| v.pointer("/error/message").and_then(text))
        .or_else(|| v.pointer("/detail/message").and_then(text))
        .or_else(|| v.get("detail").and_then(text))
        .or_else(|| v.get("message").and_then(text))
        .unwrap_or_else(|| v.to_string().chars().take(200).collect());
    (message, code)
}

/// The `Retry-After` of a response, in whole seconds (the HTTP-date form is not read).
pub fn retry_after(r: &HttpResponse) -> Option<u64> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// The API of one base URL and key, over a host.
pub struct Api<'a, H: Host> {
    host: &'a H,
    base: &'a str,
    key_handle: &'a str,
    sleep: &'a dyn Fn(u64),
}

impl<'a, H: Host> Api<'a, H> {
    /// The API at `base` (no trailing slash), the key by `key_handle`, pausing with `sleep`
    /// (milliseconds).
    pub fn new(host: &'a H, base: &'a str, key_handle: &'a str, sleep: &'a dyn Fn(u64)) -> Self {
        Api { host, base, key_handle, sleep }
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Send one request as it is. A side effect (`method` other than GET) carries
    /// `idempotency_key` when given (the host derives one otherwise).
    pub fn send(
        &self,
        method: HttpMethod,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<HttpResponse, HttpError> {
        let mut headers: Vec<Kv> = vec![("Accept".into(), "application/json".into())];
        if body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let request = HttpRequest {
            method,
            url: self.url(path),
            headers,
            secret_headers: vec![SecretHeader { name: KEY_HEADER.into(), handle: self.key_handle.into(), prefix: String::new() }],
            body: body.map(|b| b.to_string().into_bytes()),
            timeout_ms: REQUEST_TIMEOUT_MS,
            side_effect: method != HttpMethod::Get,
            idempotency_key: idempotency_key.map(str::to_string),
        };
        self.host.http(&request)
    }

    /// Judge one answer: the JSON body of a 2xx, else the error.
    pub fn judge(answer: Result<HttpResponse, HttpError>) -> Result<Value, CallError> {
        let r = answer.map_err(CallError::Http)?;
        if (200..300).contains(&r.status) {
            return serde_json::from_slice(&r.body).map_err(|e| CallError::Body(format!("HTTP {} with a body that is not JSON ({e})", r.status)));
        }
        let (message, code) = error_message(&r.body);
        Err(CallError::Status { status: r.status, message, code })
    }

    /// GET `path`, riding out 429, 5xx and lost connections (see the module documentation).
    pub fn read(&self, path: &str) -> Result<Value, CallError> {
        let mut pause_ms = 1_000;
        let mut attempt = 1;
        loop {
            let answer = self.send(HttpMethod::Get, path, None, None);
            let wait = answer.as_ref().ok().filter(|r| r.status == 429).and_then(retry_after);
            match Self::judge(answer) {
                Err(e) if e.transient() && attempt < READ_ATTEMPTS => {
                    let ms = match wait {
                        Some(s) => s.min(MAX_RETRY_AFTER_S).saturating_mul(1000).max(100),
                        None => pause_ms,
                    };
                    self.host.log(
                        wfhost_pack_sdk::transport::Level::Debug,
                        &format!("GET {path}: {e}; trying again in {ms} ms ({attempt} of {READ_ATTEMPTS})"),
                    );
                    (self.sleep)(ms);
                    pause_ms = (pause_ms * 2).min(MAX_BACKOFF_MS);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// GET `path` where 404 means "there is none": `Ok(None)`.
    pub fn read_opt(&self, path: &str) -> Result<Option<Value>, CallError> {
        match self.read(path) {
            Ok(v) => Ok(Some(v)),
            Err(CallError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_read_from_every_body_shape() {
        let m = |b: &str| error_message(b.as_bytes());
        assert_eq!(m(r#"{"detail":"Can't rent node. Try again later."}"#).0, "Can't rent node. Try again later.");
        assert_eq!(m(r#"{"detail":[{"loc":["body"],"msg":"Field required","type":"missing"}]}"#).0, "Field required");
        let (msg, code) = m(r#"{"success":false,"error":{"code":"insufficient_balance","message":"Insufficient balance.","hint":null},"message":"x","status_code":403}"#);
        assert_eq!((msg.as_str(), code.as_deref()), ("Insufficient balance.", Some("insufficient_balance")));
        assert_eq!(m(r#"{"message":"m","validation_errors":[{"field":"pod_name","message":"too long"}]}"#).0, "pod_name: too long");
        assert_eq!(m(r#"{"message":"plain"}"#).0, "plain");
        assert_eq!(m("<html>Bad Gateway</html>\n").0, "<html>Bad Gateway</html>");
        assert_eq!(m("").0, "no error body");
    }

    #[test]
    fn what_a_read_may_try_again() {
        let st = |s: u16| CallError::Status { status: s, message: String::new(), code: None };
        assert!(st(429).transient() && st(503).transient() && st(500).transient());
        assert!(!st(404).transient() && !st(401).transient() && !st(400).transient());
        assert!(CallError::Http(HttpError::Timeout("t".into())).transient());
        assert!(CallError::Http(HttpError::Unreachable("u".into())).transient());
        assert!(!CallError::Http(HttpError::Refused("r".into())).transient());
        let r = HttpResponse { status: 429, headers: vec![("Retry-After".into(), " 3 ".into())], body: vec![] };
        assert_eq!(retry_after(&r), Some(3));
    }
}
