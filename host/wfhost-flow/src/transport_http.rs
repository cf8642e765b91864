//! A transport's HTTP requests in a flow: the runtime's client does the sending under the
//! transport's profile (declared hosts, allowed base URLs, HTTPS, timeouts, size cap, secrets by
//! handle, scrubbing); this module adds the flow's side, grants and evidence.
//!
//! ```text
//! http.send ─► no client (the profile declares no host)          ─► refused, gateway.refused
//!           ─► client.check (host, base URL, headers, timeout)   ─► refused, gateway.refused
//!           ─► a read (GET/HEAD not marked side-effect): send      ─► http.read (status or error)
//!           ─► a side effect (marked, or POST/PUT/PATCH/DELETE): the gateway's provision grant
//!              (P10) or delete grant (P90)
//!                 none ─► refused, gateway.refused
//!                 held ─► idempotency key (the component's, else derived) ─► send
//!                      ─► gateway.call (op http, WRITE_EXTERNAL_SIDE_EFFECT, under the grant)
//!                      ─► receipt.side_effect caused by it, when an answer came back
//! ```
//!
//! Evidence names the method and the URL without its query (a query can carry tokens); the
//! response body is never recorded.

use crate::gateway::{class_str, truncate, GatewayShared};
use crate::sink::Sink;
use crate::types::{ActionClass, HttpRequestRecord, HttpResponseRecord, WitHttpError};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use wfhost_audit::records::GatewayCallEntry;
use wfhost_evidence::Actor;
use wfhost_runtime::http::HttpClient;

/// The operation HTTP side effects are recorded under (`gateway.call`, `receipt.side_effect`).
pub const HTTP_OP: &str = "http";

/// Send (or refuse) one request of the transport; every outcome is recorded.
pub(crate) fn send(client: Option<&HttpClient>, gateway: Option<&Arc<GatewayShared>>, sink: &Sink, mut request: HttpRequestRecord) -> Result<HttpResponseRecord, WitHttpError> {
    let started = Instant::now();
    let shown = format!("{} {}", request.method.as_str(), without_query(&request.url));
    let write = request.is_side_effect();
    let refuse = |why: String| {
        let entry = entry(write, false, started, &format!("{shown}: refused: {why}"));
        match gateway {
            Some(g) => {
                g.record_call(entry, true, None, actor());
            }
            None => {
                sink.event_full("gateway.refused", &format!("P00/{HTTP_OP}"), wfhost_audit::records::to_value(&entry), actor(), None);
            }
        }
        Err(WitHttpError::Refused(why))
    };
    let Some(client) = client else {
        return refuse(format!("{shown}: the transport's profile declares no HTTP host (http_hosts)"));
    };
    if let Err(WitHttpError::Refused(why)) = client.check(&request) {
        return refuse(why);
    }
    if !write {
        let answer = client.send(&request);
        sink.event_as("http.read", &format!("http/{shown}"), json!({
            "method": request.method.as_str(),
            "url": without_query(&request.url),
            "status": answer.as_ref().ok().map(|r| r.status),
            "error": answer.as_ref().err().map(|e| truncate(&e.text(), 500)),
            "duration_ms": started.elapsed().as_millis() as u64,
        }), actor());
        return answer;
    }
    let Some(gateway) = gateway else {
        return refuse(format!("an HTTP {} is an external side effect: it runs only under the flow's provision grant (P10) or delete grant (P90), and no phase holds one yet", request.method.as_str()));
    };
    let (cap, approved_by) = match gateway.authorize_http(request.method.as_str()) {
        Ok(granted) => granted,
        Err(why) => return refuse(why),
    };
    let key = match &request.idempotency_key {
        Some(k) => k.clone(),
        None => gateway.idem_key(HTTP_OP, &request.url, &format!("{}\0{}", request.method.as_str(), wfhost_evidence::hash::sha256_hex(request.body.as_deref().unwrap_or_default()))),
    };
    request.idempotency_key = Some(key.clone());
    let answer = client.send(&request);
    let detail = match &answer {
        Ok(r) => format!("{shown} -> {}", r.status),
        Err(e) => format!("{shown}: {}", e.text()),
    };
    // Before P20 binds a pod (a rent in P10) the call and its receipt both name no target ("").
    let target = gateway.bound().unwrap_or_default();
    let mut e = entry(true, answer.is_ok(), started, &detail);
    e.target = Some(target.clone());
    let call = gateway.record_call(e, false, Some(&cap), actor());
    // An answer came back: the side effect (whatever its status) may have taken place.
    if answer.is_ok() {
        gateway.receipt(call, HTTP_OP, &target, &key, approved_by, &detail, Some(&cap));
    }
    answer
}

fn actor() -> Actor {
    Actor::new("plugin", "transport")
}

fn entry(write: bool, ok: bool, started: Instant, detail: &str) -> GatewayCallEntry {
    GatewayCallEntry {
        op: HTTP_OP.to_string(),
        target: None,
        class: class_str(if write { ActionClass::WriteExternalSideEffect } else { ActionClass::Read }).to_string(),
        ok,
        duration_ms: started.elapsed().as_millis() as u64,
        detail: truncate(detail, 2000),
    }
}

/// `url` without its query and fragment.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::Grant;
    use crate::output::Output;
    use crate::types::{HttpMethod, HttpSecretHeader, Kv};
    use serde_json::Value;
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;
    use std::time::Duration;
    use wfhost_runtime::http::HttpPolicy;

    const CANARY: &str = "sk_canary_flow_8c2f";

    /// A loopback server answering every request 226 `{}`; the request heads it got.
    fn server() -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8).flatten() {
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                while reader.read_line(&mut head).unwrap_or(0) > 2 && !head.ends_with("\r\n\r\n") {}
                seen.lock().expect("lock").push(head.to_ascii_lowercase());
                let _ = reader.get_mut().write_all(b"HTTP/1.1 226 IM Used\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
            }
        });
        (port, heads)
    }

    fn request(method: HttpMethod, url: &str, side_effect: bool) -> HttpRequestRecord {
        HttpRequestRecord {
            method,
            url: url.to_string(),
            headers: vec![Kv { key: "Accept".into(), value: "application/json".into() }],
            secret_headers: vec![HttpSecretHeader { name: "X-API-KEY".into(), handle: "api_key".into(), prefix: String::new() }],
            body: None,
            timeout_ms: 5000,
            side_effect,
            idempotency_key: None,
        }
    }

    fn events(dir: &std::path::Path) -> Vec<Value> {
        let text = std::fs::read_to_string(dir.join(wfhost_audit::layout::EVENTS)).expect("events");
        text.lines().map(|l| serde_json::from_str(l).expect("a record")).collect()
    }

    fn refused(r: Result<HttpResponseRecord, WitHttpError>) -> String {
        match r {
            Err(WitHttpError::Refused(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_refusals_and_side_effects_are_recorded_and_side_effects_need_a_grant() {
        let (port, heads) = server();
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = Sink::create(dir.path(), "flow-http").expect("sink");
        let secrets: BTreeMap<String, String> = [("api_key".to_string(), CANARY.to_string())].into_iter().collect();
        let client = HttpClient::new(HttpPolicy::new(["127.0.0.1"], [format!("http://127.0.0.1:{port}/api")]), Arc::new(secrets));
        let gateway = Arc::new(GatewayShared::new("flow-http".into(), dir.path().into(), dir.path().join("pod_logs"), sink.clone(), Output::to_writer(Box::new(std::io::sink()))));
        let pods = format!("http://127.0.0.1:{port}/api/pods");

        // A transport whose profile declares no host gets no HTTP at all.
        let none = refused(send(None, None, &sink, request(HttpMethod::Get, &pods, false)));
        assert!(none.contains("declares no HTTP host"), "{none}");
        // An undeclared host, before any phase.
        let other = refused(send(Some(&client), None, &sink, request(HttpMethod::Get, &format!("http://localhost:{port}/api/pods"), false)));
        assert!(other.contains("host localhost is not among"), "{other}");
        // A side effect before the gateway exists.
        let early = refused(send(Some(&client), None, &sink, request(HttpMethod::Post, &pods, false)));
        assert!(early.contains("external side effect"), "{early}");

        let constitution = wfhost_constitution::Constitution::get().expect("constitution");
        gateway.begin_phase(constitution.phase("P10").expect("P10"), None, Duration::from_secs(60));
        // In P10 without the provision grant (no consent): POST refused, and a GET the transport
        // marks as a side effect too.
        let post = refused(send(Some(&client), Some(&gateway), &sink, request(HttpMethod::Post, &pods, false)));
        assert!(post.contains("none is in force in P10"), "{post}");
        let marked = refused(send(Some(&client), Some(&gateway), &sink, request(HttpMethod::Get, &pods, true)));
        assert!(marked.contains("HTTP GET is an external side effect"), "{marked}");
        assert!(heads.lock().expect("lock").is_empty(), "a refused request was sent");

        // A read goes out and is recorded without its query.
        let read = send(Some(&client), Some(&gateway), &sink, request(HttpMethod::Get, &format!("{pods}?token=abc"), false)).expect("read");
        assert_eq!(read.status, 226);

        // With the provision grant (given on consent), the rent goes out with an idempotency key
        // and leaves a call and its receipt.
        gateway.grant(Grant::provision("P10", Actor::new("user", "tty"), "consent"));
        let mut rent = request(HttpMethod::Post, &format!("{pods}/rent"), false);
        rent.body = Some(b"{\"pod_name\":\"x\"}".to_vec());
        let answer = send(Some(&client), Some(&gateway), &sink, rent.clone()).expect("rent");
        assert_eq!(answer.status, 226);
        // The same request again derives the same key (a resend can be deduplicated).
        send(Some(&client), Some(&gateway), &sink, rent).expect("resend");

        let heads = heads.lock().expect("lock").clone();
        assert_eq!(heads.len(), 3, "{heads:?}");
        assert!(heads[0].starts_with("get /api/pods?token=abc") && !heads[0].contains("idempotency-key"), "{}", heads[0]);
        let key_of = |h: &str| h.lines().find_map(|l| l.strip_prefix("idempotency-key: ")).map(|k| k.trim().to_string());
        let key = key_of(&heads[1]).expect("an idempotency key was sent");
        assert_eq!(key_of(&heads[2]).as_deref(), Some(key.as_str()));
        assert!(heads[1].contains(&format!("x-api-key: {}", CANARY.to_ascii_lowercase())), "{}", heads[1]);

        let log = events(dir.path());
        let of = |t: &str| log.iter().filter(|e| e["event_type"] == t).collect::<Vec<_>>();
        let refusals = of("gateway.refused");
        assert_eq!(refusals.len(), 5, "{refusals:#?}");
        assert!(refusals.iter().all(|e| e["payload"]["op"] == HTTP_OP), "{refusals:#?}");
        assert_eq!(refusals[1]["payload"]["class"], "READ");
        assert_eq!(refusals[3]["payload"]["class"], "WRITE_EXTERNAL_SIDE_EFFECT");
        assert!(refusals[1]["payload"]["detail"].as_str().unwrap_or("").contains("localhost"), "{:#?}", refusals[1]);
        let reads = of("http.read");
        assert_eq!(reads.len(), 1);
        assert_eq!((reads[0]["payload"]["url"].as_str(), reads[0]["payload"]["status"].as_u64()), (Some(pods.as_str()), Some(226)));
        let calls = of("gateway.call");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0]["payload"]["class"], "WRITE_EXTERNAL_SIDE_EFFECT");
        assert_eq!(calls[0]["capability_id"], "cap:flow-http:provision");
        let receipts = of("receipt.side_effect");
        assert_eq!(receipts.len(), 2);
        assert_eq!(receipts[0]["payload"]["idempotency_key"].as_str(), Some(key.as_str()));
        assert_eq!(receipts[0]["payload"]["approved_by"], "consent");
        assert_eq!(receipts[0]["causation_id"], calls[0]["event_id"]);
        let text = std::fs::read_to_string(dir.path().join(wfhost_audit::layout::EVENTS)).expect("events");
        assert!(!text.contains(CANARY), "the key reached the evidence");
        assert!(!text.contains("token=abc"), "a query reached the evidence");
        assert_eq!(of("secret.issued").len(), 0, "this resolver keeps no custody records");
    }
}
