//! The runtime: one engine, its epoch ticker, the compiled-component cache and the role linkers;
//! and loading a component for a role.
//!
//! Loading is: get the bytes (embedded, file, or given) → refuse precompiled or non-component
//! input → compiled component from the cache (memory, verified disk entry, or compile) → check the
//! role's exports and imports. The result is a [`Loaded`] component; the role handles
//! ([`Auditor`], [`Executor`], [`Transport`]) pre-instantiate it against their role's linker and
//! make a fresh store per call.

use crate::auditor::Auditor;
use crate::cache::{CacheMode, CacheStats, ComponentCache, LoadSource};
use crate::engine::{address_space_limit, new_engine, EpochClock, EpochTicker, MemoryLayout};
use crate::error::{LoadError, RuntimeError};
use crate::executor::Executor;
use crate::linker::Linkers;
use crate::roles::{check_component, Role};
use crate::transport::Transport;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::Component;
use wasmtime::Engine;

/// How to build a [`Runtime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Where compiled components are cached.
    pub cache: CacheMode,
}

impl RuntimeOptions {
    /// Options with the default on-disk cache directory taken from a configuration map (see
    /// [`default_cache_dir`](crate::cache::default_cache_dir)); memory-only when it names none.
    pub fn from_env_map(env: &BTreeMap<String, String>) -> RuntimeOptions {
        let cache = crate::cache::default_cache_dir(env)
            .map(CacheMode::Disk)
            .unwrap_or(CacheMode::MemoryOnly);
        RuntimeOptions { cache }
    }
}

/// Where a component's bytes come from.
#[derive(Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// A component embedded in the host program (a built-in), with its role and the sha256 of
    /// its bytes computed when it was embedded: the digest is the cache key, so loading it hashes
    /// nothing. It must be the digest of `bytes` (a wrong one would file compiled code under
    /// another component's key); `wfhost-builtins` computes it at build time.
    Embedded {
        /// The built-in's name (`constitution`, ...); messages and evidence say `builtin:<name>`.
        name: &'static str,
        /// The role it implements; loading it as another role is refused.
        role: Role,
        /// The component bytes.
        bytes: &'static [u8],
        /// sha256 of `bytes`.
        sha256: [u8; 32],
    },
    /// A component file (`.wasm`). Precompiled `.cwasm` files are refused.
    File(PathBuf),
    /// Component bytes already in memory, with a name for messages and evidence.
    Bytes {
        /// Name used in messages and evidence.
        name: String,
        /// The component bytes.
        bytes: Vec<u8>,
    },
}

impl ComponentSource {
    /// A component file.
    pub fn file(path: impl Into<PathBuf>) -> ComponentSource {
        ComponentSource::File(path.into())
    }

    /// The name used in messages and evidence: `builtin:<name>`, the file path, or the given name.
    pub fn name(&self) -> String {
        match self {
            ComponentSource::Embedded { name, .. } => format!("builtin:{name}"),
            ComponentSource::File(path) => path.display().to_string(),
            ComponentSource::Bytes { name, .. } => name.clone(),
        }
    }
}

/// The bytes are summarised (length, digest), never printed.
impl std::fmt::Debug for ComponentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComponentSource::Embedded {
                name,
                role,
                bytes,
                sha256,
            } => f
                .debug_struct("Embedded")
                .field("name", name)
                .field("role", role)
                .field("len", &bytes.len())
                .field("sha256", &hex::encode(sha256))
                .finish(),
            ComponentSource::File(path) => f.debug_tuple("File").field(path).finish(),
            ComponentSource::Bytes { name, bytes } => f
                .debug_struct("Bytes")
                .field("name", name)
                .field("len", &bytes.len())
                .finish(),
        }
    }
}

/// A component compiled and checked for its role (the role handle links it).
pub(crate) struct Loaded {
    pub(crate) name: String,
    pub(crate) sha256: String,
    pub(crate) source: LoadSource,
    pub(crate) component: Component,
}

struct Inner {
    // Field order matters for drop: the ticker stops before the engine goes away.
    ticker: EpochTicker,
    engine: Engine,
    cache: ComponentCache,
    linkers: Linkers,
}

/// The plugin runtime. Cheap to clone (shared); safe to use from several threads.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache", self.inner.cache.mode())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Create the engine, start the epoch ticker, build the role linkers.
    pub fn new(options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let engine = new_engine(MemoryLayout::for_limit(address_space_limit()))?;
        let ticker = EpochTicker::start(&engine)?;
        let cache = ComponentCache::new(&engine, options.cache);
        let linkers = Linkers::new(&engine)?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                ticker,
                engine,
                cache,
                linkers,
            }),
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn clock(&self) -> EpochClock {
        self.inner.ticker.clock()
    }

    pub(crate) fn linkers(&self) -> &Linkers {
        &self.inner.linkers
    }

    /// Load an auditor (world `auditor`).
    pub fn load_auditor(&self, source: &ComponentSource) -> Result<Auditor, LoadError> {
        Auditor::new(self.clone(), self.load(Role::Auditor, source)?)
    }

    /// Load a phase executor (world `executor`).
    pub fn load_executor(&self, source: &ComponentSource) -> Result<Executor, LoadError> {
        Executor::new(self.clone(), self.load(Role::Executor, source)?)
    }

    /// Load a transport (world `transport-plugin`).
    pub fn load_transport(&self, source: &ComponentSource) -> Result<Transport, LoadError> {
        Transport::new(self.clone(), self.load(Role::Transport, source)?)
    }

    /// Load a component for a role without keeping its handle: it is compiled (or found in the
    /// cache), checked against the role and linked, so a broken component is reported now
    /// rather than at its first call. Returns where the compiled code came from.
    pub fn preload(&self, role: Role, source: &ComponentSource) -> Result<LoadSource, LoadError> {
        Ok(match role {
            Role::Auditor => self.load_auditor(source)?.load_source(),
            Role::Executor => self.load_executor(source)?.load_source(),
            Role::Transport => self.load_transport(source)?.load_source(),
        })
    }

    /// Cache counters since this runtime was created.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Forget the compiled components held in memory (the disk cache stays). The next load of
    /// each component goes to disk or compiles.
    pub fn clear_memory_cache(&self) {
        self.inner.cache.clear_memory();
    }

    pub(crate) fn load(&self, role: Role, source: &ComponentSource) -> Result<Loaded, LoadError> {
        let name = source.name();
        let mut known_digest = None;
        let bytes: Cow<'_, [u8]> = match source {
            ComponentSource::Embedded {
                name: builtin_name,
                role: actual,
                bytes,
                sha256,
            } => {
                if *actual != role {
                    return Err(LoadError::BuiltinRole {
                        name: builtin_name.to_string(),
                        actual: *actual,
                        wanted: role,
                    });
                }
                known_digest = Some(*sha256);
                Cow::Borrowed(*bytes)
            }
            ComponentSource::File(path) => {
                if path
                    .extension()
                    .is_some_and(|ext| ext.eq_ignore_ascii_case("cwasm"))
                {
                    return Err(LoadError::Precompiled { name });
                }
                Cow::Owned(std::fs::read(path).map_err(|source| LoadError::Read {
                    path: path.clone(),
                    source,
                })?)
            }
            ComponentSource::Bytes { bytes, .. } => Cow::Borrowed(bytes.as_slice()),
        };
        let engine = &self.inner.engine;
        let (component, source, digest) =
            self.inner
                .cache
                .get_or_compile(engine, &name, &bytes, known_digest)?;
        check_component(engine, &component, role, &name)?;
        Ok(Loaded {
            name,
            sha256: hex::encode(digest),
            source,
            component,
        })
    }
}
