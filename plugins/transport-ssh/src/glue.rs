//! WIT glue (wasm32 only): implements [`crate::host::Host`] with the `process`, `settings` and
//! `log` imports and forwards each `transport` export to [`crate::ssh::Ssh`]. No logic lives
//! here.

wit_bindgen::generate!({ world: "transport-plugin", path: "../../wit" });

use crate::host::{self, Host, Level};
use crate::ssh::Ssh;
use exports::wfhost::plugin::transport::{ExecSpec, Guest, TransportError};
use wfhost::plugin::log::{emit, Level as WitLevel};
use wfhost::plugin::process::{run, RunRequest};
use wfhost::plugin::settings;
use wfhost::plugin::types::{CommandResult, Kv, PodIdentity};

struct WitHost;

fn kvs(list: &[host::Kv]) -> Vec<Kv> {
    list.iter()
        .map(|(k, v)| Kv {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

impl Host for WitHost {
    fn run(&self, r: &host::RunRequest) -> Result<host::CommandResult, String> {
        let req = RunRequest {
            program: r.program.clone(),
            args: r.args.clone(),
            cwd: r.cwd.clone(),
            env: kvs(&r.env),
            secret_env: kvs(&r.secret_env),
            stdin: r.stdin.clone(),
            timeout_ms: r.timeout_ms,
        };
        run(&req).map(|c| host::CommandResult {
            exit_code: c.exit_code,
            stdout: c.stdout,
            stderr: c.stderr,
            timed_out: c.timed_out,
            duration_ms: c.duration_ms,
            truncated: c.truncated,
        })
    }

    fn setting(&self, key: &str) -> Option<String> {
        settings::get(key)
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => WitLevel::Debug,
            Level::Info => WitLevel::Info,
            Level::Warn => WitLevel::Warn,
        };
        emit(level, message);
    }
}

fn err(e: host::TransportError) -> TransportError {
    match e {
        host::TransportError::Unreachable(m) => TransportError::Unreachable(m),
        host::TransportError::Vanished(m) => TransportError::Vanished(m),
        host::TransportError::Timeout(m) => TransportError::Timeout(m),
        host::TransportError::Failed(m) => TransportError::Failed(m),
        host::TransportError::Invalid(m) => TransportError::Invalid(m),
    }
}

fn result(c: host::CommandResult) -> CommandResult {
    CommandResult {
        exit_code: c.exit_code,
        stdout: c.stdout,
        stderr: c.stderr,
        timed_out: c.timed_out,
        duration_ms: c.duration_ms,
        truncated: c.truncated,
    }
}

struct Transport;

impl Guest for Transport {
    fn id() -> String {
        Ssh::new(&WitHost).id()
    }

    fn parse_target(target: String) -> Result<String, TransportError> {
        Ssh::new(&WitHost).parse_target(&target).map_err(err)
    }

    fn provision(
        name_hint: String,
        idempotency_key: String,
    ) -> Result<PodIdentity, TransportError> {
        Ssh::new(&WitHost)
            .provision(&name_hint, &idempotency_key)
            .map(|p| PodIdentity {
                transport: p.transport,
                target: p.target,
                location: p.location,
            })
            .map_err(err)
    }

    fn status(target: String) -> Result<(String, String), TransportError> {
        Ssh::new(&WitHost).status(&target).map_err(err)
    }

    fn resolve_path(target: String, path: String) -> Result<String, TransportError> {
        Ssh::new(&WitHost).resolve_path(&target, &path).map_err(err)
    }

    fn exec(target: String, spec: ExecSpec) -> Result<CommandResult, TransportError> {
        let spec = host::ExecSpec {
            command: spec.command,
            cwd: spec.cwd,
            env: spec.env.into_iter().map(|kv| (kv.key, kv.value)).collect(),
            timeout_ms: spec.timeout_ms,
        };
        Ssh::new(&WitHost)
            .exec(&target, &spec)
            .map(result)
            .map_err(err)
    }

    fn put_file(
        target: String,
        path: String,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), TransportError> {
        Ssh::new(&WitHost)
            .put_file(&target, &path, contents, mode)
            .map_err(err)
    }

    fn get_file(target: String, path: String, max_bytes: u64) -> Result<Vec<u8>, TransportError> {
        Ssh::new(&WitHost)
            .get_file(&target, &path, max_bytes)
            .map_err(err)
    }

    fn fetch_dir(
        target: String,
        remote_dir: String,
        local_dir: String,
    ) -> Result<(), TransportError> {
        Ssh::new(&WitHost)
            .fetch_dir(&target, &remote_dir, &local_dir)
            .map_err(err)
    }

    fn delete(target: String) -> Result<(), TransportError> {
        Ssh::new(&WitHost).delete(&target).map_err(err)
    }
}

export!(Transport);
