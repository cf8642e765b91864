//! Where the pack store is and which packs are trusted, from the config and the environment.
//!
//! ```text
//! WF_PACK_STORE          (config file or environment) ─► the store directory, relative to the
//!                        working directory; unset: $XDG_DATA_HOME/wfhost/packs, else
//!                        $HOME/.local/share/wfhost/packs
//! WF_REQUIRE_SIGNED_PACKS ─► TrustPolicy::require_signed
//! WF_PACK_TRUSTED_KEYS   ─► each public key file read now (a bad file is an error naming it)
//! ```
//!
//! The keys are declared in `constitution/config.toml` (`source = "file+env"`): a flow reads
//! them from its loaded config (which already merged the environment), a `wfhost pack` command
//! from the config in its working directory when there is one, else from the environment.

use crate::signing::TrustPolicy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wfhost_config::config::Config;
use wfhost_constitution::keys::{self, Key, KeyKind};
use wfhost_evidence::dsse;

/// The store and the trust policy in force.
#[derive(Debug, Clone)]
pub struct PackSettings {
    /// The store's directory.
    pub store: PathBuf,
    /// Which packs are admitted.
    pub policy: TrustPolicy,
}

/// The default store directory from the environment, if it names a home.
pub fn default_store_dir(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let set = |k: &str| env.get(k).filter(|v| v.starts_with('/')).map(PathBuf::from);
    set("XDG_DATA_HOME")
        .map(|d| d.join("wfhost").join("packs"))
        .or_else(|| set("HOME").map(|h| h.join(".local/share/wfhost/packs")))
}

impl PackSettings {
    /// Resolve the settings for `workdir` from `config` (when the working directory has one) or
    /// `env` alone.
    pub fn resolve(workdir: &Path, env: &BTreeMap<String, String>, config: Option<&Config>) -> Result<PackSettings, String> {
        fn get<'a, K: KeyKind>(key: Key<K>, env: &'a BTreeMap<String, String>, config: Option<&'a Config>) -> Option<&'a str> {
            match config {
                Some(c) => c.get(key),
                None => env.get(key.name()).map(String::as_str).filter(|v| !v.trim().is_empty()),
            }
        }
        let store = match get(keys::WF_PACK_STORE, env, config) {
            Some(dir) => workdir.join(dir),
            None => default_store_dir(env).ok_or_else(|| {
                format!(
                    "no pack store: {} is unset and neither XDG_DATA_HOME nor HOME names a directory; set {} to a directory",
                    keys::WF_PACK_STORE.name(),
                    keys::WF_PACK_STORE.name()
                )
            })?,
        };
        let require_signed = match get(keys::WF_REQUIRE_SIGNED_PACKS, env, config) {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(format!("{}={other:?}: must be 0 or 1", keys::WF_REQUIRE_SIGNED_PACKS.name()));
            }
        };
        let mut trusted = Vec::new();
        if let Some(list) = get(keys::WF_PACK_TRUSTED_KEYS, env, config) {
            for file in keys::WF_PACK_TRUSTED_KEYS.separator().split(list) {
                let path = workdir.join(&file);
                let key = dsse::load_public_key(&path).map_err(|e| format!("{}: {e}", keys::WF_PACK_TRUSTED_KEYS.name()))?;
                trusted.push(key);
            }
        }
        Ok(PackSettings { store, policy: TrustPolicy { require_signed, trusted } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_store_comes_from_the_key_else_the_data_dir() {
        let w = Path::new("/work");
        let s = PackSettings::resolve(w, &env(&[("WF_PACK_STORE", "packs"), ("HOME", "/home/u")]), None).unwrap();
        assert_eq!(s.store, Path::new("/work/packs"));
        let s = PackSettings::resolve(w, &env(&[("HOME", "/home/u")]), None).unwrap();
        assert_eq!(s.store, Path::new("/home/u/.local/share/wfhost/packs"));
        let s = PackSettings::resolve(w, &env(&[("HOME", "/home/u"), ("XDG_DATA_HOME", "/d")]), None).unwrap();
        assert_eq!(s.store, Path::new("/d/wfhost/packs"));
        let e = PackSettings::resolve(w, &env(&[]), None).unwrap_err();
        assert!(e.contains("WF_PACK_STORE"), "{e}");
        assert!(!s.policy.require_signed && s.policy.trusted.is_empty());
    }

    #[test]
    fn trusted_keys_are_read_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let made = dsse::generate_key(&dir.path().join("k.pem")).unwrap();
        let e = env(&[("HOME", "/h"), ("WF_REQUIRE_SIGNED_PACKS", "1"), ("WF_PACK_TRUSTED_KEYS", "k.pem.pub")]);
        let s = PackSettings::resolve(dir.path(), &e, None).unwrap();
        assert!(s.policy.require_signed);
        assert_eq!(s.policy.trusted[0].key_id(), made.key_id);
        let e = env(&[("HOME", "/h"), ("WF_PACK_TRUSTED_KEYS", "k.pem.pub,missing.pub")]);
        let err = PackSettings::resolve(dir.path(), &e, None).unwrap_err();
        assert!(err.contains("WF_PACK_TRUSTED_KEYS") && err.contains("missing.pub"), "{err}");
        let e = env(&[("HOME", "/h"), ("WF_REQUIRE_SIGNED_PACKS", "yes")]);
        assert!(PackSettings::resolve(dir.path(), &e, None).unwrap_err().contains("0 or 1"));
    }
}
