//! `wfhost pack new`: a buildable pack project from the templates in `templates/`.
//!
//! ```text
//! name, role, language ─► <dest>/ (refused if it exists: nothing is ever overwritten)
//!   Rust:   Cargo.toml (wit-bindgen, the pack SDK by path or by version), src/lib.rs (the
//!           role's template), wit/ (the contract this wfhost speaks), pack.json, build.sh,
//!           README.md
//!   Python: app.py (componentize-py; auditors), wit/, pack.json, build.sh, README.md
//! ```
//!
//! Templates hold `{{placeholder}}`s filled from the name, the role and the constitution (the
//! failure codes an executor reports, the setting a transport reads), so nothing in them
//! restates the constitution. `build.sh` builds the component, copies it beside pack.json and
//! runs `wfhost pack digest`, after which `wfhost pack add .` installs the project.

use crate::manifest::{Role, MANIFEST_FILE};
use serde_json::json;
use std::path::{Path, PathBuf};
use wfhost_constitution::{codes, keys};

/// The WIT contract shipped with every project: (file name, text).
pub const WIT_FILES: &[(&str, &str)] = &[
    ("package.wit", include_str!("../../../wit/package.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("auditor.wit", include_str!("../../../wit/auditor.wit")),
    ("executor.wit", include_str!("../../../wit/executor.wit")),
    ("transport.wit", include_str!("../../../wit/transport.wit")),
    ("host.wit", include_str!("../../../wit/host.wit")),
];

const CARGO_TOML: &str = include_str!("../templates/rust/Cargo.toml.tmpl");
const RUST_AUDITOR: &str = include_str!("../templates/rust/auditor.rs.tmpl");
const RUST_EXECUTOR: &str = include_str!("../templates/rust/executor.rs.tmpl");
const RUST_TRANSPORT: &str = include_str!("../templates/rust/transport.rs.tmpl");
const PYTHON_AUDITOR: &str = include_str!("../templates/python/app.py.tmpl");

/// The componentize-py version the Python template is built and tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.17.2";

/// The language of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Rust with wit-bindgen and the pack SDK.
    Rust,
    /// Python with componentize-py.
    Python,
}

impl Lang {
    /// `rust` or `python`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "rust" => Some(Lang::Rust),
            "python" => Some(Lang::Python),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
        }
    }
}

/// What `new_project` made.
#[derive(Debug, Clone)]
pub struct Made {
    /// The project directory.
    pub dir: PathBuf,
    /// The component file `build.sh` produces (beside pack.json).
    pub component: String,
    /// What to run next, one command each.
    pub next_steps: Vec<String>,
}

fn fill(template: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(template.to_string(), |text, (k, v)| text.replace(&format!("{{{{{k}}}}}"), v))
}

/// Create the project `name` (a pack id) for `role` in `lang` at `dest`. `sdk` is the pack SDK
/// crate's directory for a path dependency; when it does not exist the dependency names the
/// SDK's version instead.
pub fn new_project(dest: &Path, name: &str, role: Role, lang: Lang, sdk: &Path, wit_version: &str) -> Result<Made, String> {
    if !crate::spec::valid_id(name) {
        return Err(format!("{name:?} is not a pack id: 2 to 64 lowercase letters, digits and '-', starting with a letter"));
    }
    if dest.exists() {
        return Err(format!("{} already exists; `wfhost pack new` never overwrites: choose another name or directory", dest.display()));
    }
    if lang == Lang::Python && role != Role::Auditor {
        return Err(format!(
            "the Python template is an auditor; write a Python {role} against wit/ by hand, or use --lang rust"
        ));
    }
    let lib = name.replace('-', "_");
    let article = if role == Role::Transport { "A" } else { "An" };
    let description = format!("{article} {role} pack made from the wfhost {} template.", lang.as_str());
    let sdk_dependency = if sdk.join("Cargo.toml").is_file() {
        format!("wfhost-pack-sdk = {{ path = {:?} }}", sdk.display().to_string())
    } else {
        format!("wfhost-pack-sdk = \"{}\"", env!("CARGO_PKG_VERSION"))
    };
    let values = [
        ("name", name.to_string()),
        ("crate", name.to_string()),
        ("lib", lib.clone()),
        ("description", description.clone()),
        ("sdk_dependency", sdk_dependency),
        ("pods_setting", keys::WF_LOCAL_PODS_DIR.name().to_string()),
        ("code_pod_not_ready", codes::POD_NOT_READY.get().to_string()),
        ("code_pod_vanished", codes::POD_VANISHED_2XX.get().to_string()),
    ];
    let component = format!("{lib}.wasm");
    let mut files: Vec<(PathBuf, String)> = WIT_FILES.iter().map(|(f, t)| (PathBuf::from("wit").join(f), t.to_string())).collect();
    let build = match lang {
        Lang::Rust => {
            let source = match role {
                Role::Auditor => RUST_AUDITOR,
                Role::Executor => RUST_EXECUTOR,
                Role::Transport => RUST_TRANSPORT,
            };
            files.push(("Cargo.toml".into(), fill(CARGO_TOML, &values)));
            files.push(("src/lib.rs".into(), fill(source, &values)));
            format!("cargo build --target wasm32-wasip2 --release \"$@\"\ncp \"${{CARGO_TARGET_DIR:-target}}\"/wasm32-wasip2/release/{component} {component}\n")
        }
        Lang::Python => {
            files.push(("app.py".into(), fill(PYTHON_AUDITOR, &values)));
            format!("componentize-py -d wit -w auditor componentize app -o {component}\n")
        }
    };
    files.push((
        "build.sh".into(),
        format!("#!/bin/sh\n# Build the component, copy it beside pack.json and write its sha256 into pack.json.\nset -eu\ncd \"$(dirname \"$0\")\"\n{build}\"${{WFHOST:-wfhost}}\" pack digest .\n"),
    ));
    let mut manifest = json!({
        "pack_manifest": crate::manifest::MANIFEST_FORMAT,
        "id": name,
        "version": "0.1.0",
        "description": description,
        "components": [{"role": role, "file": component, "sha256": "0".repeat(64), "wit_version": wit_version}],
    });
    if role == Role::Transport {
        manifest["capabilities"] = json!({"programs": ["sh"], "settings": [keys::WF_LOCAL_PODS_DIR.name()]});
    }
    let mut text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    text.push('\n');
    files.push((MANIFEST_FILE.into(), text));
    let prerequisite = match lang {
        Lang::Rust => "rustup target add wasm32-wasip2".to_string(),
        Lang::Python => format!("pip install componentize-py=={COMPONENTIZE_PY_VERSION}"),
    };
    let next_steps = vec![
        prerequisite,
        format!("cd {} && sh build.sh", dest.display()),
        format!("wfhost pack add {}", dest.display()),
        format!("set {}={name} in infra_scripts/workflow.env", match role {
            Role::Auditor => keys::WF_AUDITORS.name(),
            Role::Executor => keys::WF_EXECUTOR.name(),
            Role::Transport => keys::WF_TRANSPORT.name(),
        }),
    ];
    files.push(("README.md".into(), readme(name, role, lang, &component, &next_steps)));
    for (rel, text) in &files {
        let path = dest.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(Made { dir: dest.to_path_buf(), component, next_steps })
}

fn readme(name: &str, role: Role, lang: Lang, component: &str, steps: &[String]) -> String {
    let mut out = format!(
        "# {name}\n\nA wfhost {role} pack ({}). `pack.json` is its manifest: the component `{component}`, its sha256, the WIT version it was built against and the capabilities it asks for. `wit/` is the contract of the wfhost that created the project.\n\nBuild, install and use it:\n\n```sh\n",
        lang.as_str()
    );
    for s in steps {
        out.push_str(s);
        out.push('\n');
    }
    out.push_str("```\n\nSign it for others with `wfhost pack sign --key <private key> .` (a key from `wfhost keygen`); they trust it with WF_PACK_TRUSTED_KEYS. See docs/packs.md of wfhost.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_project_is_complete_and_nothing_is_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk");
        for (role, lang) in [(Role::Auditor, Lang::Rust), (Role::Executor, Lang::Rust), (Role::Transport, Lang::Rust), (Role::Auditor, Lang::Python)] {
            let name = format!("my-{role}-{}", lang.as_str());
            let dest = tmp.path().join(&name);
            let made = new_project(&dest, &name, role, lang, &sdk, "0.2.0").unwrap();
            for (f, _) in WIT_FILES {
                assert!(dest.join("wit").join(f).is_file(), "{name}: wit/{f}");
            }
            let manifest = std::fs::read(dest.join(MANIFEST_FILE)).unwrap();
            let m = crate::Manifest::parse(&manifest, "new").unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((m.id.as_str(), m.components[0].role, m.components[0].file.as_str()), (name.as_str(), role, made.component.as_str()));
            assert_eq!(m.capabilities.programs.is_empty(), role != Role::Transport, "{name}");
            let build = std::fs::read_to_string(dest.join("build.sh")).unwrap();
            assert!(build.contains("pack digest"), "{build}");
            let source = if lang == Lang::Rust { dest.join("src/lib.rs") } else { dest.join("app.py") };
            let text = std::fs::read_to_string(&source).unwrap();
            assert!(!text.contains("{{"), "{name}: an unfilled placeholder in {}", source.display());
            if lang == Lang::Rust {
                let cargo = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
                assert!(cargo.contains("wfhost-pack-sdk = { path =") && !cargo.contains("{{"), "{cargo}");
            }
            let e = new_project(&dest, &name, role, lang, &sdk, "0.2.0").unwrap_err();
            assert!(e.contains("already exists"), "{e}");
        }
        let e = new_project(&tmp.path().join("x"), "py-exec", Role::Executor, Lang::Python, &sdk, "0.2.0").unwrap_err();
        assert!(e.contains("--lang rust"), "{e}");
        assert!(new_project(&tmp.path().join("y"), "Bad_Name", Role::Auditor, Lang::Rust, &sdk, "0.2.0").is_err());
        let e = new_project(&tmp.path().join("z"), "no-sdk", Role::Auditor, Lang::Rust, &tmp.path().join("nowhere"), "0.2.0");
        let cargo = std::fs::read_to_string(e.unwrap().dir.join("Cargo.toml")).unwrap();
        assert!(cargo.contains(&format!("wfhost-pack-sdk = \"{}\"", env!("CARGO_PKG_VERSION"))), "{cargo}");
    }
}
