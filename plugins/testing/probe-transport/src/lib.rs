//! Test-only transport. `exec` runs `spec.command` as a host program through the process
//! capability (with a secret-env entry when the target is `secret`), except that
//! `http METHOD URL [side-effect]` sends an HTTP request through the http capability (the spec's
//! environment as headers, and with target `secret` an `X-API-KEY` header from the secret handle
//! `probe-handle`; the answer comes back as exit code = status, stdout = body, stderr = headers,
//! and is logged) and `memo KEY[=VALUE]` sets and reads the flow's memo; `parse-target` refuses empty
//! targets; `status` says the pod vanished; `get-file` returns `max-bytes` bytes; `put-file`
//! writes the contents to `path` through `std::fs` (the host filesystem is never reachable that
//! way, so it must fail); `provision` traps; `delete` never returns.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "transport-plugin", path: "../../../wit" });

use exports::wfhost::plugin::transport::{ExecSpec, FetchSource, Guest, TransportError};
use wfhost::plugin::http;
use wfhost::plugin::log::{self, Level};
use wfhost::plugin::memo;
use wfhost::plugin::process::{self, RunRequest};
use wfhost::plugin::types::{CommandResult, Kv, PodIdentity, PodReport};

struct Probe;

fn unsupported<T>() -> Result<T, TransportError> {
    Err(TransportError::Failed("not supported by the probe".into()))
}

impl Guest for Probe {
    fn id() -> String {
        "probe".into()
    }

    fn check_config() -> Result<(), TransportError> {
        Ok(())
    }

    fn parse_target(target: String) -> Result<String, TransportError> {
        if target.trim().is_empty() {
            return Err(TransportError::Invalid("empty target".into()));
        }
        Ok(target.trim().to_string())
    }

    fn provision(_: String, _: String) -> Result<PodIdentity, TransportError> {
        core::arch::wasm32::unreachable()
    }

    fn status(target: String) -> Result<PodReport, TransportError> {
        Err(TransportError::Vanished(target))
    }

    fn resolve_path(_: String, _: String) -> Result<String, TransportError> {
        unsupported()
    }

    fn exec(target: String, spec: ExecSpec) -> Result<CommandResult, TransportError> {
        log::emit(Level::Debug, &format!("probe exec on {target}"));
        if let Some(rest) = spec.command.strip_prefix("http ") {
            return send(&target, rest, spec.env.clone(), spec.timeout_ms);
        }
        if let Some(rest) = spec.command.strip_prefix("memo ") {
            return remember(rest);
        }
        let mut words = spec.command.split_whitespace().map(String::from);
        let program = words.next().unwrap_or_default();
        let secret_env = if target == "secret" {
            vec![Kv {
                key: "PROBE_SECRET".into(),
                value: "probe-handle".into(),
            }]
        } else {
            vec![]
        };
        process::run(&RunRequest {
            program,
            args: words.collect(),
            cwd: spec.cwd,
            env: spec.env,
            secret_env,
            stdin: None,
            timeout_ms: spec.timeout_ms,
        })
        .map_err(TransportError::Failed)
    }

    fn put_file(_: String, path: String, contents: Vec<u8>, _: u32) -> Result<(), TransportError> {
        std::fs::write(&path, contents)
            .map_err(|e| TransportError::Failed(format!("std::fs::write {path}: {e}")))
    }

    fn get_file(_: String, _: String, max_bytes: u64) -> Result<Vec<u8>, TransportError> {
        Ok(vec![b'z'; max_bytes as usize])
    }

    fn fetch_command(_: String, _: String) -> Result<FetchSource, TransportError> {
        unsupported()
    }

    fn fetch_ended(_: String, _: String, _: CommandResult) -> Result<(), TransportError> {
        unsupported()
    }

    fn delete(_: String) -> Result<(), TransportError> {
        loop {
            std::hint::black_box(0u8);
        }
    }
}

/// `http METHOD URL [side-effect]`: one request through the http capability.
fn send(target: &str, rest: &str, headers: Vec<Kv>, timeout_ms: u64) -> Result<CommandResult, TransportError> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let method = match words.first().copied() {
        Some("GET") => http::Method::Get,
        Some("HEAD") => http::Method::Head,
        Some("POST") => http::Method::Post,
        Some("PUT") => http::Method::Put,
        Some("PATCH") => http::Method::Patch,
        Some("DELETE") => http::Method::Delete,
        other => return Err(TransportError::Invalid(format!("method {other:?}"))),
    };
    let secret_headers = if target == "secret" {
        vec![http::SecretHeader {
            name: "X-API-KEY".into(),
            handle: "probe-handle".into(),
            prefix: String::new(),
        }]
    } else {
        vec![]
    };
    let body = match method {
        http::Method::Get | http::Method::Head => None,
        _ => Some(b"{}".to_vec()),
    };
    let request = http::Request {
        method,
        url: words.get(1).copied().unwrap_or_default().to_string(),
        headers,
        secret_headers,
        body,
        timeout_ms,
        side_effect: words.get(2) == Some(&"side-effect"),
        idempotency_key: None,
    };
    match http::send(&request) {
        Ok(answer) => {
            let body = String::from_utf8_lossy(&answer.body).into_owned();
            let headers: String = answer.headers.iter().map(|kv| format!("{}: {}\n", kv.key, kv.value)).collect();
            log::emit(Level::Info, &format!("probe http {}: {headers}{body}", answer.status));
            Ok(CommandResult {
                exit_code: Some(i32::from(answer.status)),
                stdout: body,
                stderr: headers,
                timed_out: false,
                duration_ms: 0,
                truncated: false,
            })
        }
        Err(e) => {
            let message = match e {
                http::HttpError::Refused(m) => format!("refused: {m}"),
                http::HttpError::Unreachable(m) => format!("unreachable: {m}"),
                http::HttpError::Timeout(m) => format!("timeout: {m}"),
                http::HttpError::TooLarge(m) => format!("too-large: {m}"),
                http::HttpError::Failed(m) => format!("failed: {m}"),
            };
            log::emit(Level::Info, &format!("probe http error: {message}"));
            Err(TransportError::Failed(message))
        }
    }
}

/// `memo KEY=VALUE` stores then reads KEY; `memo KEY` only reads it. Stdout: the value read.
fn remember(rest: &str) -> Result<CommandResult, TransportError> {
    let key = match rest.split_once('=') {
        Some((key, value)) => {
            memo::set(key, value).map_err(TransportError::Failed)?;
            key
        }
        None => rest,
    };
    Ok(CommandResult {
        exit_code: Some(0),
        stdout: memo::get(key).unwrap_or_else(|| "<none>".into()),
        stderr: String::new(),
        timed_out: false,
        duration_ms: 0,
        truncated: false,
    })
}

export!(Probe);
