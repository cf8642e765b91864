// The constitution's phase and code tables, read by the build scripts of the built-in
// components (`include!`d there: a build script cannot depend on the crate it builds for).
//
// Each reader registers its file with `cargo:rerun-if-changed`, and a table that cannot be read
// or parsed fails the build with the parser's message. Paths are relative to the including
// crate's manifest directory: every built-in component lives in `plugins/<name>/`.

#[allow(dead_code)] // not every build script reads the phase table
#[derive(serde::Deserialize)]
struct PhasesFile {
    phase: Vec<PhaseRow>,
}

/// One row of `constitution/phases.toml`.
#[allow(dead_code)]
#[derive(serde::Deserialize)]
struct PhaseRow {
    id: String,
    name: String,
    family: u16,
}

#[derive(serde::Deserialize)]
struct CodesFile {
    code: Vec<CodeRow>,
}

/// One row of `constitution/codes.toml`.
#[derive(serde::Deserialize)]
struct CodeRow {
    code: u16,
    name: String,
}

fn constitution_file(name: &str) -> String {
    let manifest = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let path = manifest.join("../../constitution").join(name);
    println!("cargo:rerun-if-changed={}", path.display());
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every phase, in table order.
#[allow(dead_code)]
fn load_phases() -> Vec<PhaseRow> {
    let file: PhasesFile = toml::from_str(&constitution_file("phases.toml"))
        .unwrap_or_else(|e| panic!("constitution/phases.toml does not parse: {e}"));
    file.phase
}

/// Every failure code, sorted by code.
fn load_codes() -> Vec<CodeRow> {
    let mut file: CodesFile = toml::from_str(&constitution_file("codes.toml"))
        .unwrap_or_else(|e| panic!("constitution/codes.toml does not parse: {e}"));
    file.code.sort_by_key(|c| c.code);
    file.code
}

/// Write `text` to `$OUT_DIR/<name>`.
fn write_generated(name: &str, text: &str) {
    let dest =
        std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(name);
    std::fs::write(&dest, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}
