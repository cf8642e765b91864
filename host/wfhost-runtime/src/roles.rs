//! Plugin roles and the contract each one is held to at load time.
//!
//! A role names the world a component must implement (its required export) and the imports it may
//! have. [`check_component`] reads a compiled component's type (`component_type()`) and refuses it,
//! naming the offending item, before anything is instantiated. The allowlists are exactly what the
//! role's linker provides (see `linker`): anything else would fail to link anyway, but refusing it
//! here gives an error that says which capability the component wanted.
//!
//! Every role may import `wfhost:plugin/types`: a component that exports an interface using those
//! records imports the (type-only) `types` instance. It is accepted only if it carries no function.

use crate::error::LoadError;
use serde::{Deserialize, Serialize};
use std::fmt;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;
use wasmtime::Engine;

/// The WIT package version this host knows. Components built against another version are refused.
pub const WFHOST_PLUGIN_VERSION: &str = "0.1.0";

/// What a component is loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A constitutional judge (world `auditor`): no host capability at all.
    Auditor,
    /// A phase executor (world `executor`): log, settings, gateway.
    Executor,
    /// A transport (world `transport-plugin`): log, settings, process.
    Transport,
}

/// The WASI interfaces every role gets: what Rust's std on wasm32-wasip2 needs to start. The
/// environment and arguments are empty, stdin is empty, stdout/stderr are bounded in-memory pipes
/// and there are no preopened directories (no `wasi:filesystem` at all), sockets or http.
pub const WASI_BASE_IMPORTS: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
];

impl Role {
    /// `auditor`, `executor` or `transport`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Executor => "executor",
            Role::Transport => "transport",
        }
    }

    /// The WIT world a component of this role implements.
    pub fn world(self) -> &'static str {
        match self {
            Role::Auditor => "wfhost:plugin/auditor",
            Role::Executor => "wfhost:plugin/executor",
            Role::Transport => "wfhost:plugin/transport-plugin",
        }
    }

    /// The interface the component must export, e.g. `wfhost:plugin/judge@0.1.0`.
    pub fn required_export(self) -> String {
        let iface = match self {
            Role::Auditor => "judge",
            Role::Executor => "phase",
            Role::Transport => "transport",
        };
        format!("wfhost:plugin/{iface}@{WFHOST_PLUGIN_VERSION}")
    }

    /// The wfhost interfaces (besides the type-only `types`) the component may import.
    pub fn allowed_wfhost_imports(self) -> &'static [&'static str] {
        match self {
            Role::Auditor => &[],
            Role::Executor => &["log", "settings", "gateway"],
            Role::Transport => &["log", "settings", "process"],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Refuse a component that does not export its role's interface or imports anything the role may
/// not have. Exports are checked first so a component of the wrong world is named as such.
pub(crate) fn check_component(
    engine: &Engine,
    component: &Component,
    role: Role,
    name: &str,
) -> Result<(), LoadError> {
    let ty = component.component_type();
    let export = role.required_export();
    let exported = ty.exports(engine).any(|(export_name, item)| {
        export_name == export && matches!(item.ty, ComponentItem::ComponentInstance(_))
    });
    if !exported {
        let found: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
        return Err(LoadError::MissingExport {
            name: name.to_string(),
            role,
            export,
            found: if found.is_empty() {
                "nothing".to_string()
            } else {
                found.join(", ")
            },
        });
    }
    for (import, item) in ty.imports(engine) {
        if let Err(why) = import_allowed(engine, role, import, &item.ty) {
            return Err(LoadError::ForbiddenImport {
                name: name.to_string(),
                role,
                import: import.to_string(),
                why,
            });
        }
    }
    Ok(())
}

fn import_allowed(
    engine: &Engine,
    role: Role,
    import: &str,
    item: &ComponentItem,
) -> Result<(), String> {
    let (iface, version) = match import.split_once('@') {
        Some((iface, version)) => (iface, version),
        None => (import, ""),
    };
    if !matches!(item, ComponentItem::ComponentInstance(_)) {
        return Err("only interface imports are allowed".to_string());
    }
    if let Some(rest) = iface.strip_prefix("wasi:") {
        if !WASI_BASE_IMPORTS.contains(&iface) {
            let family = rest.split('/').next().unwrap_or(rest);
            return Err(format!(
                "a {role} gets no wasi:{family} beyond what Rust's std needs to start \
                 (io, clocks, random, cli stdio with an empty environment)"
            ));
        }
        if !version.starts_with("0.2.") {
            return Err(format!(
                "WASI version {version:?} is not supported; build against WASI 0.2"
            ));
        }
        return Ok(());
    }
    if let Some(wfhost_iface) = iface.strip_prefix("wfhost:plugin/") {
        if version != WFHOST_PLUGIN_VERSION {
            return Err(format!(
                "built against wfhost:plugin@{version}; this host knows only \
                 wfhost:plugin@{WFHOST_PLUGIN_VERSION}"
            ));
        }
        if wfhost_iface == "types" {
            // `types` carries records only; a function in it would be a capability.
            if let ComponentItem::ComponentInstance(instance) = item {
                if instance
                    .exports(engine)
                    .any(|(_, i)| !matches!(i.ty, ComponentItem::Type(_)))
                {
                    return Err("wfhost:plugin/types may only carry types".to_string());
                }
            }
            return Ok(());
        }
        if role.allowed_wfhost_imports().contains(&wfhost_iface) {
            return Ok(());
        }
        return Err(if role == Role::Auditor {
            "an auditor gets no host capability at all".to_string()
        } else {
            format!(
                "a {role} may import only wfhost:plugin/{{{}}}",
                role.allowed_wfhost_imports().join(",")
            )
        });
    }
    Err(format!("the {role} role provides no such interface"))
}
