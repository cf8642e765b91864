//! Plugin roles and the contract each one is held to at load time.
//!
//! A role names the world a component must implement (its required export) and the imports it may
//! have. [`check_component`] reads a compiled component's type (`component_type()`) and refuses it,
//! naming the offending item and the role, before anything is instantiated. The allowlists are
//! exactly what the role's linker provides (see `linker`): the WASI interfaces every role gets
//! ([`WASI_BASE_IMPORTS`], linked denying everything, so importing them is harmless) and the
//! role's wfhost interfaces. Anything else (the gateway for an auditor, the process capability for
//! an auditor or an executor, `wasi:http`, an unknown package) would fail to link anyway, but
//! refusing it here gives an error that says which capability the component wanted.
//!
//! A component built against another version of the `wfhost:plugin` package (0.1.0, say) is
//! refused first, with [`LoadError::WitVersion`]: the message names the component, the version it
//! was built against and how to rebuild it against this host's, instead of a missing export.
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
pub const WFHOST_PLUGIN_VERSION: &str = "0.2.0";

/// What a component is loaded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A constitutional judge (world `auditor`): no host capability at all.
    Auditor,
    /// A phase executor (world `executor`): log, settings, gateway.
    Executor,
    /// A transport (world `transport-plugin`): log, settings, process, http, memo.
    Transport,
}

/// The WASI interfaces every role gets: every WASI 0.2 command interface a language runtime
/// imports (Rust's std, Python's componentize-py, ...), each denying access. There is no preopened
/// directory, so `wasi:filesystem` has nothing to open; sockets cannot be created and names do not
/// resolve; the environment and arguments are empty, stdin is empty, stdout/stderr are bounded
/// in-memory pipes. A component that imports them is loaded; what it tries through them fails.
/// `wasi:http` and anything else are not among them and are refused at load.
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
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

impl Role {
    /// The role with its indefinite article, for messages: `an auditor`, `an executor`,
    /// `a transport`.
    pub fn with_article(self) -> &'static str {
        match self {
            Role::Auditor => "an auditor",
            Role::Executor => "an executor",
            Role::Transport => "a transport",
        }
    }

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

    /// The interface the component must export, e.g. `wfhost:plugin/judge@0.2.0`.
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
            Role::Transport => &["log", "settings", "process", "http", "memo"],
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
    let names = ty
        .exports(engine)
        .map(|(n, _)| n)
        .chain(ty.imports(engine).map(|(n, _)| n));
    if let Some(version) = other_wit_version(names) {
        return Err(LoadError::WitVersion {
            name: name.to_string(),
            role,
            version,
        });
    }
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

/// The first `wfhost:plugin` version among `names` (imports and exports, `pkg/iface@version`)
/// that is not [`WFHOST_PLUGIN_VERSION`].
fn other_wit_version<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    names.into_iter().find_map(|name| {
        let (_, version) = name.strip_prefix("wfhost:plugin/")?.split_once('@')?;
        (version != WFHOST_PLUGIN_VERSION).then(|| version.to_string())
    })
}

fn import_allowed(
    engine: &Engine,
    role: Role,
    import: &str,
    item: &ComponentItem,
) -> Result<(), String> {
    if !matches!(item, ComponentItem::ComponentInstance(_)) {
        return Err("only interface imports are allowed".to_string());
    }
    let types_only = import
        .strip_prefix("wfhost:plugin/types@")
        .is_some_and(|version| version == WFHOST_PLUGIN_VERSION);
    if types_only {
        // `types` carries records only; a function in it would be a capability.
        if let ComponentItem::ComponentInstance(instance) = item {
            if instance
                .exports(engine)
                .any(|(_, i)| !matches!(i.ty, ComponentItem::Type(_)))
            {
                return Err("wfhost:plugin/types may only carry types".to_string());
            }
        }
    }
    interface_allowed(role, import)
}

/// Whether `role` may import the interface named `import` (`package/interface@version`).
fn interface_allowed(role: Role, import: &str) -> Result<(), String> {
    let (iface, version) = match import.split_once('@') {
        Some((iface, version)) => (iface, version),
        None => (import, ""),
    };
    let article = role.with_article();
    if let Some(rest) = iface.strip_prefix("wasi:") {
        if !WASI_BASE_IMPORTS.contains(&iface) {
            let family = rest.split('/').next().unwrap_or(rest);
            return Err(format!(
                "{article} gets no wasi:{family}; the WASI the host links is io, clocks, random, \
                 cli, filesystem and sockets (all of it denying access)"
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
        if wfhost_iface == "types" || role.allowed_wfhost_imports().contains(&wfhost_iface) {
            return Ok(());
        }
        return Err(if role == Role::Auditor {
            "an auditor gets no host capability at all".to_string()
        } else {
            format!(
                "{article} may import only wfhost:plugin/{{{}}}",
                role.allowed_wfhost_imports().join(",")
            )
        });
    }
    Err(format!(
        "no role gets this interface; {article} may import only WASI 0.2 and {}",
        match role.allowed_wfhost_imports() {
            [] => "wfhost:plugin/types".to_string(),
            allowed => format!("wfhost:plugin/{{types,{}}}", allowed.join(",")),
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_and_the_role_table_are_allowed_anything_else_is_refused_naming_the_role() {
        let v = WFHOST_PLUGIN_VERSION;
        for role in [Role::Auditor, Role::Executor, Role::Transport] {
            for wasi in WASI_BASE_IMPORTS {
                assert_eq!(interface_allowed(role, &format!("{wasi}@0.2.3")), Ok(()));
            }
            assert_eq!(
                interface_allowed(role, &format!("wfhost:plugin/types@{v}")),
                Ok(())
            );
            let http = interface_allowed(role, "wasi:http/outgoing-handler@0.2.3").unwrap_err();
            assert!(
                http.contains(role.with_article()) && http.contains("wasi:http"),
                "{http}"
            );
            let unknown = interface_allowed(role, "acme:spy/everything@1.0.0").unwrap_err();
            assert!(unknown.contains(role.with_article()), "{unknown}");
            let old = interface_allowed(role, "wasi:filesystem/types@0.1.0").unwrap_err();
            assert!(old.contains("WASI 0.2"), "{old}");
        }
        let allowed = |role: Role, iface: &str| {
            interface_allowed(role, &format!("wfhost:plugin/{iface}@{v}")).is_ok()
        };
        for iface in ["log", "settings", "gateway", "process"] {
            assert!(!allowed(Role::Auditor, iface), "auditor: {iface}");
        }
        assert!(allowed(Role::Executor, "gateway") && !allowed(Role::Executor, "process"));
        assert!(allowed(Role::Transport, "process") && !allowed(Role::Transport, "gateway"));
        for iface in ["http", "memo"] {
            assert!(allowed(Role::Transport, iface), "transport: {iface}");
            assert!(!allowed(Role::Executor, iface) && !allowed(Role::Auditor, iface), "{iface}");
        }
        let process =
            interface_allowed(Role::Executor, &format!("wfhost:plugin/process@{v}")).unwrap_err();
        assert!(
            process.starts_with("an executor may import only"),
            "{process}"
        );
        let newer = interface_allowed(Role::Transport, "wfhost:plugin/process@0.3.0").unwrap_err();
        assert!(newer.contains("0.3.0"), "{newer}");
    }

    #[test]
    fn another_wit_version_is_found_among_imports_and_exports() {
        let v = WFHOST_PLUGIN_VERSION;
        let current = [format!("wfhost:plugin/judge@{v}"), "wasi:io/error@0.2.3".to_string()];
        assert_eq!(other_wit_version(current.iter().map(String::as_str)), None);
        let old = ["wasi:io/error@0.2.3", "wfhost:plugin/types@0.1.0", "wfhost:plugin/judge@0.1.0"];
        assert_eq!(other_wit_version(old), Some("0.1.0".to_string()));
        assert_eq!(other_wit_version(["wfhost:plugin/judge"]), None, "no version: not this check's");
    }
}
