//! The built-in components embedded in this crate by `build.rs`.
//!
//! `build.rs` compiles the plugin workspace and generates a table of
//! `(name, role, bytes, sha256)`; a built-in appears here only if its crate exists in `plugins/`.
//! Load one with [`ComponentSource::Builtin`](crate::ComponentSource::Builtin) and its name.

use crate::roles::Role;

include!(concat!(env!("OUT_DIR"), "/builtin_components.rs"));

/// The embedded built-ins: name and role, e.g. `("constitution", Role::Auditor)`.
pub fn builtins() -> impl Iterator<Item = (&'static str, Role)> {
    BUILTIN_TABLE
        .iter()
        .map(|(name, role, _, _)| (*name, *role))
}

/// The role, component bytes and their sha256 (computed at build time) of a built-in.
pub(crate) fn builtin(name: &str) -> Option<(Role, &'static [u8], [u8; 32])> {
    BUILTIN_TABLE
        .iter()
        .find(|(n, _, _, _)| *n == name)
        .map(|(_, role, bytes, digest)| (*role, *bytes, *digest))
}

/// Comma-separated names of the built-ins, for error messages.
pub(crate) fn known_names() -> String {
    builtins()
        .map(|(name, _)| name)
        .collect::<Vec<_>>()
        .join(", ")
}
