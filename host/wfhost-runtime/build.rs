//! Builds the plugin workspace (`plugins/`) for wasm32-wasip2 and embeds the built-in components.
//!
//! Flow: run `$CARGO build --release --target wasm32-wasip2 --workspace` in `plugins/` with
//! `CARGO_TARGET_DIR=<workspace root>/target/plugins` and a sanitised environment, then write
//! `$OUT_DIR/builtin_components.rs`: a table of `(name, role, include_bytes!(..), sha256)` rows for
//! every built-in whose crate exists. The test-only components in `plugins/testing` are built too
//! (same workspace) but never embedded; `WFHOST_PLUGINS_DIR` tells the tests where they are.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use sha2::{Digest, Sha256};

/// The built-in components: (name, role, crate directory under `plugins/`, output file).
/// A row is embedded only when its crate directory exists, so adding a built-in is one row here
/// plus the crate (and its `members` entry) in `plugins/`.
const BUILTINS: &[(&str, &str, &str, &str)] = &[
    (
        "constitution",
        "Auditor",
        "auditor-constitution",
        "wfhost_auditor_constitution.wasm",
    ),
    (
        "executors",
        "Executor",
        "executors",
        "wfhost_executors.wasm",
    ),
    (
        "local",
        "Transport",
        "transport-local",
        "wfhost_transport_local.wasm",
    ),
    (
        "ssh",
        "Transport",
        "transport-ssh",
        "wfhost_transport_ssh.wasm",
    ),
];

const WASM_TARGET: &str = "wasm32-wasip2";

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
    // clippy-driver (set by `cargo clippy`) must not lint the plugin workspace as part of us.
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
    let workspace_root = manifest_dir.join("../..").canonicalize().map_err(|e| {
        format!(
            "cannot resolve the workspace root above {}: {e}",
            manifest_dir.display()
        )
    })?;
    let plugins_dir = workspace_root.join("plugins");
    let wit_dir = workspace_root.join("wit");
    let target_dir = workspace_root.join("target").join("plugins");
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);

    if !plugins_dir.join("Cargo.toml").is_file() {
        return Err(format!(
            "the plugin workspace {} is missing; wfhost-runtime must be built from the wfhost \
             source tree (it compiles and embeds the built-in components)",
            plugins_dir.display()
        ));
    }

    emit_rerun_if_changed(&plugins_dir, &wit_dir)?;

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(&cargo);
    command.current_dir(&plugins_dir).args([
        "build",
        "--release",
        "--target",
        WASM_TARGET,
        "--workspace",
    ]);
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if REMOVED_VARS.contains(&key) || REMOVED_PREFIXES.iter().any(|p| key.starts_with(p)) {
            command.env_remove(key);
        }
    }
    // Kept on purpose: RUSTC and RUSTUP_TOOLCHAIN (the inner build uses the same toolchain as the
    // outer one), RUSTC_WRAPPER (the user's compiler cache), CARGO_MAKEFLAGS/MAKEFLAGS (the
    // jobserver, so the inner build shares the outer job slots), CARGO_HOME and CARGO_NET_OFFLINE.
    command.env("CARGO_TARGET_DIR", &target_dir);

    let output = command
        .output()
        .map_err(|e| format!("cannot run `{cargo}` to build the plugin workspace: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprintln!("{stderr}");
        let hint = if stderr.contains("wasm32-wasip2")
            && stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`")
        {
            "the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`"
        } else {
            "fix the plugin build error above; reproduce it with \
             `cargo build --release --target wasm32-wasip2 --workspace` in plugins/ \
             (and `rustup target add wasm32-wasip2` if the target is missing)"
        };
        return Err(format!(
            "building the plugin workspace {} failed ({}); {hint}",
            plugins_dir.display(),
            output.status
        ));
    }

    let wasm_dir = target_dir.join(WASM_TARGET).join("release");
    let mut table = String::from(
        "// Generated by build.rs: the built-in components embedded in this crate.\n\
         pub(crate) static BUILTIN_TABLE: &[(&str, crate::roles::Role, &[u8], [u8; 32])] = &[\n",
    );
    for (name, role, crate_dir, file) in BUILTINS {
        if !plugins_dir.join(crate_dir).join("Cargo.toml").is_file() {
            continue;
        }
        let path = wasm_dir.join(file);
        if !path.is_file() {
            return Err(format!(
                "the plugin build succeeded but {} is missing; is `{crate_dir}` a member of \
                 plugins/Cargo.toml with crate-type = [\"cdylib\"]?",
                path.display()
            ));
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
            "    ({name:?}, crate::roles::Role::{role}, include_bytes!({literal:?}), {digest:?}),"
        )
        .map_err(|e| e.to_string())?;
    }
    table.push_str("];\n");
    let generated = out_dir.join("builtin_components.rs");
    fs::write(&generated, table)
        .map_err(|e| format!("cannot write {}: {e}", generated.display()))?;

    println!("cargo:rustc-env=WFHOST_PLUGINS_DIR={}", wasm_dir.display());
    Ok(())
}

fn env_var(key: &str) -> Result<String, String> {
    env::var(key).map_err(|_| format!("cargo did not set {key} for the build script"))
}

/// Rerun when plugin sources, manifests or the WIT contract change. Each crate directory of the
/// plugin workspace is watched (cargo scans directories recursively); `plugins/target` is not,
/// since the inner build writes there.
fn emit_rerun_if_changed(plugins_dir: &Path, wit_dir: &Path) -> Result<(), String> {
    println!(
        "cargo:rerun-if-changed={}",
        plugins_dir.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        plugins_dir.join("Cargo.lock").display()
    );
    println!("cargo:rerun-if-changed={}", wit_dir.display());
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
