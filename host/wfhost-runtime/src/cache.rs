//! The compiled-component cache: in memory per process, and on disk across processes.
//!
//! Key = sha256 of the component bytes + a digest of the engine's
//! `precompile_compatibility_hash`, so a cache entry is only ever used by an engine that produced
//! a compatible one. Lookups go memory → disk → compile; a compile writes the serialized component
//! to `<dir>/<key>.cwasm` and its sha256 to `<dir>/<key>.cwasm.sha256`, each through a temp file and
//! a rename. A disk entry is deserialized only after its bytes hash to the value its sidecar
//! holds; anything missing, corrupt or refused by wasmtime is recompiled and overwritten, never
//! trusted. Precompiled input from outside (a `.cwasm` shipped with a plugin) is refused before it
//! reaches the cache: only component bytes come in.

use crate::engine::address_space_advice;
use crate::error::LoadError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where compiled components are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheMode {
    /// On disk in this directory (created when first written), plus in memory.
    Disk(PathBuf),
    /// In memory only: every process compiles once.
    MemoryOnly,
}

/// The default on-disk cache directory from a configuration map (normally the process
/// environment, collected by the caller): `$WFHOST_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wfhost/components`, else `$HOME/.cache/wfhost/components`; `None` when none
/// of those is set.
pub fn default_cache_dir(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let set = |key: &str| {
        env.get(key)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = set("WFHOST_CACHE_DIR") {
        return Some(dir);
    }
    if let Some(dir) = set("XDG_CACHE_HOME") {
        return Some(dir.join("wfhost").join("components"));
    }
    set("HOME").map(|home| home.join(".cache").join("wfhost").join("components"))
}

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadSource {
    /// Already compiled in this process.
    Memory,
    /// Deserialized from a verified on-disk cache entry.
    Disk,
    /// Compiled now (and written to the disk cache when there is one).
    Compiled,
}

/// Counters of the cache since the runtime was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Loads served from memory.
    pub memory_hits: u64,
    /// Loads served from a verified disk entry.
    pub disk_hits: u64,
    /// Loads that compiled the component.
    pub compiled: u64,
    /// Disk entries found corrupt, unverifiable or refused by wasmtime (then recompiled).
    pub rejected_entries: u64,
    /// Disk writes that failed (the load still succeeded; the next process compiles again).
    pub write_errors: u64,
}

pub(crate) struct ComponentCache {
    mode: CacheMode,
    engine_digest: String,
    memory: Mutex<HashMap<[u8; 32], Component>>,
    stats: Mutex<CacheStats>,
}

/// Feeds a `Hash` implementation into sha256, giving a digest that is stable across processes
/// (unlike `DefaultHasher`, whose algorithm may change between Rust releases).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, mode: CacheMode) -> ComponentCache {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_digest = hex::encode(&hasher.0.finalize()[..12]);
        ComponentCache {
            mode,
            engine_digest,
            memory: Mutex::new(HashMap::new()),
            stats: Mutex::new(CacheStats::default()),
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        *lock(&self.stats)
    }

    pub(crate) fn clear_memory(&self) {
        lock(&self.memory).clear();
    }

    pub(crate) fn mode(&self) -> &CacheMode {
        &self.mode
    }

    fn count(&self, update: impl FnOnce(&mut CacheStats)) {
        update(&mut lock(&self.stats));
    }

    /// The compiled component for these bytes, from memory, disk, or a fresh compile.
    /// `known_digest` is the bytes' sha256 when the caller already has it (built-ins carry one
    /// computed at build time).
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        name: &str,
        bytes: &[u8],
        known_digest: Option<[u8; 32]>,
    ) -> Result<(Component, LoadSource, [u8; 32]), LoadError> {
        validate_component_bytes(name, bytes)?;
        let digest: [u8; 32] = known_digest.unwrap_or_else(|| Sha256::digest(bytes).into());
        if let Some(component) = lock(&self.memory).get(&digest) {
            self.count(|s| s.memory_hits += 1);
            return Ok((component.clone(), LoadSource::Memory, digest));
        }
        let entry = self.entry_path(&digest);
        if let Some(path) = &entry {
            match read_verified(engine, path) {
                Entry::Hit(component) => {
                    self.count(|s| s.disk_hits += 1);
                    lock(&self.memory).insert(digest, component.clone());
                    return Ok((component, LoadSource::Disk, digest));
                }
                Entry::Rejected => self.count(|s| s.rejected_entries += 1),
                Entry::Absent => {}
            }
        }
        let component = Component::new(engine, bytes).map_err(|e| {
            let message = format!("{e:#}");
            match address_space_advice(&message) {
                Some(advice) => LoadError::AddressSpace {
                    name: name.to_string(),
                    message: advice,
                },
                None => LoadError::Invalid {
                    name: name.to_string(),
                    message,
                },
            }
        })?;
        self.count(|s| s.compiled += 1);
        if let Some(path) = &entry {
            let written = component
                .serialize()
                .map_err(|e| std::io::Error::other(format!("{e:#}")))
                .and_then(|serialized| write_entry(path, &serialized));
            if written.is_err() {
                self.count(|s| s.write_errors += 1);
            }
        }
        lock(&self.memory).insert(digest, component.clone());
        Ok((component, LoadSource::Compiled, digest))
    }

    /// The disk entry path for a component digest (`None` in memory-only mode).
    pub(crate) fn entry_path(&self, digest: &[u8; 32]) -> Option<PathBuf> {
        match &self.mode {
            CacheMode::Disk(dir) => Some(dir.join(format!(
                "{}-{}.cwasm",
                hex::encode(digest),
                self.engine_digest
            ))),
            CacheMode::MemoryOnly => None,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (plain inserts/counters).
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Refuse anything but component bytes before they reach wasmtime or the cache.
fn validate_component_bytes(name: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if Engine::detect_precompiled(bytes).is_some() {
        return Err(LoadError::Precompiled {
            name: name.to_string(),
        });
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotAComponent {
            name: name.to_string(),
            detail: format!(
                "no WebAssembly header ({} bytes, starting {:02x?})",
                bytes.len(),
                &bytes[..bytes.len().min(8)]
            ),
        });
    }
    // Bytes 6..8 are the layer: 0 = core module, 1 = component.
    if bytes[6..8] != [1, 0] {
        return Err(LoadError::NotAComponent {
            name: name.to_string(),
            detail: "it is a core WebAssembly module; build it as a component (wasm32-wasip2, or \
                     `wasm-tools component new`)"
                .to_string(),
        });
    }
    Ok(())
}

enum Entry {
    Hit(Component),
    Rejected,
    Absent,
}

fn sidecar(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".sha256");
    PathBuf::from(name)
}

fn read_verified(engine: &Engine, path: &Path) -> Entry {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Entry::Absent,
        Err(_) => return Entry::Rejected,
    };
    let Ok(expected) = std::fs::read_to_string(sidecar(path)) else {
        return Entry::Rejected;
    };
    if hex::encode(Sha256::digest(&data)) != expected.trim() {
        return Entry::Rejected;
    }
    // SAFETY: `data` is exactly the bytes this cache serialized with `Component::serialize` (its
    // sha256 matches the sidecar written next to it), and the key includes the engine's
    // compatibility hash; wasmtime additionally checks the header and engine compatibility.
    match unsafe { Component::deserialize(engine, &data) } {
        Ok(component) => Entry::Hit(component),
        Err(_) => Entry::Rejected,
    }
}

fn write_entry(path: &Path, serialized: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("cache entry has no directory"))?;
    std::fs::create_dir_all(dir)?;
    write_atomic(dir, path, serialized)?;
    let digest = hex::encode(Sha256::digest(serialized));
    write_atomic(dir, &sidecar(path), format!("{digest}\n").as_bytes())
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_dir_prefers_wfhost_then_xdg_then_home() {
        let all = env(&[
            ("WFHOST_CACHE_DIR", "/w"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(default_cache_dir(&all), Some(PathBuf::from("/w")));
        let xdg = env(&[
            ("WFHOST_CACHE_DIR", " "),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(
            default_cache_dir(&xdg),
            Some(PathBuf::from("/x/wfhost/components"))
        );
        let home = env(&[("HOME", "/h")]);
        assert_eq!(
            default_cache_dir(&home),
            Some(PathBuf::from("/h/.cache/wfhost/components"))
        );
        assert_eq!(default_cache_dir(&env(&[])), None);
    }

    #[test]
    fn non_component_bytes_are_refused_with_the_reason() {
        let garbage = validate_component_bytes("g", b"hello world, not wasm");
        assert!(
            matches!(garbage, Err(LoadError::NotAComponent { .. })),
            "{garbage:?}"
        );
        let core = validate_component_bytes("c", b"\0asm\x01\0\0\0");
        let Err(LoadError::NotAComponent { detail, .. }) = core else {
            panic!("{core:?}")
        };
        assert!(detail.contains("core WebAssembly module"), "{detail}");
        assert!(validate_component_bytes("ok", b"\0asm\x0d\0\x01\0").is_ok());
    }
}
