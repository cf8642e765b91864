//! `wfhost pack ...`: clap definitions and thin bodies over `wfhost_pack` and
//! `wfhost_flow::packs`.
//!
//! ```text
//! add <dir|file>   packs::verify (manifest, digests, WIT, role import rules, capabilities,
//!                  signature + policy, compiled into the cache) ─► preview on stdout ─► consent
//!                  (--yes, or y on a terminal) ─► packs::install (pack.installed record)
//! verify <dir|file> the same checks, nothing installed; exit 0 or 1
//! list / show      the installed packs, from the pack log
//! remove <spec>    pack.removed record, files deleted, history kept
//! sign --key K     pack.sig.json over the manifest's identity
//! digest <dir>     write each component's sha256 into pack.json (for authors, after a build)
//! new <name>       a project from a template (see `wfhost_pack::scaffold`)
//! ```

use crate::error::{CliError, ErrorKind};
use crate::Exit;
use clap::Subcommand;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wfhost_evidence::{dsse, Actor};
use wfhost_flow::ops::OpsError;
use wfhost_flow::packs;
use wfhost_pack::{read_pack, InstallOutcome, Manifest, PackSpec, Store, SIGNATURE_FILE};

/// `wfhost pack ...`
#[derive(Subcommand, Debug)]
pub enum PackCommand {
    /// Check a pack and install it into the pack store, compiled.
    ///
    /// Checks the manifest against its schema, every component's sha256, the WIT version, each
    /// component against its role's import rules, the capabilities it asks for against the
    /// config vocabulary, and its signature when WF_PACK_TRUSTED_KEYS names keys (required with
    /// WF_REQUIRE_SIGNED_PACKS=1). Then shows what the pack asks for and installs it once you
    /// agree (--yes without a terminal). The install is recorded in the pack log.
    Add {
        /// The pack directory, or its pack.json.
        path: PathBuf,
        /// Agree to the capabilities the pack asks for without a terminal.
        #[arg(long)]
        yes: bool,
    },
    /// Run every check of `add` on a pack without installing it; exit 0 when it passes.
    Verify {
        /// The pack directory, or its pack.json.
        path: PathBuf,
    },
    /// List the installed packs.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one installed pack and its history in the pack log.
    Show {
        /// The pack: id, id@version or id#identity.
        spec: String,
    },
    /// Remove an installed pack (its install stays in the pack log).
    Remove {
        /// The pack: id, id@version or id#identity.
        spec: String,
    },
    /// Sign a pack's manifest identity with an ed25519 key (`wfhost keygen`), writing pack.sig.json.
    Sign {
        /// The private key (PKCS#8 PEM).
        #[arg(long, value_name = "PRIVATE_KEY_PEM")]
        key: PathBuf,
        /// The pack directory, or its pack.json.
        path: PathBuf,
    },
    /// Write the sha256 of each component file into the pack's pack.json (run after a build).
    Digest {
        /// The pack directory, or its pack.json.
        path: PathBuf,
    },
    /// Create a pack project from a template.
    New {
        /// The pack id (and the project directory's name).
        name: String,
        /// The role of its component.
        #[arg(long, value_name = "auditor|executor|transport")]
        role: String,
        /// The language of the project.
        #[arg(long, value_name = "rust|python", default_value = "rust")]
        lang: String,
        /// Where the wfhost pack SDK crate is, for the Rust template's dependency (default: the
        /// SDK of the source tree this wfhost was built from).
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
}

fn ops(e: OpsError) -> CliError {
    CliError::from(e)
}

fn config_err(e: impl std::fmt::Display) -> CliError {
    CliError::new(ErrorKind::Config, e.to_string())
}

/// Run `wfhost pack <command>` in `workdir`.
pub fn exec(workdir: &Path, env: &BTreeMap<String, String>, interactive: bool, ask: impl Fn(&str) -> bool, command: PackCommand) -> Result<Exit, CliError> {
    match command {
        PackCommand::Add { path, yes } => {
            let settings = packs::settings(workdir, env).map_err(ops)?;
            let checked = packs::verify(&workdir.join(&path), &settings, env).map_err(ops)?;
            print!("{}", checked.preview());
            let actor = if yes {
                Actor::new("policy", "--yes")
            } else if interactive {
                if !ask("Install this pack? [y/N] ") {
                    eprintln!("wfhost: not installed");
                    return Ok(Exit::FAILED);
                }
                Actor::new("user", "tty")
            } else {
                return Err(CliError::usage(format!(
                    "pack {} was checked but not installed: installing gives it the capabilities above; pass --yes (there is no terminal to confirm on)",
                    checked.staged.manifest.name()
                )));
            };
            let m = &checked.staged.manifest;
            match packs::install(&checked, &settings, actor).map_err(ops)? {
                InstallOutcome::Installed => println!("installed {} ({}) into {}", m.name(), m.identity(), settings.store.display()),
                InstallOutcome::AlreadyInstalled => println!("{} ({}) is already installed", m.name(), m.identity()),
            }
            Ok(Exit::OK)
        }
        PackCommand::Verify { path } => {
            let settings = packs::settings(workdir, env).map_err(ops)?;
            match packs::verify(&workdir.join(&path), &settings, env) {
                Ok(checked) => {
                    print!("{}", checked.preview());
                    println!("ok: every check passed");
                    Ok(Exit::OK)
                }
                Err(e) => Err(CliError::new(ErrorKind::Failed, format!("verify failed: {}", e.message))),
            }
        }
        PackCommand::List { json } => {
            let settings = packs::settings(workdir, env).map_err(ops)?;
            let installed = Store::new(&settings.store).installed().map_err(config_err)?;
            if json {
                let list: Vec<Value> = installed.iter().map(|i| i.to_json()).collect();
                println!("{}", serde_json::to_string_pretty(&json!({"store": settings.store, "packs": list})).unwrap_or_default());
            } else if installed.is_empty() {
                println!("no pack installed in {}", settings.store.display());
            } else {
                println!("{:<24} {:<12} {:<28} {:<16} signature", "id", "version", "roles", "identity");
                for i in &installed {
                    let m = &i.manifest;
                    let sig = match i.signature.get("key_id").and_then(Value::as_str) {
                        Some(k) => format!("ed25519:{}", &k[..k.len().min(16)]),
                        None => "unsigned".to_string(),
                    };
                    println!("{:<24} {:<12} {:<28} {:<16} {sig}", m.id, m.version.to_string(), m.roles(), &m.identity()[..16]);
                }
            }
            Ok(Exit::OK)
        }
        PackCommand::Show { spec } => {
            let settings = packs::settings(workdir, env).map_err(ops)?;
            let spec = PackSpec::parse(&spec).map_err(CliError::usage)?;
            let store = Store::new(&settings.store);
            let pack = store.find(&spec).map_err(config_err)?;
            let history: Vec<Value> = store
                .history()
                .map_err(config_err)?
                .iter()
                .filter(|e| e.payload.get("id").and_then(Value::as_str) == Some(pack.manifest.id.as_str()))
                .map(|e| json!({"seq": e.seq, "event": e.event_type, "at": e.occurred_at.to_string(), "version": e.payload["version"], "identity": e.payload["identity"], "actor": e.actor.id}))
                .collect();
            let mut doc = pack.to_json();
            doc["capabilities_described"] = json!(pack.manifest.capabilities.describe());
            doc["stored_at"] = json!(store.object_dir(pack.identity()));
            doc["history"] = json!(history);
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            Ok(Exit::OK)
        }
        PackCommand::Remove { spec } => {
            let settings = packs::settings(workdir, env).map_err(ops)?;
            let spec = PackSpec::parse(&spec).map_err(CliError::usage)?;
            let (pack, note) = Store::new(&settings.store).remove(&spec, Actor::new("user", "command line")).map_err(config_err)?;
            println!("removed {} ({}); its install stays in the pack log {}", pack.manifest.name(), pack.identity(), Store::new(&settings.store).log_path().display());
            if let Some(note) = note {
                eprintln!("wfhost: warning: {note}");
            }
            Ok(Exit::OK)
        }
        PackCommand::Sign { key, path } => {
            let signer = dsse::load_signing_key(&workdir.join(&key)).map_err(|e| CliError::usage(e.to_string()))?;
            let staged = read_pack(&workdir.join(&path)).map_err(config_err)?;
            let envelope = wfhost_pack::signing::sign(&staged.manifest, &signer).map_err(|e| CliError::internal(e.to_string()))?;
            let out = staged.origin.with_file_name(SIGNATURE_FILE);
            wfhost_evidence::atomic::write_json(&out, &envelope).map_err(|e| CliError::internal(e.to_string()))?;
            println!("signed {} (identity {}) with ed25519:{}", staged.manifest.name(), staged.manifest.identity(), signer.key_id());
            println!("signature: {}", out.display());
            Ok(Exit::OK)
        }
        PackCommand::Digest { path } => digest(&workdir.join(path)),
        PackCommand::New { name, role, lang, sdk } => {
            let role = wfhost_pack::Role::parse(&role).ok_or_else(|| CliError::usage(format!("--role {role:?}: one of auditor, executor, transport")))?;
            let lang = wfhost_pack::scaffold::Lang::parse(&lang).ok_or_else(|| CliError::usage(format!("--lang {lang:?}: one of rust, python")))?;
            let sdk = sdk.map(|p| workdir.join(p)).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/sdk"));
            let dest = workdir.join(&name);
            let made = wfhost_pack::scaffold::new_project(&dest, &name, role, lang, &sdk, wfhost_runtime::WFHOST_PLUGIN_VERSION).map_err(CliError::usage)?;
            println!("created {} ({} {role} pack) in {}", name, lang.as_str(), dest.display());
            for step in made.next_steps {
                println!("  {step}");
            }
            Ok(Exit::OK)
        }
    }
}

/// `wfhost pack digest`: set each component's sha256 in pack.json from its file.
fn digest(path: &Path) -> Result<Exit, CliError> {
    let manifest_path = wfhost_pack::store::manifest_path(path);
    let bytes = std::fs::read(&manifest_path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", manifest_path.display())))?;
    let mut doc: Value = serde_json::from_slice(&bytes).map_err(|e| CliError::usage(format!("{} is not JSON: {e}", manifest_path.display())))?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let Some(components) = doc.get_mut("components").and_then(Value::as_array_mut) else {
        return Err(CliError::usage(format!("{}: no components array", manifest_path.display())));
    };
    for c in components.iter_mut() {
        let file = c.get("file").and_then(Value::as_str).unwrap_or_default().to_string();
        let file_path = dir.join(&file);
        let sha = wfhost_evidence::hash::sha256_file(&file_path).map_err(|e| CliError::usage(format!("component {file}: {e}; build it first")))?;
        println!("{file}: sha256 {sha}");
        c["sha256"] = json!(sha);
    }
    let m = Manifest::from_document(doc.clone(), &manifest_path.display().to_string()).map_err(config_err)?;
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    wfhost_evidence::atomic::write_bytes(&manifest_path, text.as_bytes()).map_err(|e| CliError::internal(e.to_string()))?;
    println!("{} identity {} (written to {})", m.name(), m.identity(), manifest_path.display());
    if manifest_path.with_file_name(SIGNATURE_FILE).exists() {
        println!("note: {SIGNATURE_FILE} signs the previous manifest; sign again with `wfhost pack sign --key <key> {}`", dir.display());
    }
    Ok(Exit::OK)
}
