//! Test-only transport. `exec` runs `spec.command` as a host program through the process
//! capability (with a secret-env entry when the target is `secret`); `parse-target` refuses empty
//! targets; `status` says the pod vanished; `get-file` returns `max-bytes` bytes; `put-file`
//! writes the contents to `path` through `std::fs` (the host filesystem is never reachable that
//! way, so it must fail); `provision` traps; `delete` never returns.

// The whole crate is WIT glue for a wasm32-wasip2 component: host/wfhost-builtins builds it,
// and the runtime and end-to-end tests load it. On any other target the crate is empty.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({ world: "transport-plugin", path: "../../../wit" });

use exports::wfhost::plugin::transport::{ExecSpec, Guest, TransportError};
use wfhost::plugin::log::{self, Level};
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

    fn fetch_dir(_: String, _: String, _: String) -> Result<(), TransportError> {
        unsupported()
    }

    fn delete(_: String) -> Result<(), TransportError> {
        loop {
            std::hint::black_box(0u8);
        }
    }
}

export!(Probe);
