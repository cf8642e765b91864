//! The built-in components embedded in this crate by `build.rs`.
//!
//! `build.rs` compiles the plugin workspace and generates a table of `(name, role, bytes)`; a
//! built-in appears here only if its crate exists in `plugins/`. Load one with
//! [`ComponentSource::Builtin`](crate::ComponentSource::Builtin) and its name.

use crate::roles::Role;

include!(concat!(env!("OUT_DIR"), "/builtin_components.rs"));

/// The embedded built-ins: name and role, e.g. `("constitution", Role::Auditor)`.
pub fn builtins() -> impl Iterator<Item = (&'static str, Role)> {
    BUILTIN_TABLE.iter().map(|(name, role, _)| (*name, *role))
}

/// The component bytes and role of a built-in.
pub(crate) fn builtin(name: &str) -> Option<(Role, &'static [u8])> {
    BUILTIN_TABLE
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, role, bytes)| (*role, *bytes))
}

/// Comma-separated names of the built-ins, for error messages.
pub(crate) fn known_names() -> String {
    builtins()
        .map(|(name, _)| name)
        .collect::<Vec<_>>()
        .join(", ")
}
