//! The wfhost flow engine.
//!
//! `wfhost flow` and every primitive call [`engine::run_flow`] with a
//! [`wfhost_config::plan::Plan`]: P00 precheck (config, flags, consent, plugins), then each
//! phase in the constitution's order, each judged by the [`court`], each decision appended to
//! the flow's event log through the [`sink`], the output contract written through [`output`].
//! Plugins (transport, executors, auditors) are WebAssembly components loaded by
//! `wfhost-runtime`; executors reach the target only through the capability [`gateway`].
//!
//! Inputs are parsed by `wfhost-config`; the evidence directory's layout, the summary
//! projection and signing belong to `wfhost-audit`, which reads flows offline without this
//! crate (and without wasmtime).
//!
//! Modules:
//! - [`engine`], [`court`], [`gateway`], [`grants`], [`plugins`]: running and judging phases;
//! - [`transport_http`]: a transport's HTTP requests under the flow's grants, recorded;
//! - [`fetch`]: a fetched directory's archive unpacked by the host into a capability directory;
//! - [`sink`], [`output`]: evidence appends and the output contract;
//! - [`host_keys`]: the ssh host keys a flow trusted on first use;
//! - [`target_lock`]: one flow per target at a time, taken when P20 binds it;
//! - [`ops`]: the commands that are not flows (`doctor`, `fsm-status`, `fsm-reset`, `court audit`),
//!   returning typed reports and errors for the CLI to render.
#![warn(missing_docs)]

pub mod court;
pub mod engine;
pub mod fetch;
pub mod gateway;
pub mod grants;
pub mod host_keys;
pub mod logs;
pub mod ops;
pub mod output;
pub mod packs;
pub mod plugins;
pub mod sink;
pub mod transport_http;
pub mod target_lock;

/// The WIT records shared with plugins, as Rust types.
pub mod types {
    pub use wfhost_runtime::types::*;
}

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where flow evidence goes unless WF_FLOW_EVIDENCE_DIR says otherwise: the key's default
/// (`constitution/config.toml`; the build fails if the key loses it).
pub const DEFAULT_EVIDENCE_DIR: &str = match wfhost_constitution::keys::WF_FLOW_EVIDENCE_DIR.default() {
    Some(dir) => dir,
    None => panic!("constitution/config.toml: WF_FLOW_EVIDENCE_DIR needs a default"),
};
/// Where fetched run outputs go: `<this>/<target>/<run_id>/`.
pub const DEFAULT_POD_LOGS_DIR: &str = "artifacts/pod_logs";
pub use wfhost_audit::EXIT_INTERNAL;

/// RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&fmt).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// `YYYYmmddTHHMMSSZ`, for file names.
pub fn now_compact() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    now.format(&fmt).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// A new flow id: `<UTC timestamp>-<6 hex>`, unique per process and time.
pub fn new_flow_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!("{nanos}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{}-{}", now_compact(), &wfhost_evidence::hash::sha256_hex(seed.as_bytes())[..6])
}

/// This machine's host name, for the remote state file.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// A directory name for a target (`user@host:22` -> `user_host_22`).
pub fn target_dir_name(target: &str) -> String {
    let s: String = target
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() { "_".into() } else { s }
}

/// Make a REPO_URL that is a relative local path absolute (relative to the working dir), so
/// the clone works from wherever the pod runs its commands. URLs and absolute paths are kept.
pub fn absolutize_repo_url(workdir: &Path, url: &str) -> String {
    let looks_remote = url.contains("://") || (url.contains(':') && !url.starts_with('.') && !url.starts_with('/'));
    if looks_remote || Path::new(url).is_absolute() {
        return url.to_string();
    }
    let p = workdir.join(url);
    p.canonicalize().unwrap_or(p).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_dir_names() {
        assert_eq!(target_dir_name("root@127.0.0.1:2222"), "root_127.0.0.1_2222");
        assert_eq!(target_dir_name("../x"), "_x");
    }

    #[test]
    fn flow_ids_are_unique() {
        let a = new_flow_id();
        let b = new_flow_id();
        assert_ne!(a, b);
        assert!(a.ends_with(|c: char| c.is_ascii_hexdigit()));
    }

    #[test]
    fn relative_repo_paths_become_absolute() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("repo")).unwrap();
        let abs = absolutize_repo_url(d.path(), "repo");
        assert!(Path::new(&abs).is_absolute());
        assert_eq!(absolutize_repo_url(d.path(), "https://x/y.git"), "https://x/y.git");
        assert_eq!(absolutize_repo_url(d.path(), "git@host:y.git"), "git@host:y.git");
    }
}
