//! Packs on the host side: checking a pack with the plugin runtime, installing it precompiled,
//! and resolving the pack a config names into a component to load.
//!
//! ```text
//! wfhost pack add/verify <dir>
//!   ─► read_pack (manifest, digests) ─► check: id not a built-in's, WIT version, capabilities
//!      against the config vocabulary, signature against WF_PACK_TRUSTED_KEYS and the policy of
//!      WF_REQUIRE_SIGNED_PACKS, every component loaded for its role by the runtime (exports and
//!      the role's import rules), which compiles it into the component cache
//!   ─► (add) the capabilities shown, consent, Store::install (pack.installed in the pack log)
//!
//! P00 (plugins::load) ─► resolve(spec, role): Store::resolve (re-checks identity and digest)
//!   ─► the trust policy again (keys may have changed since the install) ─► the component bytes,
//!      a name `pack:<id>@<version>/<file>`, the transport profile its manifest declares, and
//!      what the flow records (id, version, identity, component sha256, signature)
//! ```
//!
//! A name that is not a path or a built-in is a pack spec; a pack that is not installed is
//! `PACK_MISSING` naming the pack and the install command, a pack that fails a check
//! `PACK_REFUSED` naming the pack, the component and the rule; both before any phase acts.

use crate::ops::{OpsError, OpsErrorKind};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use wfhost_config::config::{Config, ConfigLocation, Vocabulary};
use wfhost_config::profile::TransportProfile;
use wfhost_constitution::{codes, Code};
use wfhost_pack::{
    read_pack, signing, InstallOutcome, Manifest, PackError, PackSettings, PackSpec, Role, SignatureCheck, Staged, Store,
};
use wfhost_runtime::{ComponentSource, LoadSource, WFHOST_PLUGIN_VERSION};

fn err(kind: OpsErrorKind, message: impl Into<String>) -> OpsError {
    OpsError { kind, message: message.into() }
}

/// The runtime's role for a pack component's role.
pub fn runtime_role(role: Role) -> wfhost_runtime::Role {
    match role {
        Role::Auditor => wfhost_runtime::Role::Auditor,
        Role::Executor => wfhost_runtime::Role::Executor,
        Role::Transport => wfhost_runtime::Role::Transport,
    }
}

/// The pack settings of a `wfhost pack` command run in `workdir`: from its config when it has
/// one (a config that does not load is an error), else from the environment.
pub fn settings(workdir: &Path, env: &BTreeMap<String, String>) -> Result<PackSettings, OpsError> {
    let loc = ConfigLocation::resolve(workdir, env).map_err(|e| err(OpsErrorKind::Config, e.to_string()))?;
    let config = if loc.path().exists() {
        let vocab = Vocabulary::get().map_err(|e| err(OpsErrorKind::Internal, e.to_string()))?;
        Some(Config::load_with(&loc, vocab).map_err(|e| err(OpsErrorKind::Config, e.to_string()))?)
    } else {
        None
    };
    PackSettings::resolve(workdir, env, config.as_ref()).map_err(|e| err(OpsErrorKind::Config, e))
}

/// A pack that passed every check, ready to install.
#[derive(Debug)]
pub struct CheckedPack {
    /// The pack as read.
    pub staged: Staged,
    /// Its signature, as checked against the trusted keys.
    pub signature: SignatureCheck,
    /// Where each component's compiled code came from (it is in the cache now).
    pub compiled: Vec<(Role, LoadSource)>,
}

impl CheckedPack {
    /// What the user reads before consenting: the pack, its components and what it asks for.
    pub fn preview(&self) -> String {
        let m = &self.staged.manifest;
        let mut out = format!("pack {} ({})\n  {}\n  identity {}\n", m.name(), self.staged.origin.display(), m.description, m.identity());
        for c in &m.components {
            out.push_str(&format!("  {} component {} sha256 {} (wfhost:plugin@{})\n", c.role, c.file, c.sha256, c.wit_version));
        }
        let caps = m.capabilities.describe();
        if caps.is_empty() {
            out.push_str("  asks for no host capability\n");
        } else {
            out.push_str("  asks to:\n");
            for c in caps {
                out.push_str(&format!("    - {c}\n"));
            }
        }
        out.push_str(&format!("  signature: {}\n", self.signature.describe()));
        out
    }
}

/// Names a pack may not take: the built-ins'.
fn check_id(manifest: &Manifest) -> Result<(), PackError> {
    if wfhost_builtins::builtins().any(|(name, _)| name == manifest.id) {
        return Err(PackError::Refused {
            pack: manifest.name(),
            problem: format!(
                "its id {:?} is the name of a built-in component (built-ins: {}); a config naming it would load the built-in: choose another id",
                manifest.id,
                wfhost_builtins::known_names()
            ),
        });
    }
    Ok(())
}

/// Check a pack read from its directory: id, WIT version, capabilities, signature and policy,
/// and every component loaded for its role (which compiles it into the cache).
pub fn check(staged: Staged, settings: &PackSettings, env: &BTreeMap<String, String>) -> Result<CheckedPack, PackError> {
    let m = &staged.manifest;
    let origin = staged.origin.display().to_string();
    check_id(m)?;
    m.check_wit_version(WFHOST_PLUGIN_VERSION, &origin)?;
    let vocab = Vocabulary::get().map_err(|e| PackError::Refused { pack: m.name(), problem: e.to_string() })?;
    m.transport_profile(vocab, &origin)?;
    let signature = signing::check(staged.signature.as_deref(), m, &settings.policy.trusted)
        .map_err(|e| PackError::Refused { pack: m.name(), problem: e.to_string() })?;
    settings.policy.admit(&signature).map_err(|rule| PackError::Refused { pack: m.name(), problem: rule })?;
    let rt = crate::plugins::runtime(env).map_err(|e| PackError::Refused { pack: m.name(), problem: e })?;
    let mut compiled = Vec::new();
    for (c, bytes) in &staged.components {
        let source = ComponentSource::Bytes { name: format!("pack:{}/{}", m.name(), c.file), bytes: bytes.clone() };
        let loaded = rt.preload(runtime_role(c.role), &source).map_err(|e| PackError::Refused {
            pack: m.name(),
            problem: format!("the {} component {} is refused by the runtime: {e}", c.role, c.file),
        })?;
        compiled.push((c.role, loaded));
    }
    Ok(CheckedPack { staged, signature, compiled })
}

/// Read and check the pack at `path` (`wfhost pack verify`, and the first half of `add`).
pub fn verify(path: &Path, settings: &PackSettings, env: &BTreeMap<String, String>) -> Result<CheckedPack, OpsError> {
    let staged = read_pack(path).map_err(|e| err(OpsErrorKind::Config, e.to_string()))?;
    check(staged, settings, env).map_err(|e| err(OpsErrorKind::Config, e.to_string()))
}

/// Install a checked pack on behalf of `actor`.
pub fn install(checked: &CheckedPack, settings: &PackSettings, actor: wfhost_evidence::Actor) -> Result<InstallOutcome, OpsError> {
    Store::new(&settings.store)
        .install(&checked.staged, &checked.signature, actor)
        .map_err(|e| err(OpsErrorKind::Config, e.to_string()))
}

/// A pack component resolved for a flow.
#[derive(Debug, Clone)]
pub struct FlowPack {
    /// The component, ready to load.
    pub source: ComponentSource,
    /// The transport profile its manifest declares (for a transport).
    pub profile: Option<TransportProfile>,
    /// What the flow records about it.
    pub record: Value,
}

/// Resolve `spec` (a config's pack name) for `role` in the store of `settings`: the failure's
/// code is `PACK_MISSING` or `PACK_REFUSED`, its message names the pack (and the component and
/// rule for a refusal) and what to do.
pub fn resolve(text: &str, role: Role, settings: &PackSettings) -> Result<FlowPack, (Code, String)> {
    let spec = PackSpec::parse(text).map_err(|e| {
        (codes::PLUGIN_UNAVAILABLE, format!("{e}; a {role} is a built-in ({}), a .wasm path, or an installed pack", wfhost_builtins::known_names()))
    })?;
    let store = Store::new(&settings.store);
    let resolved = store.resolve(&spec, role).map_err(|e| match e {
        PackError::NotInstalled { .. } => {
            let builtins: Vec<&str> = wfhost_builtins::builtins().filter(|(_, r)| *r == runtime_role(role)).map(|(n, _)| n).collect();
            (codes::PACK_MISSING, format!("{e} (pack store {}); it is not a built-in {role} either ({})", settings.store.display(), builtins.join(", ")))
        }
        other => (codes::PACK_REFUSED, other.to_string()),
    })?;
    let m = &resolved.installed.manifest;
    let refused = |problem: String| (codes::PACK_REFUSED, format!("pack {}: {problem}", m.name()));
    let signature = signing::check(resolved.signature.as_deref(), m, &settings.policy.trusted).map_err(|e| refused(e.to_string()))?;
    settings.policy.admit(&signature).map_err(refused)?;
    let vocab = Vocabulary::get().map_err(|e| refused(e.to_string()))?;
    let profile = if role == Role::Transport {
        m.transport_profile(vocab, "installed manifest").map_err(|e| refused(e.to_string()))?
    } else {
        None
    };
    let record = json!({
        "id": m.id,
        "version": m.version.to_string(),
        "identity": m.identity(),
        "file": resolved.component.file,
        "sha256": resolved.component.sha256,
        "signature": signature.to_json(),
    });
    let source = ComponentSource::Bytes { name: resolved.name(), bytes: resolved.bytes };
    Ok(FlowPack { source, profile, record })
}
