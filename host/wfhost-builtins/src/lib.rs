//! wfhost's own plugin components, built from `plugins/` and embedded in this crate.
//!
//! `build.rs` compiles every plugin crate of the workspace for wasm32-wasip2 (profile `plugin`)
//! and generates the table of built-ins: the crates whose manifest declares
//! `[package.metadata.wfhost] builtin = "<name>"` and its `role`, each as
//! `(name, role, bytes, sha256)`. This crate turns a name into a
//! [`ComponentSource::Embedded`] for `wfhost-runtime` to load; the digest was computed at build
//! time, so loading a built-in hashes nothing. The test-only components (`plugins/testing/*`)
//! are built too but never embedded: [`components_dir`] says where they are.
//!
//! ```no_run
//! use wfhost_runtime::{Runtime, RuntimeOptions, CacheMode};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(RuntimeOptions { cache: CacheMode::MemoryOnly })?;
//! let auditor = runtime.load_auditor(&wfhost_builtins::builtin("constitution")?)?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

use std::path::Path;
use wfhost_runtime::{ComponentSource, LoadError, LoadSource, Role, Runtime};

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// No built-in component has the requested name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no built-in component named {name:?}; built-ins are: {known}")]
pub struct UnknownBuiltin {
    /// The requested name.
    pub name: String,
    /// The names that exist, comma-separated.
    pub known: String,
}

/// The embedded built-ins, sorted by name: name and role, e.g. `("constitution", Role::Auditor)`.
pub fn builtins() -> impl Iterator<Item = (&'static str, Role)> {
    TABLE.iter().map(|(name, role, _, _)| (*name, *role))
}

/// The built-in named `name` (`constitution`, `executors`, `local`, ...), ready to load.
pub fn builtin(name: &str) -> Result<ComponentSource, UnknownBuiltin> {
    TABLE
        .iter()
        .find(|(n, _, _, _)| *n == name)
        .map(source)
        .ok_or_else(|| UnknownBuiltin {
            name: name.to_string(),
            known: known_names(),
        })
}

/// The profile a built-in declares in its crate's `profile.toml` (a transport's programs,
/// settings, secret handles, HTTP hosts), if it has one.
pub fn profile(name: &str) -> Option<&'static str> {
    PROFILES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// Comma-separated names of the built-ins, for messages.
pub fn known_names() -> String {
    builtins()
        .map(|(name, _)| name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Load every built-in for its role (what a flow does at start, so a broken component is
/// reported before any phase runs). Returns each name with where its compiled code came from.
pub fn preload(runtime: &Runtime) -> Result<Vec<(&'static str, LoadSource)>, LoadError> {
    TABLE
        .iter()
        .map(|row| Ok((row.0, runtime.preload(row.1, &source(row))?)))
        .collect()
}

/// A table row as a source the runtime loads without hashing it again.
fn source(
    &(name, role, bytes, sha256): &(&'static str, Role, &'static [u8], [u8; 32]),
) -> ComponentSource {
    ComponentSource::Embedded {
        name,
        role,
        bytes,
        sha256,
    }
}

/// The directory holding every component built from `plugins/`, as `<crate_name>.wasm`
/// (`hostile_runtime.wasm`, `wfhost_executors.wasm`, ...): the test-only ones are loaded from
/// here by tests. It is a path of the build machine's target directory.
pub fn components_dir() -> &'static Path {
    Path::new(COMPONENTS_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn the_built_ins_are_wfhosts_six_with_their_roles() {
        let table: Vec<(&str, Role)> = builtins().collect();
        assert_eq!(
            table,
            [
                ("constitution", Role::Auditor),
                ("executors", Role::Executor),
                ("lium", Role::Transport),
                ("local", Role::Transport),
                ("slurm", Role::Transport),
                ("ssh", Role::Transport),
            ]
        );
        assert_eq!(known_names(), "constitution, executors, lium, local, slurm, ssh");
    }

    #[test]
    fn each_embedded_digest_is_the_sha256_of_its_bytes() {
        for (name, _) in builtins() {
            let Ok(ComponentSource::Embedded { bytes, sha256, .. }) = builtin(name) else {
                panic!("{name} is not an embedded source");
            };
            assert!(bytes.starts_with(b"\0asm"), "{name} is WebAssembly");
            let actual: [u8; 32] = Sha256::digest(bytes).into();
            assert_eq!(actual, sha256, "{name}");
        }
    }

    #[test]
    fn an_unknown_name_is_refused_listing_the_built_ins() {
        let err = builtin("nonesuch").expect_err("no such built-in");
        assert_eq!(
            err.to_string(),
            "no built-in component named \"nonesuch\"; built-ins are: constitution, executors, \
             lium, local, slurm, ssh"
        );
    }

    #[test]
    fn the_test_components_are_built_next_to_the_built_ins() {
        for stem in [
            "hostile_runtime",
            "probe_executor",
            "wfhost_auditor_constitution",
        ] {
            let path = components_dir().join(format!("{stem}.wasm"));
            assert!(path.is_file(), "{} exists", path.display());
        }
    }
}
