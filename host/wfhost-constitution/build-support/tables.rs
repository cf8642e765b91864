// The constitution's tables as build scripts read them: the phase table, the code families and
// codes, and the config vocabulary. `include!`d by the build script of `wfhost-constitution`
// (which generates the host's typed constants from them) and by those of the built-in
// components (a build script cannot depend on the crate it builds for, and the components are
// built for wasm32 by a nested cargo).
//
// Each reader registers its file with `cargo:rerun-if-changed`, and a table that cannot be read
// or parsed fails the build with the parser's message. Paths are relative to the including
// crate's manifest directory, two levels below the repository root (`host/<crate>/`,
// `plugins/<name>/`). The runtime loader (`wfhost_constitution::Constitution::load`) cross-checks
// the same files in full; these rows hold only what generated code needs.

#[allow(dead_code)] // not every build script reads every table
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
    /// Whether `wfhost flow` runs the phase (`flow = false`: only commands that list it).
    #[serde(default = "phase_in_flow")]
    flow: bool,
}

#[allow(dead_code)]
fn phase_in_flow() -> bool {
    true
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
struct CodesFile {
    families: std::collections::BTreeMap<String, FamilyRow>,
    code: Vec<CodeRow>,
}

/// One family of `constitution/codes.toml` (`[families]`).
#[allow(dead_code)]
#[derive(serde::Deserialize)]
struct FamilyRow {
    name: String,
    exit: i32,
    generic: String,
}

/// One row of `constitution/codes.toml`.
#[allow(dead_code)]
#[derive(serde::Deserialize)]
struct CodeRow {
    code: u16,
    name: String,
    text: String,
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
struct VocabularyFile {
    #[serde(default)]
    key: Vec<KeyRow>,
    #[serde(default)]
    pattern: Vec<KeyRow>,
}

/// One `[[key]]` or `[[pattern]]` of `constitution/config.toml`.
#[allow(dead_code)]
#[derive(serde::Deserialize)]
struct KeyRow {
    name: String,
    meaning: String,
    kind: String,
    default: Option<String>,
    scope: Option<String>,
    /// A whole number for a `uint`; a whole number or a fraction for a `decimal`.
    min: Option<toml::Value>,
    max: Option<toml::Value>,
    values: Option<Vec<String>>,
    separator: Option<String>,
}

/// A bound of `constitution/config.toml` as a whole number (`None` when absent).
#[allow(dead_code)]
fn whole_bound(row: &KeyRow, field: &str, value: &Option<toml::Value>) -> Option<u64> {
    value.as_ref().map(|v| {
        v.as_integer()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or_else(|| panic!("constitution/config.toml: {} has {field} = {v:?}, not a whole number", row.name))
    })
}

/// A bound or default of a `decimal` in thousandths (`0.2` is 200).
#[allow(dead_code)]
fn millis_bound(row: &KeyRow, what: &str, value: &toml::Value) -> u64 {
    let f = match value {
        toml::Value::Integer(n) => *n as f64,
        toml::Value::Float(f) => *f,
        toml::Value::String(s) => s.parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    };
    let millis = (f * 1000.0).round();
    if !(millis >= 0.0 && (millis - f * 1000.0).abs() < 1e-6) {
        panic!("constitution/config.toml: {} has {what} {value:?}, not a decimal with at most three digits after the point", row.name);
    }
    millis as u64
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

#[allow(dead_code)]
fn load_codes_file() -> CodesFile {
    let mut file: CodesFile = toml::from_str(&constitution_file("codes.toml"))
        .unwrap_or_else(|e| panic!("constitution/codes.toml does not parse: {e}"));
    file.code.sort_by_key(|c| c.code);
    file
}

/// Every failure code, sorted by code.
#[allow(dead_code)]
fn load_codes() -> Vec<CodeRow> {
    load_codes_file().code
}

/// Every code family by its hundreds digit, in order.
#[allow(dead_code)]
fn load_families() -> Vec<(u16, FamilyRow)> {
    load_codes_file()
        .families
        .into_iter()
        .map(|(digit, row)| {
            let d = digit
                .parse()
                .unwrap_or_else(|_| panic!("constitution/codes.toml: family {digit:?} is not a digit"));
            (d, row)
        })
        .collect()
}

/// The config vocabulary.
#[allow(dead_code)]
fn load_vocabulary() -> VocabularyFile {
    toml::from_str(&constitution_file("config.toml"))
        .unwrap_or_else(|e| panic!("constitution/config.toml does not parse: {e}"))
}

/// The Rust constant name of every code, in the order given: `NAME` for a name that appears
/// once, `NAME_<F>XX` for a name several families share (`POD_UNREACHABLE_3XX`).
#[allow(dead_code)]
fn code_idents(codes: &[CodeRow]) -> Vec<(String, &CodeRow)> {
    let mut uses: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for c in codes {
        *uses.entry(c.name.as_str()).or_default() += 1;
    }
    codes
        .iter()
        .map(|c| {
            let ident = if uses[c.name.as_str()] > 1 {
                format!("{}_{}XX", c.name, c.code / 100)
            } else {
                c.name.clone()
            };
            (ident, c)
        })
        .collect()
}

/// The code a family names `generic` (codes.toml `[families]`), as (family digit, code).
#[allow(dead_code)]
fn generic_codes(families: &[(u16, FamilyRow)], codes: &[CodeRow]) -> Vec<(u16, u16)> {
    families
        .iter()
        .map(|(digit, f)| {
            let code = codes
                .iter()
                .find(|c| c.code / 100 == *digit && c.name == f.generic)
                .unwrap_or_else(|| {
                    panic!("constitution/codes.toml: family {digit} names generic code {} it does not have", f.generic)
                });
            (*digit, code.code)
        })
        .collect()
}

/// Write `text` to `$OUT_DIR/<name>`.
fn write_generated(name: &str, text: &str) {
    let dest =
        std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(name);
    std::fs::write(&dest, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}
