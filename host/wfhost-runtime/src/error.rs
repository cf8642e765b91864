//! Errors of loading components and of setting up the runtime.
//!
//! Call-time failures of a plugin are not errors of this kind: they are
//! [`PluginFailure`](crate::PluginFailure)s (or, for auditors, `unverified` verdicts).

use crate::roles::Role;
use std::path::PathBuf;

/// A component that could not be loaded for a role. Every variant names the component.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component file could not be read.
    #[error("cannot read component {path}: {source}; check the path and its permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An embedded (built-in) component was requested as another role than its own.
    #[error(
        "built-in component {name:?} is {}, not {}",
        .actual.with_article(),
        .wanted.with_article()
    )]
    BuiltinRole {
        /// The built-in's name.
        name: String,
        /// Its role.
        actual: Role,
        /// The role it was requested as.
        wanted: Role,
    },
    /// Precompiled native code (`.cwasm`) is never loaded from outside the cache.
    #[error(
        "component {name} is precompiled native code (.cwasm); wfhost only loads WebAssembly \
         component bytes (.wasm) and compiles them itself"
    )]
    Precompiled {
        /// The component's name.
        name: String,
    },
    /// The bytes are not a WebAssembly component.
    #[error("component {name} is not a WebAssembly component: {detail}")]
    NotAComponent {
        /// The component's name.
        name: String,
        /// What was found instead.
        detail: String,
    },
    /// Wasmtime rejected the component (invalid or unsupported).
    #[error("component {name} is invalid: {message}")]
    Invalid {
        /// The component's name.
        name: String,
        /// Wasmtime's reason.
        message: String,
    },
    /// The component was built against another version of the `wfhost:plugin` WIT package.
    #[error(
        "component {name} cannot be loaded as {}: it was built against wfhost:plugin@{version}, \
         and this wfhost loads only wfhost:plugin@{current} components; rebuild it against the \
         {current} contract (the wit/ directory shipped with this wfhost and wfhost-pack-sdk \
         {current}: regenerate the bindings with `wit_bindgen::generate!` for world \
         {world:?} and rebuild with `cargo build --target wasm32-wasip2 --release`), or use a \
         release of wfhost that speaks {version}",
        .role.with_article(),
        current = crate::roles::WFHOST_PLUGIN_VERSION,
        world = .role.world(),
    )]
    WitVersion {
        /// The component's name.
        name: String,
        /// The role it was loaded as.
        role: Role,
        /// The `wfhost:plugin` version it was built against.
        version: String,
    },
    /// The component does not implement its role's world.
    #[error(
        "component {name} cannot be loaded as {}: it does not export {export} (it exports: \
         {found}); is it a component of another world?",
        .role.with_article()
    )]
    MissingExport {
        /// The component's name.
        name: String,
        /// The role it was loaded as.
        role: Role,
        /// The missing export.
        export: String,
        /// What it does export.
        found: String,
    },
    /// The component imports something its role may not have.
    #[error(
        "component {name} cannot be loaded as {}: it imports {import}, refused: {why}",
        .role.with_article()
    )]
    ForbiddenImport {
        /// The component's name.
        name: String,
        /// The role it was loaded as.
        role: Role,
        /// The offending import.
        import: String,
        /// Why it is refused.
        why: String,
    },
    /// The process's address-space limit (`ulimit -v`) left no room to map the compiled
    /// component.
    #[error("component {name} cannot be loaded: {message}")]
    AddressSpace {
        /// The component's name.
        name: String,
        /// What failed and the limit that would be needed.
        message: String,
    },
    /// The role's linker could not satisfy the component's imports.
    #[error("component {name} cannot be linked as {}: {message}", .role.with_article())]
    Link {
        /// The component's name.
        name: String,
        /// The role it was loaded as.
        role: Role,
        /// Wasmtime's reason.
        message: String,
    },
}

/// The runtime could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Wasmtime refused the engine configuration or a linker definition.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The epoch ticker thread could not be started.
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
}
