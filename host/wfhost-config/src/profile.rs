//! A transport's profile: everything it gets from the host, declared as data.
//!
//! ```text
//! plugins/transport-<name>/profile.toml (built-in) or a pack manifest's transport section
//!   ─► TransportProfile::parse ─► check against the config vocabulary
//!   ─► the flow's transport host: allowed programs, settings (config values; local paths made
//!      absolute), secret handles (a config secret's value stays in the host), a private socket
//!      directory, a known_hosts watch, HTTP hosts and the config keys naming its base URLs
//!   ─► the flow's executor host: the fixed executor settings the profile declares (the
//!      executor's `settings` import answers them while this transport is the flow's)
//! ```
//!
//! The engine knows a transport only through its profile; it never branches on a transport's
//! name. A profile names config keys, so a key it names must be in the vocabulary
//! (`constitution/config.toml`), and a secret must come from a key the vocabulary marks secret.

use crate::config::Vocabulary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A secret the host holds for the transport: the component only learns its handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretGrant {
    /// The handle the component asks for (in a process request's `secret-env`).
    pub handle: String,
    /// The config key that holds the secret (a local path is made absolute).
    pub key: String,
    /// The setting through which the component learns the handle's name, when the secret is
    /// set.
    pub setting: String,
    /// The one HTTP header this secret goes into (e.g. `X-API-KEY`), for an API key. A secret
    /// with a header reaches HTTP requests only, in that header, never a process (whose output a
    /// component could read back); one without reaches processes only, never a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_header: Option<String>,
}

/// Headers a secret may never go into: the host sets them, or they would carry it to places
/// other than the named service (a proxy, a cookie jar, a redirect).
const SECRET_HEADERS_REFUSED: &[&str] = &["host", "content-length", "content-type", "transfer-encoding", "connection", "idempotency-key", "cookie", "proxy-authorization", "referer", "location"];

/// Watch a known_hosts file and record keys trusted on first use (`host_key.accepted`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownHostsWatch {
    /// The 0/1 config key that turns trust on first use on; `None`: the transport always
    /// trusts on first use (in a file of its own), so the file is always watched.
    #[serde(default)]
    pub when: Option<String>,
    /// The config key naming the file; `~/.ssh/known_hosts` when unset.
    pub file: String,
}

/// What one transport gets from the host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportProfile {
    /// The transport's id (`WF_TRANSPORT`).
    pub id: String,
    /// Host programs it may run (by name, looked up on PATH).
    #[serde(default)]
    pub programs: Vec<String>,
    /// Hosts it may call over HTTPS (HTTP only to loopback).
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Config keys whose values are the base URLs it may call (e.g. `LIUM_BASE_URL`): a request
    /// must name a declared host AND lie under one of these.
    #[serde(default)]
    pub http_base_url_keys: Vec<String>,
    /// Config keys passed to it as settings (local paths made absolute).
    #[serde(default)]
    pub settings: Vec<String>,
    /// Secrets the host injects into its processes or requests by handle.
    #[serde(default)]
    pub secrets: Vec<SecretGrant>,
    /// The setting that receives a private (0700) directory short enough for unix sockets.
    #[serde(default)]
    pub socket_dir: Option<String>,
    /// A known_hosts file to watch for keys trusted on first use.
    #[serde(default)]
    pub known_hosts_watch: Option<KnownHostsWatch>,
    /// Fixed settings the flow's executor reads (its `settings` import) while this transport is
    /// the flow's, such as `WF_SWEEP_BACKEND = "slurm"`: how the transport's targets want the
    /// sweep run. Names are upper-case words and no config key: the config cannot set them.
    #[serde(default)]
    pub executor_settings: BTreeMap<String, String>,
}

/// Why a profile cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transport profile {origin}: {problem}")]
pub struct ProfileError {
    /// Where the profile came from.
    pub origin: String,
    /// What is wrong with it and what to do.
    pub problem: String,
}

impl TransportProfile {
    /// The profile of a component that declares nothing: no programs, no settings, no secrets.
    pub fn empty(id: &str) -> TransportProfile {
        TransportProfile {
            id: id.to_string(),
            programs: Vec::new(),
            http_hosts: Vec::new(),
            http_base_url_keys: Vec::new(),
            settings: Vec::new(),
            secrets: Vec::new(),
            socket_dir: None,
            known_hosts_watch: None,
            executor_settings: BTreeMap::new(),
        }
    }

    /// Parse a profile and check every key it names against the vocabulary.
    pub fn parse(text: &str, origin: &str, vocab: &Vocabulary) -> Result<TransportProfile, ProfileError> {
        let p: TransportProfile = toml::from_str(text)
            .map_err(|e| ProfileError { origin: origin.to_string(), problem: format!("does not parse: {e}") })?;
        p.check(origin, vocab)
    }

    /// Check every key a profile built elsewhere (a pack manifest's capabilities) names against
    /// the vocabulary, as [`TransportProfile::parse`] does for a `profile.toml`.
    pub fn check(self, origin: &str, vocab: &Vocabulary) -> Result<TransportProfile, ProfileError> {
        let err = |problem: String| ProfileError { origin: origin.to_string(), problem };
        let p = self;
        let known = |key: &str| vocab.key(key).is_some();
        for key in p.settings.iter().chain(&p.http_base_url_keys).chain(p.known_hosts_watch.iter().flat_map(|w| w.when.iter().chain([&w.file]))) {
            // A named key, or one of a family (`WF_PHASE_TIMEOUT_P10` of `WF_PHASE_TIMEOUT_*`).
            if !known(key) && vocab.pattern_for(key).is_none() {
                return Err(err(format!("names {key}, which is not a key of constitution/config.toml")));
            }
            if vocab.is_secret(key) {
                return Err(err(format!("passes {key} as a setting, but it is a secret: declare it under [[secrets]]")));
            }
        }
        for s in &p.secrets {
            // A named secret key, or one of a secret family (`WF_SECRET_*`).
            let declared = vocab.key(&s.key).is_some() || vocab.pattern_for(&s.key).is_some();
            match (declared, vocab.is_secret(&s.key)) {
                (true, true) => {}
                (true, false) => return Err(err(format!("secret {} comes from {}, which constitution/config.toml does not mark secret", s.handle, s.key))),
                (false, _) => return Err(err(format!("secret {} comes from {}, which is not a key of constitution/config.toml", s.handle, s.key))),
            }
            if s.handle.is_empty() || !s.handle.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(err(format!("secret handle {:?} must be letters, digits and _", s.handle)));
            }
            if let Some(h) = &s.http_header {
                if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(err(format!("secret {}: http_header {h:?} must be a header name (letters, digits and -, at most 64)", s.handle)));
                }
                if SECRET_HEADERS_REFUSED.contains(&h.to_ascii_lowercase().as_str()) {
                    return Err(err(format!("secret {}: http_header {h} is refused for a secret; name the header the service reads its key from (e.g. Authorization or X-API-KEY)", s.handle)));
                }
                if p.http_hosts.is_empty() {
                    return Err(err(format!("secret {} goes into HTTP header {h}, but the profile declares no http_hosts", s.handle)));
                }
            }
        }
        if !p.http_base_url_keys.is_empty() && p.http_hosts.is_empty() {
            return Err(err("names base URL keys but declares no http_hosts: declare the hosts it may call".into()));
        }
        for (name, value) in &p.executor_settings {
            let word = name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !word {
                return Err(err(format!("executor setting {name:?} must be an upper-case word (A-Z, 0-9, _)")));
            }
            if known(name) {
                return Err(err(format!("executor setting {name} is a key of constitution/config.toml; a profile cannot fix a config value")));
            }
            if value.chars().any(char::is_control) {
                return Err(err(format!("executor setting {name} has a control character in its value")));
            }
        }
        for prog in &p.programs {
            if prog.is_empty() || prog.contains('/') {
                return Err(err(format!("program {prog:?} must be a bare name looked up on PATH")));
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> &'static Vocabulary {
        Vocabulary::get().expect("vocabulary")
    }

    #[test]
    fn the_built_in_profiles_parse() {
        for (name, text) in [
            ("local", include_str!("../../../plugins/transport-local/profile.toml")),
            ("ssh", include_str!("../../../plugins/transport-ssh/profile.toml")),
            ("slurm", include_str!("../../../plugins/transport-slurm/profile.toml")),
            ("lium", include_str!("../../../plugins/transport-lium/profile.toml")),
        ] {
            let p = TransportProfile::parse(text, name, vocab()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.id, name);
            assert!(!p.programs.is_empty(), "{name} runs programs");
        }
    }

    #[test]
    fn a_profile_naming_an_unknown_or_secret_key_is_refused() {
        let e = TransportProfile::parse("id = \"x\"\nsettings = [\"NOT_A_KEY\"]\n", "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("NOT_A_KEY") && e.to_string().contains("config.toml"), "{e}");
        let e = TransportProfile::parse("id = \"x\"\nsettings = [\"WF_SSH_IDENTITY\"]\n", "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("is a secret"), "{e}");
        let e = TransportProfile::parse("id = \"x\"\nsettings = [\"WF_SECRET_TOKEN\"]\n", "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("is a secret"), "a secret family's key is no setting: {e}");
        let ok = TransportProfile::parse("id = \"x\"\nsettings = [\"WF_PHASE_TIMEOUT_P10\"]\n", "x", vocab()).unwrap();
        assert_eq!(ok.settings, ["WF_PHASE_TIMEOUT_P10"], "a key of a family is a setting");
        let e = TransportProfile::parse(
            "id = \"x\"\n[[secrets]]\nhandle = \"h\"\nkey = \"OPS_DEFAULT_HOST\"\nsetting = \"S\"\n",
            "x",
            vocab(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not mark secret"), "{e}");
        let grant = |header: &str, hosts: &str| format!("id = \"x\"\n{hosts}[[secrets]]\nhandle = \"h\"\nkey = \"LIUM_API_KEY\"\nsetting = \"S\"\nhttp_header = \"{header}\"\n");
        let e = TransportProfile::parse(&grant("Cookie", "http_hosts = [\"a.example\"]\n"), "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("http_header Cookie is refused"), "{e}");
        let e = TransportProfile::parse(&grant("X Key", "http_hosts = [\"a.example\"]\n"), "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("must be a header name"), "{e}");
        let e = TransportProfile::parse(&grant("X-API-KEY", ""), "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("declares no http_hosts"), "{e}");
        let ok = TransportProfile::parse(&grant("X-API-KEY", "http_hosts = [\"a.example\"]\n"), "x", vocab()).unwrap();
        assert_eq!(ok.secrets[0].http_header.as_deref(), Some("X-API-KEY"));
        let e = TransportProfile::parse("id = \"x\"\nprograms = [\"/bin/sh\"]\n", "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("bare name"), "{e}");
        let e = TransportProfile::parse("id = \"x\"\nhttp_base_url_keys = [\"NOT_A_KEY\"]\nhttp_hosts = [\"h\"]\n", "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("NOT_A_KEY"), "{e}");
        let e = TransportProfile::parse("id = \"x\"\nhttp_base_url_keys = [\"OPS_DEFAULT_HOST\"]\n", "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("declares no http_hosts"), "{e}");
        let e = TransportProfile::parse("id = \"x\"\nprogramz = []\n", "x", vocab()).unwrap_err();
        assert!(e.to_string().contains("does not parse"), "{e}");
    }

    #[test]
    fn executor_settings_are_fixed_words_that_no_config_key_shadows() {
        let p = TransportProfile::parse("id = \"x\"\n[executor_settings]\nWF_SWEEP_BACKEND = \"slurm\"\n", "x", vocab()).unwrap();
        assert_eq!(p.executor_settings.get("WF_SWEEP_BACKEND").map(String::as_str), Some("slurm"));
        assert!(TransportProfile::empty("x").executor_settings.is_empty());
        for (bad, why) in [
            ("lower = \"x\"", "upper-case word"),
            ("\"A-B\" = \"x\"", "upper-case word"),
            ("SWEEP_MAX_PARALLEL = \"9\"", "cannot fix a config value"),
            ("WF_X = \"a\\nb\"", "control character"),
        ] {
            let e = TransportProfile::parse(&format!("id = \"x\"\n[executor_settings]\n{bad}\n"), "x", vocab()).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
        // The slurm transport's profile asks for the job-array backend.
        let slurm = TransportProfile::parse(include_str!("../../../plugins/transport-slurm/profile.toml"), "slurm", vocab()).unwrap();
        assert_eq!(slurm.executor_settings.get("WF_SWEEP_BACKEND").map(String::as_str), Some("slurm"));
    }
}
