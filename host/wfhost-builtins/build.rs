//! Builds every plugin crate of the workspace for wasm32-wasip2 and embeds the built-in components.
//!
//! Flow:
//! 1. `cargo metadata --no-deps` lists the workspace. Every member under `plugins/` with a
//!    `cdylib` target is a plugin crate, so a crate added there is built with no list to edit. A
//!    plugin crate whose manifest declares `[package.metadata.wfhost] builtin = "<name>"` and
//!    `role = "auditor" | "executor" | "transport"` is a built-in; the others (`plugins/testing/*`)
//!    are built for the tests only and never embedded.
//! 2. The active toolchain must have the wasm32-wasip2 standard library. When its sysroot lacks
//!    it, `rustup target add` installs it (announced with a `cargo:warning`); without rustup, or if
//!    that fails, the build stops naming the command to run.
//! 3. `$CARGO build --profile plugin --target wasm32-wasip2 --locked -p <each plugin crate>` runs
//!    in the workspace root with a sanitised environment and
//!    `CARGO_TARGET_DIR=<target dir>/plugins`: a target directory of its own, so it never waits
//!    for the lock the outer build holds, and `--locked`, so it never rewrites `Cargo.lock`.
//! 4. `$OUT_DIR/builtins.rs` gets the built-ins' table, `(name, role, include_bytes!(..),
//!    sha256)` sorted by name, and the directory of every built component (`COMPONENTS_DIR`).

use std::collections::{BTreeMap, HashSet};
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};

const WASM_TARGET: &str = "wasm32-wasip2";

/// The cargo profile of the components (`[profile.plugin]` in the root `Cargo.toml`).
const PROFILE: &str = "plugin";

/// The roles a built-in may declare, and the `wfhost_runtime::Role` variant of each.
const ROLES: &[(&str, &str)] = &[
    ("auditor", "Auditor"),
    ("executor", "Executor"),
    ("transport", "Transport"),
];

/// Variables the outer cargo sets for this build script (or that flags the outer build) which
/// must not leak into the inner wasm build: they would retarget it, inject host-only flags, or
/// pretend to be cargo talking to a build script.
const REMOVED_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_TARGET_DIR",
    "CARGO_PRIMARY_PACKAGE",
    // clippy-driver (set by `cargo clippy`) must not lint the plugin crates as part of us.
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTDOC",
    "RUSTC_LINKER",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "NUM_JOBS",
    "OPT_LEVEL",
    "DEBUG",
    "PROFILE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
];

/// Prefixes of build-script variables that describe *this* package, not the plugins.
const REMOVED_PREFIXES: &[&str] = &["CARGO_FEATURE_", "CARGO_CFG_", "CARGO_PKG_", "DEP_"];

/// One plugin crate of the workspace.
struct PluginCrate {
    /// The package name, for `-p`.
    package: String,
    /// The library target's name: the component is `<lib>.wasm`.
    lib: String,
    /// `(name, Role variant)` if the crate is a built-in.
    builtin: Option<(String, &'static str)>,
    /// The crate's `profile.toml` (what a transport declares it needs from the host), if any.
    profile: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());

    let metadata = workspace_metadata(&cargo, &manifest_dir)?;
    let root = metadata
        .get("workspace_root")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .ok_or("`cargo metadata` named no workspace_root")?;
    let plugins_dir = root.join("plugins");
    emit_rerun_if_changed(&root, &plugins_dir)?;

    let crates = plugin_crates(&metadata, &plugins_dir)?;
    if !crates.iter().any(|c| c.builtin.is_some()) {
        return Err(format!(
            "no plugin crate under {} declares [package.metadata.wfhost] builtin = \"<name>\"; \
             wfhost-builtins must be built from the wfhost source tree",
            plugins_dir.display()
        ));
    }

    ensure_wasm_target()?;

    let target_dir = target_dir(&out_dir, &metadata)?.join("plugins");
    build(&cargo, &root, &target_dir, &crates)?;
    write_table(
        &out_dir,
        &target_dir.join(WASM_TARGET).join(PROFILE),
        &crates,
    )
}

fn env_var(key: &str) -> Result<String, String> {
    env::var(key).map_err(|_| format!("cargo did not set {key} for the build script"))
}

/// Remove from `command`'s environment what describes this build script's own compilation.
fn sanitise(command: &mut Command) {
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if REMOVED_VARS.contains(&key) || REMOVED_PREFIXES.iter().any(|p| key.starts_with(p)) {
            command.env_remove(key);
        }
    }
    // Kept on purpose: RUSTC and RUSTUP_TOOLCHAIN (the inner build uses the same toolchain as the
    // outer one), RUSTC_WRAPPER (the user's compiler cache), CARGO_MAKEFLAGS/MAKEFLAGS (the
    // jobserver, so the inner build shares the outer job slots), CARGO_HOME and CARGO_NET_OFFLINE.
}

/// `cargo metadata --no-deps` of the workspace this crate is a member of (no resolution, no
/// network).
fn workspace_metadata(cargo: &str, manifest_dir: &Path) -> Result<Value, String> {
    let mut command = Command::new(cargo);
    command
        .current_dir(manifest_dir)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .stdin(Stdio::null());
    sanitise(&mut command);
    let output = command
        .output()
        .map_err(|e| format!("cannot run `{cargo} metadata` to list the plugin crates: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{cargo} metadata` failed ({}) listing the plugin crates: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`{cargo} metadata` printed no JSON document: {e}"))
}

/// The workspace members under `plugins/` that build a component (`cdylib`), sorted by package.
fn plugin_crates(metadata: &Value, plugins_dir: &Path) -> Result<Vec<PluginCrate>, String> {
    let members: HashSet<&str> = metadata
        .get("workspace_members")
        .and_then(Value::as_array)
        .ok_or("`cargo metadata` listed no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata
        .get("packages")
        .and_then(Value::as_array)
        .ok_or("`cargo metadata` listed no packages")?;
    let mut crates = Vec::new();
    let mut builtin_names = BTreeMap::new();
    for package in packages {
        let text = |key: &str| package.get(key).and_then(Value::as_str).unwrap_or_default();
        if !members.contains(text("id"))
            || !Path::new(text("manifest_path")).starts_with(plugins_dir)
        {
            continue;
        }
        let lib = package
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|t| {
                t.get("crate_types")
                    .and_then(Value::as_array)
                    .is_some_and(|types| types.iter().any(|ty| ty == "cdylib"))
            })
            .and_then(|t| t.get("name").and_then(Value::as_str));
        let Some(lib) = lib else { continue };
        let builtin = builtin_declaration(package, text("manifest_path"))?;
        if let Some((name, _)) = &builtin {
            if let Some(other) = builtin_names.insert(name.clone(), text("name").to_string()) {
                return Err(format!(
                    "the built-in name {name:?} is declared by both {other} and {}; give each \
                     built-in its own name in [package.metadata.wfhost]",
                    text("name")
                ));
            }
        }
        let profile = Path::new(text("manifest_path")).with_file_name("profile.toml");
        crates.push(PluginCrate {
            package: text("name").to_string(),
            lib: lib.to_string(),
            builtin,
            profile: profile.is_file().then_some(profile),
        });
    }
    crates.sort_by(|a, b| a.package.cmp(&b.package));
    Ok(crates)
}

/// A crate's `[package.metadata.wfhost]`: `builtin` (its name) and `role`, or nothing.
fn builtin_declaration(
    package: &Value,
    manifest: &str,
) -> Result<Option<(String, &'static str)>, String> {
    let Some(declared) = package.get("metadata").and_then(|m| m.get("wfhost")) else {
        return Ok(None);
    };
    let field = |key: &str| declared.get(key).and_then(Value::as_str);
    let roles = ROLES.iter().map(|(r, _)| *r).collect::<Vec<_>>().join(", ");
    let (Some(name), Some(role)) = (field("builtin"), field("role")) else {
        return Err(format!(
            "{manifest}: [package.metadata.wfhost] needs `builtin = \"<name>\"` and `role` \
             (one of {roles})"
        ));
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{manifest}: built-in name {name:?} must be non-empty ASCII letters, digits, '-' or '_'"
        ));
    }
    let variant = ROLES
        .iter()
        .find(|(r, _)| *r == role)
        .map(|(_, variant)| *variant)
        .ok_or_else(|| format!("{manifest}: role {role:?} is not one of {roles}"))?;
    Ok(Some((name.to_string(), variant)))
}

/// Rerun when plugin sources or manifests, the WIT contract, the constitution (the plugins'
/// build scripts turn it into tables), the root manifest (profile, dependencies) or the lock
/// file change. Each directory of `plugins/` is watched (cargo scans directories recursively);
/// `plugins/target`, a build directory of older checkouts, is not. A new plugin crate changes
/// `Cargo.lock`, which is watched.
fn emit_rerun_if_changed(root: &Path, plugins_dir: &Path) -> Result<(), String> {
    for path in ["Cargo.toml", "Cargo.lock", "wit", "constitution"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    let entries = fs::read_dir(plugins_dir)
        .map_err(|e| format!("cannot list {}: {e}", plugins_dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", plugins_dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "target" || name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", entry.path().display());
    }
    for var in ["CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", "RUSTC_WRAPPER"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    Ok(())
}

/// Make sure the toolchain the inner build uses has the wasm32-wasip2 standard library,
/// installing it through rustup when it is missing.
fn ensure_wasm_target() -> Result<(), String> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{rustc} --print sysroot`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{rustc} --print sysroot` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let target_lib = sysroot
        .join("lib")
        .join("rustlib")
        .join(WASM_TARGET)
        .join("lib");
    if target_lib.is_dir() {
        return Ok(());
    }

    // rustup names the toolchain it runs in RUSTUP_TOOLCHAIN; a rustup toolchain's sysroot is
    // `<rustup home>/toolchains/<name>`.
    let toolchain = env::var("RUSTUP_TOOLCHAIN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| {
            sysroot
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        });
    let mut args = vec![
        "target".to_string(),
        "add".to_string(),
        WASM_TARGET.to_string(),
    ];
    if let Some(toolchain) = &toolchain {
        args.extend(["--toolchain".to_string(), toolchain.clone()]);
    }
    let add = format!("rustup {}", args.join(" "));
    let missing = format!(
        "the Rust toolchain at {} has no {WASM_TARGET} target, which the plugin components are \
         built for",
        sysroot.display()
    );
    println!("cargo:warning={missing}; installing it with `{add}`");
    let result = Command::new("rustup")
        .args(&args)
        .stdin(Stdio::null())
        .output();
    let failure = match result {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "`{add}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some("rustup is not on PATH to install it".to_string())
        }
        Err(e) => Some(format!("cannot run rustup: {e}")),
    };
    if let Some(failure) = failure {
        return Err(format!(
            "{missing}, and {failure}; run `{add}` (without rustup: install the {WASM_TARGET} \
             standard library for this toolchain) and build again"
        ));
    }
    if !target_lib.is_dir() {
        return Err(format!(
            "{missing}; `{add}` reported success but {} is still missing; check which \
             toolchain is active (`rustup show`) and build again",
            target_lib.display()
        ));
    }
    println!("cargo:warning=installed the {WASM_TARGET} target with `{add}`");
    Ok(())
}

/// The target directory of the outer build: the nearest ancestor of `OUT_DIR` that cargo marked
/// with `CACHEDIR.TAG` (it honours `--target-dir`, `CARGO_TARGET_DIR` and config alike), else the
/// one `cargo metadata` names.
fn target_dir(out_dir: &Path, metadata: &Value) -> Result<PathBuf, String> {
    if let Some(dir) = out_dir
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
    {
        return Ok(dir.to_path_buf());
    }
    metadata
        .get("target_directory")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| "`cargo metadata` named no target_directory".to_string())
}

/// Build every plugin crate for wasm32-wasip2.
fn build(
    cargo: &str,
    root: &Path,
    target_dir: &Path,
    crates: &[PluginCrate],
) -> Result<(), String> {
    let mut command = Command::new(cargo);
    command.current_dir(root).args([
        "build",
        "--profile",
        PROFILE,
        "--target",
        WASM_TARGET,
        "--locked",
    ]);
    for plugin in crates {
        command.args(["-p", &plugin.package]);
    }
    sanitise(&mut command);
    command
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null());

    let output = command
        .output()
        .map_err(|e| format!("cannot run `{cargo}` to build the plugin crates: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    let hint = if stderr.contains("can't find crate for `core`")
        || stderr.contains("can't find crate for `std`")
    {
        format!(
            "the {WASM_TARGET} standard library is missing: run `rustup target add {WASM_TARGET}`"
        )
    } else {
        format!(
            "fix the plugin build error above; reproduce it with `cargo build --profile {PROFILE} \
             --target {WASM_TARGET} --locked -p <crate>` in {}",
            root.display()
        )
    };
    Err(format!(
        "building the plugin crates for {WASM_TARGET} failed ({}); {hint}",
        output.status
    ))
}

/// Write `$OUT_DIR/builtins.rs`: the built-ins' table and the components directory.
fn write_table(out_dir: &Path, wasm_dir: &Path, crates: &[PluginCrate]) -> Result<(), String> {
    let mut builtins = Vec::new();
    for plugin in crates {
        let path = wasm_dir.join(format!("{}.wasm", plugin.lib));
        if !path.is_file() {
            return Err(format!(
                "the plugin build succeeded but {} is missing; does `{}` have \
                 crate-type = [\"cdylib\"]?",
                path.display(),
                plugin.package
            ));
        }
        if let Some((name, role)) = &plugin.builtin {
            builtins.push((name, *role, path, plugin.profile.clone()));
        }
    }
    builtins.sort();

    let mut table = String::from(
        "// Generated by build.rs: the built-in components embedded in this crate.\n\
         static TABLE: &[(&str, wfhost_runtime::Role, &[u8], [u8; 32])] = &[\n",
    );
    let mut profiles = String::from(
        "/// The declared profile (`profile.toml`) of each built-in that has one, by name.\n\
         static PROFILES: &[(&str, &str)] = &[\n",
    );
    for (name, role, path, profile) in builtins {
        if let Some(profile) = profile {
            let literal = profile
                .to_str()
                .ok_or_else(|| format!("path {} is not UTF-8", profile.display()))?;
            println!("cargo:rerun-if-changed={literal}");
            writeln!(profiles, "    ({name:?}, include_str!({literal:?})),").map_err(|e| e.to_string())?;
        }
        let literal = path
            .to_str()
            .ok_or_else(|| format!("path {} is not UTF-8", path.display()))?;
        // The digest is the cache key; computing it here saves hashing the bytes at every start.
        let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // If the component changes without its sources changing, the digest must follow.
        println!("cargo:rerun-if-changed={}", path.display());
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        writeln!(
            table,
            "    ({name:?}, wfhost_runtime::Role::{role}, include_bytes!({literal:?}), {digest:?}),"
        )
        .map_err(|e| e.to_string())?;
    }
    table.push_str("];\n");
    profiles.push_str("];\n");
    table.push_str(&profiles);
    let dir = wasm_dir
        .to_str()
        .ok_or_else(|| format!("path {} is not UTF-8", wasm_dir.display()))?;
    writeln!(table, "const COMPONENTS_DIR: &str = {dir:?};").map_err(|e| e.to_string())?;

    let generated = out_dir.join("builtins.rs");
    fs::write(&generated, table).map_err(|e| format!("cannot write {}: {e}", generated.display()))
}
