//! Writing a transport component (world `transport-plugin`): the transport's WIT records as plain
//! Rust (with the records every role shares, re-exported from [`crate::records`]), the host
//! capabilities a transport imports behind [`Host`], the operations it exports behind
//! [`Transport`], and [`export_transport!`](crate::export_transport), which joins the two to the
//! bindings wit-bindgen generates.
//!
//! Data flow: the wfhost host calls an export of the component; the glue made by
//! `export_transport!` converts the generated records to the types here, builds the plugin's
//! [`Transport`] on a [`Host`] backed by the `process`, `settings`, `log`, `http` and `memo` imports, calls the
//! matching method, and converts the answer back field for field and the error variant for
//! variant. Nothing is added, dropped or reinterpreted on the way. Plugin logic sees only this
//! module's types, so it compiles and is unit-tested on the host target with a [`Host`] that runs
//! real processes (`testing::RunSpec::from_request` turns a [`RunRequest`] into a run).
//!
//! ```
//! use wfhost_pack_sdk::transport::{
//!     CommandResult, ExecSpec, FetchSource, Host, Level, PodIdentity, PodState, PodReport,
//!     RunRequest, Transport, TransportError,
//! };
//!
//! /// Runs every command on the host itself; there is one pod, `here`.
//! struct Here<'h, H: Host>(&'h H);
//!
//! impl<H: Host> Transport for Here<'_, H> {
//!     fn id(&self) -> String { "here".into() }
//!     fn check_config(&self) -> Result<(), TransportError> { Ok(()) }
//!     fn parse_target(&self, target: &str) -> Result<String, TransportError> {
//!         match target.trim() {
//!             "here" => Ok("here".into()),
//!             other => Err(TransportError::Invalid(format!("unknown pod {other:?}; use `here`"))),
//!         }
//!     }
//!     fn provision(&self, _: &str, _: &str) -> Result<PodIdentity, TransportError> {
//!         Err(TransportError::Failed("pods cannot be created; use `here`".into()))
//!     }
//!     fn status(&self, target: &str) -> Result<PodReport, TransportError> {
//!         self.parse_target(target)
//!             .map(|_| PodReport { state: PodState::Ready, detail: "this machine".into() })
//!     }
//!     fn resolve_path(&self, target: &str, path: &str) -> Result<String, TransportError> {
//!         self.parse_target(target).map(|_| path.to_string())
//!     }
//!     fn exec(&self, target: &str, spec: &ExecSpec) -> Result<CommandResult, TransportError> {
//!         self.parse_target(target)?;
//!         self.0.log(Level::Debug, "running a command here");
//!         let request = RunRequest {
//!             program: "sh".into(),
//!             args: vec!["-c".into(), spec.command.clone()],
//!             env: spec.env.clone(),
//!             timeout_ms: spec.timeout_ms,
//!             ..RunRequest::default()
//!         };
//!         self.0.run(&request).map_err(|e| TransportError::Failed(format!("could not run sh: {e}")))
//!     }
//!     fn put_file(&self, _: &str, _: &str, _: Vec<u8>, _: u32) -> Result<(), TransportError> {
//!         Err(TransportError::Failed("read-only".into()))
//!     }
//!     fn get_file(&self, _: &str, _: &str, _: u64) -> Result<Vec<u8>, TransportError> {
//!         Err(TransportError::Failed("not supported".into()))
//!     }
//!     fn fetch_command(&self, target: &str, dir: &str) -> Result<FetchSource, TransportError> {
//!         self.parse_target(target)?;
//!         let args = ["-cf", "-", "-C", dir, "."].map(String::from).to_vec();
//!         Ok(FetchSource { command: RunRequest { program: "tar".into(), args, timeout_ms: 60_000, ..RunRequest::default() }, begin_after: None })
//!     }
//!     fn fetch_ended(&self, _: &str, dir: &str, ended: &CommandResult) -> Result<(), TransportError> {
//!         match ended.exit_code {
//!             Some(0) => Ok(()),
//!             _ => Err(TransportError::Failed(format!("tar of {dir} failed: {}", ended.stderr))),
//!         }
//!     }
//!     fn delete(&self, target: &str) -> Result<(), TransportError> {
//!         Err(TransportError::Invalid(format!("{target} cannot be deleted")))
//!     }
//! }
//!
//! /// A host that answers every run with exit 0 and the command line as stdout.
//! struct Echo;
//! impl Host for Echo {
//!     fn run(&self, r: &RunRequest) -> Result<CommandResult, String> {
//!         Ok(CommandResult { exit_code: Some(0), stdout: r.args.join(" "), ..Default::default() })
//!     }
//!     fn setting(&self, _: &str) -> Option<String> { None }
//!     fn log(&self, _: Level, _: &str) {}
//! }
//!
//! let t = Here(&Echo);
//! let spec = ExecSpec { command: "true".into(), timeout_ms: 1_000, ..Default::default() };
//! assert_eq!(t.exec("here", &spec).unwrap().stdout, "-c true");
//! assert_eq!(t.exec("there", &spec).unwrap_err().to_string(),
//!            "invalid: unknown pod \"there\"; use `here`");
//! ```
//!
//! In the component, after `wit_bindgen::generate!` for the `transport-plugin` world, the glue
//! is three lines (see [`export_transport!`](crate::export_transport)):
//!
//! ```text
//! wit_bindgen::generate!({ world: "transport-plugin", path: "../../wit" });
//! wfhost_pack_sdk::export_transport!(Component, crate::here::Here::new);
//! export!(Component);
//! ```

use thiserror::Error;

pub use crate::kv::Kv;
pub use crate::records::{CommandResult, Level, PodIdentity, PodState, PodReport};

/// `transport-error`: why a transport call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    /// The pod or its host could not be reached (network, sshd down): maybe transient.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The pod is gone (deleted, never existed).
    #[error("vanished: {0}")]
    Vanished(String),
    /// The operation ran out of time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The operation ran and failed.
    #[error("failed: {0}")]
    Failed(String),
    /// The request is invalid for this transport (bad target form, unsafe path).
    #[error("invalid: {0}")]
    Invalid(String),
}

/// `exec-spec`: a command to run on a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecSpec {
    /// POSIX shell command line.
    pub command: String,
    /// Remote working directory (`None`: the transport's default).
    pub cwd: Option<String>,
    /// Extra environment.
    pub env: Vec<Kv>,
    /// Timeout.
    pub timeout_ms: u64,
}

/// `process.run-request`: a program for the host to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunRequest {
    /// Program name or path; the plugin's manifest must allowlist it.
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Host working directory (`None`: the host's choice).
    pub cwd: Option<String>,
    /// Extra environment (the host clears the rest, keeping `PATH`).
    pub env: Vec<Kv>,
    /// Environment entries whose values are host secrets: (variable, secret handle). The plugin
    /// never sees the values.
    pub secret_env: Vec<Kv>,
    /// Bytes for stdin, then closed; `None` = closed at once.
    pub stdin: Option<Vec<u8>>,
    /// Hard timeout.
    pub timeout_ms: u64,
}

/// `transport.fetch-source`: the program whose standard output is a tar archive of a remote
/// directory; the host runs it (as a [`RunRequest`], `stdin` none) and unpacks the stream itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchSource {
    /// The program.
    pub command: RunRequest,
    /// The archive starts after the first output line ending with this text (`None`: at once).
    pub begin_after: Option<String>,
}

/// `http.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// A read.
    Get,
    /// A read of the headers.
    Head,
    /// A side effect.
    Post,
    /// A side effect.
    Put,
    /// A side effect.
    Patch,
    /// A side effect.
    Delete,
}

/// `http.secret-header`: `name: <prefix><value of the secret handle>`, filled in by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHeader {
    /// Header name, e.g. `Authorization`.
    pub name: String,
    /// The secret's handle.
    pub handle: String,
    /// Text before the value, e.g. `Bearer `.
    pub prefix: String,
}

/// `http.request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: HttpMethod,
    /// Absolute URL (a host the profile declares, under a base URL the config allows).
    pub url: String,
    /// Headers.
    pub headers: Vec<Kv>,
    /// Headers whose values are host secrets.
    pub secret_headers: Vec<SecretHeader>,
    /// Body (not with GET or HEAD).
    pub body: Option<Vec<u8>>,
    /// Time limit.
    pub timeout_ms: u64,
    /// The request changes something outside (a rent, a delete): the host sends it only under
    /// the flow's grant, with consent, and records a receipt. POST, PUT, PATCH and DELETE are
    /// side effects whatever this says.
    pub side_effect: bool,
    /// `Idempotency-Key` of a side effect (`None`: the host derives one).
    pub idempotency_key: Option<String>,
}

/// `http.response` (secrets scrubbed by the host).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<Kv>,
    /// Body.
    pub body: Vec<u8>,
}

/// `http.http-error`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HttpError {
    /// Outside the policy or without a grant; nothing was sent.
    #[error("refused: {0}")]
    Refused(String),
    /// Name resolution, connection or TLS failed.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Past the time limit.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The response was over the host's cap.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Anything else.
    #[error("failed: {0}")]
    Failed(String),
}

/// The host capabilities a transport imports. The glue of
/// [`export_transport!`](crate::export_transport) implements it with the `process`,
/// `settings`, `log`, `http` and `memo` imports; tests implement it with real processes or
/// recorded answers (`http` and the memo default to "not available").
pub trait Host {
    /// Run a host program (`process.run`); `Err` when it could not be started at all.
    fn run(&self, request: &RunRequest) -> Result<CommandResult, String>;
    /// A non-secret setting (`settings.get`).
    fn setting(&self, key: &str) -> Option<String>;
    /// A log line (`log.emit`).
    fn log(&self, level: Level, message: &str);
    /// Send an HTTP request (`http.send`). The default refuses: a test host without HTTP.
    fn http(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        Err(HttpError::Refused(format!("{}: no HTTP on this host", request.url)))
    }
    /// A value of the flow's memo (`memo.get`). The default: none.
    fn memo_get(&self, key: &str) -> Option<String> {
        let _ = key;
        None
    }
    /// Store a value in the flow's memo (`memo.set`). The default refuses.
    fn memo_set(&self, key: &str, value: &str) -> Result<(), String> {
        let _ = (key, value);
        Err("no memo on this host".into())
    }
    /// Seconds since the Unix epoch (for timestamps such as `created_at`). The default reads the
    /// system clock (the WASI wall clock in a component), and 0 if it is before 1970.
    fn now_secs(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// The `transport` interface a component exports, one method per WIT function, with the same
/// arguments. [`export_transport!`](crate::export_transport) builds a fresh value for every call,
/// so implementations keep no state between calls (the host keeps it).
pub trait Transport {
    /// `id`: the transport id (`local`, `ssh`, ...).
    fn id(&self) -> String;
    /// `check-config`: check the settings this transport reads, reaching no pod; a value it
    /// would refuse later is [`TransportError::Invalid`], with a message naming the key and
    /// what is refused (the host halts P00 with it). A transport that reads no setting returns
    /// `Ok(())`.
    fn check_config(&self) -> Result<(), TransportError>;
    /// `parse-target`: check a target string is in a form this transport accepts; return it
    /// normalised.
    fn parse_target(&self, target: &str) -> Result<String, TransportError>;
    /// `provision`: create a pod, or return the one `idempotency_key` already created.
    fn provision(
        &self,
        name_hint: &str,
        idempotency_key: &str,
    ) -> Result<PodIdentity, TransportError>;
    /// `status`: the pod's state and a detail line.
    fn status(&self, target: &str) -> Result<PodReport, TransportError>;
    /// `resolve-path`: where the remote absolute `path` really lives on the target.
    fn resolve_path(&self, target: &str, path: &str) -> Result<String, TransportError>;
    /// `exec`: run a shell command on the target.
    fn exec(&self, target: &str, spec: &ExecSpec) -> Result<CommandResult, TransportError>;
    /// `put-file`: write `contents` to `path` with permission bits `mode`.
    fn put_file(
        &self,
        target: &str,
        path: &str,
        contents: Vec<u8>,
        mode: u32,
    ) -> Result<(), TransportError>;
    /// `get-file`: at most `max_bytes` of the file at `path`.
    fn get_file(&self, target: &str, path: &str, max_bytes: u64)
        -> Result<Vec<u8>, TransportError>;
    /// `fetch-command`: the program that streams `remote_dir` (recursively) back as a tar
    /// archive on its standard output. The host runs it and unpacks the archive itself.
    fn fetch_command(&self, target: &str, remote_dir: &str) -> Result<FetchSource, TransportError>;
    /// `fetch-ended`: judge how that program ended (`ended.stdout` is empty: it was the archive).
    fn fetch_ended(
        &self,
        target: &str,
        remote_dir: &str,
        ended: &CommandResult,
    ) -> Result<(), TransportError>;
    /// `delete`: delete the pod.
    fn delete(&self, target: &str) -> Result<(), TransportError>;
}

/// Export a [`Transport`](crate::transport::Transport) as the component's `transport` interface.
///
/// `export_transport!(Component, make)` must be invoked in the module where
/// `wit_bindgen::generate!` was invoked for a world that imports `log`, `settings`, `process`,
/// `http` and `memo` and exports `transport` of `wfhost:plugin` (such as `transport-plugin`): it
/// uses the generated modules `wfhost::plugin::{types, log, settings, process, http, memo}` and
/// `exports::wfhost::plugin::transport` found there. It defines
///
/// - the conversions of [`record_conversions!`](crate::record_conversions) (so do not invoke
///   that macro in the same module);
/// - `struct WitHost`, the [`Host`](crate::transport::Host) backed by those imports (its
///   `now_secs` is the default, the system clock);
/// - `struct Component` (the name given, optionally with a visibility such as `pub(crate)`),
///   implementing the generated `Guest` trait: each export
///   calls `make(&WitHost)` (a function or closure from `&WitHost` to a `Transport`, such as
///   `MyTransport::new`), forwards its arguments to the method of the same name, and converts the
///   result and the error back.
///
/// Then export the component as usual with the `export!` macro wit-bindgen generated:
///
/// ```text
/// wit_bindgen::generate!({ world: "transport-plugin", path: "../../wit" });
/// wfhost_pack_sdk::export_transport!(Component, crate::ssh::Ssh::new);
/// export!(Component);
/// ```
#[macro_export]
macro_rules! export_transport {
    ($vis:vis $component:ident, $make:expr $(,)?) => {
        $crate::record_conversions!();

        /// The `process`, `settings`, `log`, `http` and `memo` imports as a transport host.
        struct WitHost;

        impl WitHost {
            fn kvs(
                list: &[$crate::transport::Kv],
            ) -> ::std::vec::Vec<self::wfhost::plugin::types::Kv> {
                list.iter().cloned().map(::core::convert::Into::into).collect()
            }

            fn run_request(
                r: &$crate::transport::RunRequest,
            ) -> self::wfhost::plugin::process::RunRequest {
                self::wfhost::plugin::process::RunRequest {
                    program: r.program.clone(),
                    args: r.args.clone(),
                    cwd: r.cwd.clone(),
                    env: WitHost::kvs(&r.env),
                    secret_env: WitHost::kvs(&r.secret_env),
                    stdin: r.stdin.clone(),
                    timeout_ms: r.timeout_ms,
                }
            }

            fn error(
                e: $crate::transport::TransportError,
            ) -> self::exports::wfhost::plugin::transport::TransportError {
                use self::exports::wfhost::plugin::transport::TransportError as Wit;
                use $crate::transport::TransportError as Sdk;
                match e {
                    Sdk::Unreachable(m) => Wit::Unreachable(m),
                    Sdk::Vanished(m) => Wit::Vanished(m),
                    Sdk::Timeout(m) => Wit::Timeout(m),
                    Sdk::Failed(m) => Wit::Failed(m),
                    Sdk::Invalid(m) => Wit::Invalid(m),
                }
            }
        }

        impl $crate::transport::Host for WitHost {
            fn run(
                &self,
                r: &$crate::transport::RunRequest,
            ) -> ::core::result::Result<$crate::transport::CommandResult, ::std::string::String>
            {
                self::wfhost::plugin::process::run(&WitHost::run_request(r))
                    .map(::core::convert::Into::into)
            }

            fn setting(&self, key: &str) -> ::core::option::Option<::std::string::String> {
                self::wfhost::plugin::settings::get(key)
            }

            fn log(&self, level: $crate::transport::Level, message: &str) {
                self::wfhost::plugin::log::emit(::core::convert::Into::into(level), message);
            }

            fn http(
                &self,
                r: &$crate::transport::HttpRequest,
            ) -> ::core::result::Result<$crate::transport::HttpResponse, $crate::transport::HttpError>
            {
                use self::wfhost::plugin::http as wit;
                use $crate::transport::{HttpError as E, HttpMethod as M};
                let request = wit::Request {
                    method: match r.method {
                        M::Get => wit::Method::Get,
                        M::Head => wit::Method::Head,
                        M::Post => wit::Method::Post,
                        M::Put => wit::Method::Put,
                        M::Patch => wit::Method::Patch,
                        M::Delete => wit::Method::Delete,
                    },
                    url: r.url.clone(),
                    headers: WitHost::kvs(&r.headers),
                    secret_headers: r
                        .secret_headers
                        .iter()
                        .map(|s| wit::SecretHeader {
                            name: s.name.clone(),
                            handle: s.handle.clone(),
                            prefix: s.prefix.clone(),
                        })
                        .collect(),
                    body: r.body.clone(),
                    timeout_ms: r.timeout_ms,
                    side_effect: r.side_effect,
                    idempotency_key: r.idempotency_key.clone(),
                };
                match wit::send(&request) {
                    Ok(a) => Ok($crate::transport::HttpResponse {
                        status: a.status,
                        headers: a.headers.into_iter().map(::core::convert::Into::into).collect(),
                        body: a.body,
                    }),
                    Err(wit::HttpError::Refused(m)) => Err(E::Refused(m)),
                    Err(wit::HttpError::Unreachable(m)) => Err(E::Unreachable(m)),
                    Err(wit::HttpError::Timeout(m)) => Err(E::Timeout(m)),
                    Err(wit::HttpError::TooLarge(m)) => Err(E::TooLarge(m)),
                    Err(wit::HttpError::Failed(m)) => Err(E::Failed(m)),
                }
            }

            fn memo_get(&self, key: &str) -> ::core::option::Option<::std::string::String> {
                self::wfhost::plugin::memo::get(key)
            }

            fn memo_set(
                &self,
                key: &str,
                value: &str,
            ) -> ::core::result::Result<(), ::std::string::String> {
                self::wfhost::plugin::memo::set(key, value)
            }
        }

        /// The component: every `transport` export forwards to the plugin's transport.
        $vis struct $component;

        impl self::exports::wfhost::plugin::transport::Guest for $component {
            fn id() -> ::std::string::String {
                $crate::transport::Transport::id(&($make)(&WitHost))
            }

            fn check_config(
            ) -> ::core::result::Result<(), self::exports::wfhost::plugin::transport::TransportError>
            {
                $crate::transport::Transport::check_config(&($make)(&WitHost))
                    .map_err(WitHost::error)
            }

            fn parse_target(
                target: ::std::string::String,
            ) -> ::core::result::Result<
                ::std::string::String,
                self::exports::wfhost::plugin::transport::TransportError,
            > {
                $crate::transport::Transport::parse_target(&($make)(&WitHost), &target)
                    .map_err(WitHost::error)
            }

            fn provision(
                name_hint: ::std::string::String,
                idempotency_key: ::std::string::String,
            ) -> ::core::result::Result<
                self::wfhost::plugin::types::PodIdentity,
                self::exports::wfhost::plugin::transport::TransportError,
            > {
                $crate::transport::Transport::provision(
                    &($make)(&WitHost),
                    &name_hint,
                    &idempotency_key,
                )
                .map(::core::convert::Into::into)
                .map_err(WitHost::error)
            }

            fn status(
                target: ::std::string::String,
            ) -> ::core::result::Result<
                self::wfhost::plugin::types::PodReport,
                self::exports::wfhost::plugin::transport::TransportError,
            > {
                $crate::transport::Transport::status(&($make)(&WitHost), &target)
                    .map(::core::convert::Into::into)
                    .map_err(WitHost::error)
            }

            fn resolve_path(
                target: ::std::string::String,
                path: ::std::string::String,
            ) -> ::core::result::Result<
                ::std::string::String,
                self::exports::wfhost::plugin::transport::TransportError,
            > {
                $crate::transport::Transport::resolve_path(&($make)(&WitHost), &target, &path)
                    .map_err(WitHost::error)
            }

            fn exec(
                target: ::std::string::String,
                spec: self::exports::wfhost::plugin::transport::ExecSpec,
            ) -> ::core::result::Result<
                self::wfhost::plugin::types::CommandResult,
                self::exports::wfhost::plugin::transport::TransportError,
            > {
                let spec = $crate::transport::ExecSpec {
                    command: spec.command,
                    cwd: spec.cwd,
                    env: spec.env.into_iter().map(::core::convert::Into::into).collect(),
                    timeout_ms: spec.timeout_ms,
                };
                $crate::transport::Transport::exec(&($make)(&WitHost), &target, &spec)
                    .map(::core::convert::Into::into)
                    .map_err(WitHost::error)
            }

            fn put_file(
                target: ::std::string::String,
                path: ::std::string::String,
                contents: ::std::vec::Vec<u8>,
                mode: u32,
            ) -> ::core::result::Result<(), self::exports::wfhost::plugin::transport::TransportError>
            {
                $crate::transport::Transport::put_file(
                    &($make)(&WitHost),
                    &target,
                    &path,
                    contents,
                    mode,
                )
                .map_err(WitHost::error)
            }

            fn get_file(
                target: ::std::string::String,
                path: ::std::string::String,
                max_bytes: u64,
            ) -> ::core::result::Result<
                ::std::vec::Vec<u8>,
                self::exports::wfhost::plugin::transport::TransportError,
            > {
                $crate::transport::Transport::get_file(
                    &($make)(&WitHost),
                    &target,
                    &path,
                    max_bytes,
                )
                .map_err(WitHost::error)
            }

            fn fetch_command(
                target: ::std::string::String,
                remote_dir: ::std::string::String,
            ) -> ::core::result::Result<
                self::exports::wfhost::plugin::transport::FetchSource,
                self::exports::wfhost::plugin::transport::TransportError,
            > {
                $crate::transport::Transport::fetch_command(&($make)(&WitHost), &target, &remote_dir)
                    .map(|f| self::exports::wfhost::plugin::transport::FetchSource {
                        command: WitHost::run_request(&f.command),
                        begin_after: f.begin_after,
                    })
                    .map_err(WitHost::error)
            }

            fn fetch_ended(
                target: ::std::string::String,
                remote_dir: ::std::string::String,
                ended: self::wfhost::plugin::types::CommandResult,
            ) -> ::core::result::Result<(), self::exports::wfhost::plugin::transport::TransportError>
            {
                $crate::transport::Transport::fetch_ended(
                    &($make)(&WitHost),
                    &target,
                    &remote_dir,
                    &::core::convert::Into::into(ended),
                )
                .map_err(WitHost::error)
            }

            fn delete(
                target: ::std::string::String,
            ) -> ::core::result::Result<(), self::exports::wfhost::plugin::transport::TransportError>
            {
                $crate::transport::Transport::delete(&($make)(&WitHost), &target)
                    .map_err(WitHost::error)
            }
        }
    };
}

#[cfg(test)]
pub(crate) mod tests;
