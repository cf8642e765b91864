//! The wfhost flow engine.
//!
//! `wfhost flow` and every primitive call [`engine::run_flow`] with a [`plan::Plan`]: P00
//! precheck (config, flags, consent, plugins), then each phase in the constitution's order,
//! each judged by the [`court`], each decision appended to the flow's event log through the
//! [`sink`], the output contract written through [`output`]. Plugins (transport, executors,
//! auditors) are WebAssembly components loaded by `wfhost-runtime`; executors reach the target
//! only through the capability [`gateway`].
//!
//! Modules:
//! - [`config`]: the canonical `infra_scripts/workflow.env`, its sha256, override policy;
//! - [`manifest`]: the sweep CSV and its run commands;
//! - [`flags`], [`plan`]: what the user asked for;
//! - [`engine`], [`court`], [`gateway`], [`plugins`]: running and judging phases;
//! - [`sink`], [`summary`], [`guide`]: evidence, its projection, and the user guide;
//! - [`signing`]: optional ed25519 signatures over verdicts and the finished flow.
#![warn(missing_docs)]

pub mod audit_trail;
pub mod config;
pub mod court;
pub mod engine;
pub mod flags;
pub mod gateway;
pub mod guide;
pub mod host_keys;
pub mod manifest;
pub mod output;
pub mod plan;
pub mod plugins;
pub mod signing;
pub mod sink;
pub mod summary;

/// The WIT records shared with plugins, as Rust types.
pub mod types {
    pub use wfhost_runtime::types::*;
}

use sha2::{Digest, Sha256};
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The canonical config, relative to the working directory.
pub const CONFIG_REL_PATH: &str = "infra_scripts/workflow.env";
/// Where flow evidence goes unless WF_FLOW_EVIDENCE_DIR says otherwise.
pub const DEFAULT_EVIDENCE_DIR: &str = "artifacts/pod_logs/_flows";
/// Where fetched run outputs go: `<this>/<target>/<run_id>/`.
pub const DEFAULT_POD_LOGS_DIR: &str = "artifacts/pod_logs";
/// Exit status of a usage error.
pub const EXIT_USAGE: i32 = 64;
/// Exit status of an internal error.
pub const EXIT_INTERNAL: i32 = 70;

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

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
    format!("{}-{}", now_compact(), &sha256_hex(seed.as_bytes())[..6])
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

/// A safe single path segment: `[A-Za-z0-9._-]`, not starting with `.`, at most 128 bytes.
pub fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
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

/// Ask a yes/no question on a terminal. Only called when stdin and stderr are terminals.
pub fn prompt_yes_no(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(_) => matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_segments() {
        assert!(is_safe_segment("run-01.a_b"));
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "a;b"] {
            assert!(!is_safe_segment(bad), "{bad:?}");
        }
        assert_eq!(target_dir_name("root@127.0.0.1:2222"), "root_127.0.0.1_2222");
        assert_eq!(target_dir_name("../x"), "_x");
    }

    #[test]
    fn quoting_survives_a_real_shell() {
        for s in ["plain", "it's", "$(echo pwned)", "a b;c", "", "`x`"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", manifest::sh_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
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
