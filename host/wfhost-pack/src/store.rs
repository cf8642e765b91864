//! Reading a pack from its directory, and the content-addressed pack store with its log.
//!
//! ```text
//! <pack dir>/pack.json (+ pack.sig.json) + components
//!   ─► read_pack: manifest parsed and checked, every component read and its sha256 compared
//!      with the manifest's ─► Staged
//!
//! <store>/log/events.jsonl       the pack log: an evidence log (wfhost-evidence: hash-chained,
//!                                fsync'd, locked while written) of pack.installed and
//!                                pack.removed records (constitution/ops.toml); it is the truth
//!                                of what is installed
//! <store>/objects/<identity>/    one installed pack, named by its identity: pack.json in
//!                                canonical form, pack.sig.json if signed, its components
//!
//! install: lock the log ─► write objects/<identity> (temp dir, fsync, rename) ─► append
//!          pack.installed (the install takes effect with the record)
//! remove:  lock the log ─► append pack.removed ─► delete objects/<identity> (the records of
//!          the install stay: removing never deletes history)
//! resolve: verify the log ─► installed packs (installs minus removals) ─► pick by spec ─►
//!          re-read the stored manifest and component and check the identity and the digest,
//!          so a store changed behind wfhost's back is refused, naming the file
//! ```

use crate::manifest::{Component, Manifest, ManifestError, Role, MANIFEST_FILE, SIGNATURE_FILE};
use crate::signing::SignatureCheck;
use crate::spec::{PackSpec, Pin};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use wfhost_evidence::hash::sha256_hex;
use wfhost_evidence::{Actor, Envelope, EventDraft, EventLog, LogOptions};

/// The pack log, relative to the store.
pub const LOG_FILE: &str = "log/events.jsonl";
/// The installed packs, relative to the store.
pub const OBJECTS_DIR: &str = "objects";
/// The pack log's correlation id (the same on every record, like a flow id).
pub const STORE_LOG_ID: &str = "wfhost-pack-store";
/// The event type of an install (constitution/ops.toml).
pub const EVENT_INSTALLED: &str = "pack.installed";
/// The event type of a removal (constitution/ops.toml).
pub const EVENT_REMOVED: &str = "pack.removed";

/// Why a pack could not be read, installed, removed or found. Every message names the pack (or
/// the file) and, for a refusal, the component and the rule.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`cannot read`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A component's bytes are not the ones the manifest declares.
    #[error("pack {pack}: the {role} component {file} has sha256 {found}, but the manifest declares {expected} (rule: every component's sha256 must match the manifest); the file changed after the manifest was written: rebuild the pack, or run `wfhost pack digest` on a pack you built yourself")]
    Digest {
        /// `<id>@<version>`.
        pack: String,
        /// The component's role.
        role: Role,
        /// The component file.
        file: String,
        /// The manifest's digest.
        expected: String,
        /// The file's digest.
        found: String,
    },
    /// The pack is refused by a rule (signature, trust policy, a component's imports, ...).
    #[error("pack {pack}: {problem}")]
    Refused {
        /// `<id>@<version>`.
        pack: String,
        /// The component and rule, and what to do.
        problem: String,
    },
    /// The store's log cannot be read or written.
    #[error("pack store {}: {problem}", store.display())]
    Store {
        /// The store.
        store: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// No installed pack matches.
    #[error("{}", missing_text(spec, installed))]
    NotInstalled {
        /// What was asked for.
        spec: String,
        /// The installed versions of that id (`<id>@<version>`), if any.
        installed: Vec<String>,
    },
}

fn missing_text(spec: &str, installed: &[String]) -> String {
    if installed.is_empty() {
        format!("pack {spec} is not installed; install it with `wfhost pack add <pack dir>` (`wfhost pack list` shows the installed packs)")
    } else {
        format!(
            "pack {spec} is not installed (installed: {}); install it with `wfhost pack add <pack dir>`, or name an installed version",
            installed.join(", ")
        )
    }
}

/// A pack read from its directory and checked: manifest, signature bytes, component bytes.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The manifest.
    pub manifest: Manifest,
    /// Where the manifest was read from.
    pub origin: PathBuf,
    /// `pack.sig.json`, if present.
    pub signature: Option<Vec<u8>>,
    /// Each component with its bytes (digests checked).
    pub components: Vec<(Component, Vec<u8>)>,
}

fn read(path: &Path) -> Result<Vec<u8>, PackError> {
    std::fs::read(path).map_err(|source| PackError::Io { what: "cannot read", path: path.to_path_buf(), source })
}

/// The manifest path of a pack given as a directory or as its `pack.json`.
pub fn manifest_path(path: &Path) -> PathBuf {
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if path.is_dir() {
        path.join(MANIFEST_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Read the pack at `path` (its directory or its `pack.json`): the manifest, the signature if
/// any, and every component, whose sha256 must be the manifest's.
pub fn read_pack(path: &Path) -> Result<Staged, PackError> {
    let origin = manifest_path(path);
    let dir = origin.parent().map(Path::to_path_buf).unwrap_or_default();
    let manifest = Manifest::parse(&read(&origin)?, &origin.display().to_string())?;
    let sig_path = dir.join(SIGNATURE_FILE);
    let signature = if sig_path.exists() { Some(read(&sig_path)?) } else { None };
    let mut components = Vec::new();
    for c in &manifest.components {
        let bytes = read(&dir.join(&c.file)).map_err(|e| match e {
            PackError::Io { path, source, .. } if source.kind() == std::io::ErrorKind::NotFound => PackError::Refused {
                pack: manifest.name(),
                problem: format!(
                    "the {} component {} is missing ({} does not exist); build it and copy it into the pack directory",
                    c.role,
                    c.file,
                    path.display()
                ),
            },
            other => other,
        })?;
        let found = sha256_hex(&bytes);
        if found != c.sha256 {
            return Err(PackError::Digest {
                pack: manifest.name(),
                role: c.role,
                file: c.file.clone(),
                expected: c.sha256.clone(),
                found,
            });
        }
        components.push((c.clone(), bytes));
    }
    Ok(Staged { manifest, origin, signature, components })
}

/// An installed pack, as the log records it.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Its manifest.
    pub manifest: Manifest,
    /// When it was installed (the record's `occurred_at`).
    pub installed_at: String,
    /// What its signature was at install (`null`, or key id and whether it was verified).
    pub signature: Value,
    /// Where it was installed from.
    pub source: String,
}

impl Installed {
    /// The pack's identity.
    pub fn identity(&self) -> &str {
        self.manifest.identity()
    }

    /// A summary for `pack list --json`.
    pub fn to_json(&self) -> Value {
        let m = &self.manifest;
        json!({
            "id": m.id,
            "version": m.version.to_string(),
            "identity": m.identity(),
            "description": m.description,
            "components": m.components,
            "capabilities": m.capabilities,
            "signature": self.signature,
            "installed_at": self.installed_at,
            "source": self.source,
        })
    }
}

/// One component of an installed pack, re-read from the store and checked.
#[derive(Debug, Clone)]
pub struct ResolvedComponent {
    /// The pack.
    pub installed: Installed,
    /// The component of the role asked for.
    pub component: Component,
    /// Its bytes (sha256 checked against the manifest).
    pub bytes: Vec<u8>,
    /// The stored `pack.sig.json`, if the pack is signed.
    pub signature: Option<Vec<u8>>,
}

impl ResolvedComponent {
    /// How messages and evidence name the component: `pack:<id>@<version>/<file>`.
    pub fn name(&self) -> String {
        format!("pack:{}/{}", self.installed.manifest.name(), self.component.file)
    }
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Installed now.
    Installed,
    /// The same identity was already installed: nothing changed.
    AlreadyInstalled,
}

/// The pack store at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `root` (created when the first pack is installed).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// Its directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The pack log.
    pub fn log_path(&self) -> PathBuf {
        self.root.join(LOG_FILE)
    }

    /// Where the pack with `identity` is kept.
    pub fn object_dir(&self, identity: &str) -> PathBuf {
        self.root.join(OBJECTS_DIR).join(identity)
    }

    fn store_err(&self, problem: impl Into<String>) -> PackError {
        PackError::Store { store: self.root.clone(), problem: problem.into() }
    }

    /// Every record of the pack log, verified (empty when nothing was ever installed).
    pub fn history(&self) -> Result<Vec<Envelope>, PackError> {
        let path = self.log_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        wfhost_evidence::verify(&path)
            .map_err(|e| self.store_err(format!("the pack log does not verify: {e}; it was changed outside wfhost")))?;
        let contents = wfhost_evidence::read(&path).map_err(|e| self.store_err(format!("cannot read the pack log: {e}")))?;
        Ok(contents.events)
    }

    /// The installed packs (installs not followed by a removal), in install order.
    pub fn installed(&self) -> Result<Vec<Installed>, PackError> {
        installed_from(&self.history()?, &self.log_path())
    }

    fn open_log(&self) -> Result<EventLog, PackError> {
        let path = self.log_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| PackError::Io { what: "cannot create", path: dir.to_path_buf(), source })?;
        }
        let log = if path.exists() {
            EventLog::open_existing(&path, STORE_LOG_ID, LogOptions::default()).map(|(log, _)| log)
        } else {
            EventLog::create(&path, STORE_LOG_ID)
        };
        log.map_err(|e| self.store_err(format!("cannot open the pack log: {e}")))
    }

    /// Install a checked pack: its files into `objects/<identity>`, then the `pack.installed`
    /// record, on behalf of `actor` (who consented to its capabilities).
    pub fn install(&self, staged: &Staged, signature: &SignatureCheck, actor: Actor) -> Result<InstallOutcome, PackError> {
        let m = &staged.manifest;
        let mut log = self.open_log()?;
        let history = self.history()?;
        let installed = installed_from(&history, &self.log_path())?;
        if installed.iter().any(|i| i.identity() == m.identity()) {
            // The same manifest: installed already, unless it now comes with another signature,
            // which replaces the stored one and is recorded like an install.
            let sig_path = self.object_dir(m.identity()).join(SIGNATURE_FILE);
            let stored = std::fs::read(&sig_path).ok();
            match &staged.signature {
                Some(new) if stored.as_ref() != Some(new) => {
                    wfhost_evidence::atomic::write_bytes(&sig_path, new)
                        .map_err(|e| self.store_err(format!("cannot write {}: {e}", sig_path.display())))?;
                }
                _ => return Ok(InstallOutcome::AlreadyInstalled),
            }
        } else if let Some(same) = installed.iter().find(|i| i.manifest.id == m.id && i.manifest.version == m.version) {
            return Err(PackError::Refused {
                pack: m.name(),
                problem: format!(
                    "version {} is already installed with another manifest (identity {}, this one is {}); a version's content never changes: give this build a new version, or remove the installed one first with `wfhost pack remove {}`",
                    m.version,
                    same.identity(),
                    m.identity(),
                    m.name()
                ),
            });
        } else {
            self.write_object(staged)?;
        }
        let payload = json!({
            "id": m.id,
            "version": m.version.to_string(),
            "identity": m.identity(),
            "manifest": m.document(),
            "signature": signature.to_json(),
            "source": staged.origin.display().to_string(),
        });
        let draft = EventDraft::new(EVENT_INSTALLED, actor, "host", format!("install/{}/{}", m.identity(), log.len()), payload);
        log.append(draft).map_err(|e| self.store_err(format!("cannot record the install: {e}")))?;
        Ok(InstallOutcome::Installed)
    }

    /// Write the pack's files to `objects/<identity>` through a temporary directory and a
    /// rename, so the directory is either complete or absent.
    fn write_object(&self, staged: &Staged) -> Result<(), PackError> {
        let m = &staged.manifest;
        let dest = self.object_dir(m.identity());
        if dest.is_dir() && self.check_object(m.identity()).is_ok() {
            return Ok(());
        }
        let objects = self.root.join(OBJECTS_DIR);
        let tmp = objects.join(format!(".tmp-{}-{}", m.identity(), std::process::id()));
        let io = |what, p: &Path| {
            let p = p.to_path_buf();
            move |source| PackError::Io { what, path: p, source }
        };
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io("cannot create", &tmp))?;
        let mut files: Vec<(String, &[u8])> = vec![(MANIFEST_FILE.to_string(), &[])];
        let canonical = m.canonical_bytes();
        files[0].1 = &canonical;
        if let Some(sig) = &staged.signature {
            files.push((SIGNATURE_FILE.to_string(), sig));
        }
        for (c, bytes) in &staged.components {
            files.push((c.file.clone(), bytes));
        }
        for (name, bytes) in files {
            let path = tmp.join(&name);
            wfhost_evidence::atomic::write_bytes(&path, bytes)
                .map_err(|e| self.store_err(format!("cannot write {}: {e}", path.display())))?;
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(io("cannot replace the damaged", &dest))?;
        }
        std::fs::rename(&tmp, &dest).map_err(io("cannot move the pack into", &dest))?;
        if let Ok(d) = std::fs::File::open(&objects) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Re-read the stored pack `identity`: its manifest must still have that identity and every
    /// component its declared sha256.
    fn check_object(&self, identity: &str) -> Result<Staged, PackError> {
        let dir = self.object_dir(identity);
        let staged = read_pack(&dir).map_err(|e| match e {
            PackError::Digest { pack, role, file, expected, found } => PackError::Refused {
                pack,
                problem: format!(
                    "the installed {role} component {file} in {} has sha256 {found}, but its manifest declares {expected} (rule: an installed component must match its manifest); the store was changed outside wfhost: remove the pack and add it again",
                    dir.display()
                ),
            },
            other => other,
        })?;
        if staged.manifest.identity() != identity {
            return Err(PackError::Refused {
                pack: staged.manifest.name(),
                problem: format!(
                    "the installed manifest {} has identity {}, but it was installed as {identity} (rule: an installed manifest never changes); the store was changed outside wfhost: remove the pack and add it again",
                    dir.join(MANIFEST_FILE).display(),
                    staged.manifest.identity()
                ),
            });
        }
        Ok(staged)
    }

    /// The installed packs `spec` matches, before picking one.
    fn matching<'a>(&self, installed: &'a [Installed], spec: &PackSpec) -> Result<Vec<&'a Installed>, PackError> {
        let same_id: Vec<&Installed> = installed.iter().filter(|i| i.manifest.id == spec.id).collect();
        let found: Vec<&Installed> = match &spec.pin {
            Pin::Latest => same_id.clone(),
            Pin::Version(v) => same_id.iter().copied().filter(|i| &i.manifest.version == v).collect(),
            Pin::Identity(prefix) => same_id.iter().copied().filter(|i| i.identity().starts_with(prefix.as_str())).collect(),
        };
        if found.is_empty() {
            return Err(PackError::NotInstalled {
                spec: spec.to_string(),
                installed: same_id.iter().map(|i| i.manifest.name()).collect(),
            });
        }
        Ok(found)
    }

    /// The installed pack `spec` names: the highest matching version.
    pub fn find(&self, spec: &PackSpec) -> Result<Installed, PackError> {
        let installed = self.installed()?;
        let found = self.matching(&installed, spec)?;
        let best = found.into_iter().max_by(|a, b| a.manifest.version.cmp(&b.manifest.version)).cloned();
        best.ok_or_else(|| PackError::NotInstalled { spec: spec.to_string(), installed: Vec::new() })
    }

    /// The component of `role` of the pack `spec` names, re-read from the store and checked.
    pub fn resolve(&self, spec: &PackSpec, role: Role) -> Result<ResolvedComponent, PackError> {
        let installed = self.find(spec)?;
        let Staged { signature, components, .. } = self.check_object(installed.identity())?;
        let Some((component, bytes)) = components.into_iter().find(|(c, _)| c.role == role) else {
            return Err(PackError::Refused {
                pack: installed.manifest.name(),
                problem: format!(
                    "it has no {role} component (it has: {}); name a pack with one, or a built-in",
                    installed.manifest.roles()
                ),
            });
        };
        Ok(ResolvedComponent { installed, component, bytes, signature })
    }

    /// Remove the pack `spec` names (it must name exactly one installed version): the
    /// `pack.removed` record, then its files. Returns the pack and, if its files could not be
    /// deleted, why (the removal stands either way).
    pub fn remove(&self, spec: &PackSpec, actor: Actor) -> Result<(Installed, Option<String>), PackError> {
        let mut log = self.open_log()?;
        let installed = self.installed()?;
        let found = self.matching(&installed, spec)?;
        if found.len() > 1 {
            let names: Vec<String> = found.iter().map(|i| i.manifest.name()).collect();
            return Err(PackError::Refused {
                pack: spec.to_string(),
                problem: format!("{} versions are installed ({}); name one, e.g. `wfhost pack remove {}`", names.len(), names.join(", "), names[0]),
            });
        }
        let pack = found[0].clone();
        let m = &pack.manifest;
        let payload = json!({"id": m.id, "version": m.version.to_string(), "identity": m.identity()});
        let draft = EventDraft::new(EVENT_REMOVED, actor, "host", format!("remove/{}/{}", m.identity(), log.len()), payload);
        log.append(draft).map_err(|e| self.store_err(format!("cannot record the removal: {e}")))?;
        let dir = self.object_dir(m.identity());
        let note = std::fs::remove_dir_all(&dir).err().map(|e| format!("cannot delete {}: {e}; delete it by hand", dir.display()));
        Ok((pack, note))
    }
}

/// Replay the log's records into the installed packs.
fn installed_from(events: &[Envelope], log: &Path) -> Result<Vec<Installed>, PackError> {
    let mut out: Vec<Installed> = Vec::new();
    for (line, e) in events.iter().enumerate() {
        let bad = |problem: String| PackError::Store {
            store: log.to_path_buf(),
            problem: format!("line {}: {problem}", line + 1),
        };
        let identity = e.payload.get("identity").and_then(Value::as_str).unwrap_or_default().to_string();
        match e.event_type.as_str() {
            EVENT_INSTALLED => {
                let doc = e.payload.get("manifest").cloned().ok_or_else(|| bad("pack.installed without a manifest".into()))?;
                let manifest = Manifest::from_document(doc, &format!("{} line {}", log.display(), line + 1))?;
                if manifest.identity() != identity {
                    return Err(bad(format!("the recorded manifest has identity {}, the record says {identity}", manifest.identity())));
                }
                out.retain(|i| i.identity() != identity);
                out.push(Installed {
                    manifest,
                    installed_at: e.occurred_at.to_string(),
                    signature: e.payload.get("signature").cloned().unwrap_or(Value::Null),
                    source: e.payload.get("source").and_then(Value::as_str).unwrap_or_default().to_string(),
                });
            }
            EVENT_REMOVED => out.retain(|i| i.identity() != identity),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pack directory with one auditor component of `bytes`.
    fn pack_dir(root: &Path, name: &str, version: &str, bytes: &[u8]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("judge.wasm"), bytes).unwrap();
        let doc = json!({
            "pack_manifest": 1, "id": "acme-judge", "version": version, "description": "judges",
            "components": [{"role": "auditor", "file": "judge.wasm", "sha256": sha256_hex(bytes), "wit_version": "0.2.0"}],
        });
        std::fs::write(dir.join(MANIFEST_FILE), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        dir
    }

    fn user() -> Actor {
        Actor::new("policy", "--yes")
    }

    #[test]
    fn install_resolve_and_remove_keep_the_history_and_the_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("store"));
        assert!(store.installed().unwrap().is_empty());
        let v1 = read_pack(&pack_dir(tmp.path(), "v1", "0.1.0", b"component one")).unwrap();
        let v2 = read_pack(&pack_dir(tmp.path(), "v2", "0.2.0", b"component two")).unwrap();
        assert_eq!(store.install(&v1, &SignatureCheck::Unsigned, user()).unwrap(), InstallOutcome::Installed);
        assert_eq!(store.install(&v1, &SignatureCheck::Unsigned, user()).unwrap(), InstallOutcome::AlreadyInstalled);
        store.install(&v2, &SignatureCheck::Unsigned, user()).unwrap();
        let latest = store.resolve(&PackSpec::parse("acme-judge").unwrap(), Role::Auditor).unwrap();
        assert_eq!((latest.installed.manifest.version.to_string(), latest.bytes.as_slice()), ("0.2.0".to_string(), &b"component two"[..]));
        assert_eq!(latest.name(), "pack:acme-judge@0.2.0/judge.wasm");
        let pinned = store.resolve(&PackSpec::parse("acme-judge@0.1.0").unwrap(), Role::Auditor).unwrap();
        assert_eq!(pinned.bytes, b"component one");
        let by_identity = PackSpec::parse(&format!("acme-judge#{}", &v1.manifest.identity()[..16])).unwrap();
        assert_eq!(store.resolve(&by_identity, Role::Auditor).unwrap().installed.identity(), v1.manifest.identity());
        let e = store.resolve(&PackSpec::parse("acme-judge").unwrap(), Role::Transport).unwrap_err();
        assert!(e.to_string().contains("has no transport component (it has: auditor)"), "{e}");

        // Two versions: removing by id alone is ambiguous.
        let e = store.remove(&PackSpec::parse("acme-judge").unwrap(), user()).unwrap_err();
        assert!(e.to_string().contains("2 versions are installed"), "{e}");
        let (gone, note) = store.remove(&PackSpec::parse("acme-judge@0.2.0").unwrap(), user()).unwrap();
        assert_eq!((gone.manifest.version.to_string(), note), ("0.2.0".to_string(), None));
        assert!(!store.object_dir(v2.manifest.identity()).exists());
        let e = store.resolve(&PackSpec::parse("acme-judge@0.2.0").unwrap(), Role::Auditor).unwrap_err();
        assert!(e.to_string().contains("is not installed (installed: acme-judge@0.1.0)") && e.to_string().contains("wfhost pack add"), "{e}");
        assert_eq!(store.resolve(&PackSpec::parse("acme-judge").unwrap(), Role::Auditor).unwrap().bytes, b"component one");

        let history = store.history().unwrap();
        let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, [EVENT_INSTALLED, EVENT_INSTALLED, EVENT_REMOVED], "the install of 0.2.0 stays in the log");
        assert_eq!(history[2].payload["identity"], json!(v2.manifest.identity()));
        wfhost_evidence::verify(&store.log_path()).expect("the pack log is a valid evidence log");
        let e = store.resolve(&PackSpec::parse("other-pack").unwrap(), Role::Auditor).unwrap_err();
        assert!(e.to_string().starts_with("pack other-pack is not installed; install it with `wfhost pack add"), "{e}");
    }

    #[test]
    fn a_changed_file_or_a_reused_version_is_refused_naming_the_component_and_rule() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("store"));
        let dir = pack_dir(tmp.path(), "p", "1.0.0", b"original");
        // Tampered before install: the digest no longer matches.
        std::fs::write(dir.join("judge.wasm"), b"tampered").unwrap();
        let e = read_pack(&dir).unwrap_err();
        assert!(matches!(e, PackError::Digest { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("pack acme-judge@1.0.0") && text.contains("auditor component judge.wasm") && text.contains("rule:"), "{text}");
        std::fs::write(dir.join("judge.wasm"), b"original").unwrap();
        let staged = read_pack(&dir).unwrap();
        store.install(&staged, &SignatureCheck::Unsigned, user()).unwrap();
        // Tampered in the store after install.
        let stored = store.object_dir(staged.manifest.identity()).join("judge.wasm");
        std::fs::write(&stored, b"swapped").unwrap();
        let e = store.resolve(&PackSpec::parse("acme-judge").unwrap(), Role::Auditor).unwrap_err().to_string();
        assert!(e.contains("installed auditor component judge.wasm") && e.contains("rule: an installed component must match its manifest"), "{e}");
        std::fs::write(&stored, b"original").unwrap();
        // The same version with other content.
        let other = read_pack(&pack_dir(tmp.path(), "q", "1.0.0", b"different")).unwrap();
        let e = store.install(&other, &SignatureCheck::Unsigned, user()).unwrap_err().to_string();
        assert!(e.contains("already installed with another manifest"), "{e}");
        // The same manifest again, now signed: the signature is stored and recorded.
        std::fs::write(dir.join(SIGNATURE_FILE), b"{\"signed\": 1}").unwrap();
        let signed = read_pack(&dir).unwrap();
        let check = SignatureCheck::Verified { key_id: "k".into() };
        assert_eq!(store.install(&signed, &check, user()).unwrap(), InstallOutcome::Installed);
        assert_eq!(store.install(&signed, &check, user()).unwrap(), InstallOutcome::AlreadyInstalled);
        let resolved = store.resolve(&PackSpec::parse("acme-judge").unwrap(), Role::Auditor).unwrap();
        assert_eq!(resolved.signature.as_deref(), Some(&b"{\"signed\": 1}"[..]));
        assert_eq!(resolved.installed.signature["key_id"], json!("k"));
        assert_eq!(store.history().unwrap().len(), 2, "two install records of one identity");
        // A missing component file.
        std::fs::remove_file(dir.join("judge.wasm")).unwrap();
        let e = read_pack(&dir).unwrap_err().to_string();
        assert!(e.contains("the auditor component judge.wasm is missing"), "{e}");
    }
}
