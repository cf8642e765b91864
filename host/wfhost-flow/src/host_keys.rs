//! Host keys an ssh flow trusted on first use, as evidence.
//!
//! With `WF_SSH_ACCEPT_NEW=1` ssh adds the key of a host it has never seen to the known_hosts
//! file the flow uses (`WF_SSH_KNOWN_HOSTS`, else `~/.ssh/known_hosts`). ssh says so only in a
//! warning the transport silences, so the host watches the file instead: [`HostKeyWatch`]
//! remembers its entries when the transport is set up and, after every process the transport
//! runs, records each entry that appeared as a `host_key.accepted` event (the file, the entry's
//! host field, key type and `SHA256:` fingerprint, as `ssh-keygen -l` prints it). Entries that
//! were removed are not events: wfhost never removes keys.

use crate::sink::Sink;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

/// Watches one known_hosts file for new entries.
pub struct HostKeyWatch {
    path: PathBuf,
    sink: Sink,
    seen: Mutex<BTreeSet<String>>,
}

/// One known_hosts entry, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyEntry {
    /// The host field (names, `[host]:port`, or a hashed `|1|...` form).
    pub hosts: String,
    /// The key type (`ssh-ed25519`, ...).
    pub key_type: String,
    /// `SHA256:<base64 without padding>` of the key blob; `None` when the key is not base64.
    pub fingerprint: Option<String>,
}

impl HostKeyEntry {
    /// Read a known_hosts line: `[@marker] hosts keytype key [comment]`; `None` for comments,
    /// blank lines and lines with too few fields.
    pub fn parse(line: &str) -> Option<HostKeyEntry> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace().skip_while(|f| f.starts_with('@'));
        let hosts = fields.next()?.to_string();
        let key_type = fields.next()?.to_string();
        let key = fields.next()?;
        let fingerprint = base64::engine::general_purpose::STANDARD.decode(key).ok().map(|blob| {
            format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(blob)))
        });
        Some(HostKeyEntry { hosts, key_type, fingerprint })
    }
}

fn entries(path: &PathBuf) -> BTreeSet<String> {
    // A known_hosts file that is not a regular file (or is over its cap) has no entries here;
    // ssh itself reports what it makes of it.
    wfhost_evidence::input::read_to_string(path, wfhost_evidence::input::InputKind::KnownHosts)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| HostKeyEntry::parse(l).is_some())
        .map(str::to_string)
        .collect()
}

impl HostKeyWatch {
    /// Start watching `path` (a missing file has no entries yet).
    pub fn new(path: PathBuf, sink: Sink) -> HostKeyWatch {
        let seen = Mutex::new(entries(&path));
        HostKeyWatch { path, sink, seen }
    }

    /// Record every entry that appeared since the last look.
    pub fn check(&self) {
        let now = entries(&self.path);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for line in now.difference(&seen) {
            if let Some(entry) = HostKeyEntry::parse(line) {
                self.sink.event("host_key.accepted", &format!("host_key/{}", entry.fingerprint.as_deref().unwrap_or(&entry.hosts)), json!({
                    "known_hosts": self.path.display().to_string(),
                    "hosts": entry.hosts,
                    "key_type": entry.key_type,
                    "fingerprint": entry.fingerprint,
                }));
            }
        }
        seen.extend(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_with_the_fingerprint_ssh_keygen_prints() {
        // `ssh-keygen -lf` of this line prints `256 SHA256:PUqR92JFEgcEBdM/GhkQkGROe3+OUzHIvyWZZLzTvgQ`.
        let line = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDUJ1mBIzLbv9/Fbd4j7iCjWsV9WyZdq8KGExK/LPvzj";
        let e = HostKeyEntry::parse(line).unwrap();
        assert_eq!((e.hosts.as_str(), e.key_type.as_str()), ("[127.0.0.1]:2222", "ssh-ed25519"));
        assert_eq!(e.fingerprint.as_deref(), Some("SHA256:PUqR92JFEgcEBdM/GhkQkGROe3+OUzHIvyWZZLzTvgQ"));
        let marked = HostKeyEntry::parse(&format!("@cert-authority {line} comment")).unwrap();
        assert_eq!(marked, e);
        assert_eq!(HostKeyEntry::parse("host ssh-ed25519 not*base64").unwrap().fingerprint, None);
        for skip in ["", "   ", "# comment", "host-only", "host ssh-ed25519"] {
            assert_eq!(HostKeyEntry::parse(skip), None, "{skip:?}");
        }
    }
}
