//! The canonical config: locating, parsing and resolving `infra_scripts/workflow.env`.
//!
//! Data flows in three steps, each with its own type:
//!
//! 1. [`ConfigLocation::resolve`] takes the working directory and the process environment (both
//!    passed in: nothing here reads the process cwd or environment implicitly) and decides which
//!    file is the config. `WORKFLOW_CONFIG=<path>` naming another file is refused (code 102)
//!    unless `WF_ALLOW_OVERRIDE=1`; with it the override is used and
//!    [`ConfigLocation::override_enabled`] is `true`.
//! 2. [`Config::load`] reads the bytes (sha256 over exactly those bytes), parses the lines, and
//!    resolves every key of the [`Vocabulary`] (`constitution/config.toml`, loaded and
//!    cross-checked by `wfhost-constitution`): values are validated by kind and range, defaults
//!    applied, secrets moved into [`Secrets`], unknown keys kept (in file order) as warnings and
//!    never used.
//! 3. The rest of the host reads values through the typed accessors, one per kind, named by the
//!    generated key constants (`config.uint(keys::WF_AUDITOR_FUEL)`,
//!    `config.value(keys::WF_TRANSPORT)`): a misspelt key does not compile, and the vocabulary's
//!    default applies without being restated. It hands [`Config::public_entries`] to evidence
//!    and plugins, and re-checks the file with [`Config::rehash`] for the "config unchanged"
//!    check. The `*_by_name` accessors serve names only known at run time (a walk over the
//!    vocabulary, a key family).
//!
//! # File syntax
//!
//! The file is data, never executed by a shell:
//!
//! - `KEY=VALUE` lines; blank lines and lines starting with `#` are ignored; leading and
//!   trailing whitespace of a line is ignored; CRLF line endings and a UTF-8 BOM are tolerated.
//! - An optional `export ` prefix (`export KEY=VALUE`) is accepted and ignored.
//! - Keys match `[A-Z_][A-Z0-9_]*`, with no space before `=`. A key set twice is an error naming
//!   both lines.
//! - An unquoted value runs to the end of the line, or to a `#` preceded by whitespace, which
//!   starts a comment (`KEY=value # note`); whitespace around it is trimmed. A `#` inside a
//!   word is part of the value (`KEY=a#b`), and quotes inside the value are ordinary characters
//!   (`CHECKOUT_CHECKS=python -c 'import torch'`). Quote values that contain ` #`, start with a
//!   quote, or must keep surrounding spaces; quoting values with spaces also keeps the file
//!   readable by a POSIX shell.
//! - `'...'` around the whole value: taken literally, no escapes.
//! - `"..."` around the whole value: `\"`, `\\`, `\n` (newline), `\$` and `` \` `` are escapes;
//!   any other backslash sequence is an error. A quoted value cannot span lines. After the
//!   closing quote only whitespace and a `# comment` may follow.
//! - `KEY=` (an empty value) means "unset": the default applies, if there is one.
//! - **No expansion**: `$VAR`, `${VAR}`, `$(cmd)` and backticks are kept literally in the value
//!   (quoted or not). Nothing is substituted and nothing runs. A value that needs another
//!   value's content must spell it out.
//!
//! Keys that are legal only in the process environment (`WORKFLOW_CONFIG`, `WF_ALLOW_OVERRIDE`,
//! `WFHOST_CACHE_DIR`) are an error in the file; `LIUM_YES` may come from either (a non-empty
//! process environment value wins). File-only keys set in the process environment are ignored
//! and reported by [`Config::warnings`].
//!
//! # Secrets
//!
//! Keys marked `secret` in the vocabulary (and families such as `WF_SECRET_*`) are stored only
//! in [`Secrets`]; [`SecretValue`] has no `Display` or `Serialize` and its `Debug` prints
//! `<redacted>`. Error messages redact secret values (and values of keys whose name looks like a
//! credential). [`Config::raw`] is the file as it is, secrets included; use
//! [`Config::redacted_text`] for anything that is written to evidence.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wfhost_constitution::codes::{self, Code};
use wfhost_constitution::keys::{self, Decimal, Flag, Key, KeyKind, List, LocalPath, Pattern, Uint};
use wfhost_constitution::vocabulary::is_valid_key;
pub use wfhost_constitution::vocabulary::{
    Kind, KeySpec, ListSeparator, PathScope, PatternSpec, Source, Vocabulary, VocabularyError,
    VOCABULARY_TOML,
};
use wfhost_evidence::hash::sha256_hex;

/// Where the canonical config lives, relative to the working directory.
pub const CANONICAL_CONFIG: &str = "infra_scripts/workflow.env";

/// How many unknown keys [`Config::warnings`] names one by one; the rest are counted.
pub const MAX_SHOWN_UNKNOWN_KEYS: usize = 20;

/// What [`Config::public_entries`] shows instead of a secret value.
pub const SECRET_MARKER: &str = "<secret>";

/// The environment variable naming an override config.
pub const ENV_WORKFLOW_CONFIG: &str = keys::WORKFLOW_CONFIG.name();

/// The environment variable that allows [`ENV_WORKFLOW_CONFIG`].
pub const ENV_ALLOW_OVERRIDE: &str = keys::WF_ALLOW_OVERRIDE.name();

const REDACTED: &str = "<redacted>";

/// A name that looks like it holds a credential, redacted in messages even when unknown.
fn looks_secret(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "PRIVATE",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why the config could not be located, read or accepted. [`ConfigError::code`] is the
/// constitution code (`constitution/codes.toml`, family 1). Cloneable (I/O errors are shared).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// The working directory cannot be made absolute (code 100).
    #[error("cannot use {} as the working directory: {source}; run wfhost from an existing directory", workdir.display())]
    Workdir {
        /// The directory as given.
        workdir: PathBuf,
        /// The I/O error.
        source: Arc<io::Error>,
    },
    /// The config file is missing or unreadable (code 100).
    #[error("cannot read the config file {}: {source}. {next}", path.display())]
    Unreadable {
        /// Absolute path of the file.
        path: PathBuf,
        /// What to do about it.
        next: String,
        /// The I/O error.
        source: Arc<io::Error>,
    },
    /// `WORKFLOW_CONFIG` names another file and `WF_ALLOW_OVERRIDE` is not 1 (code 102).
    #[error(
        "WORKFLOW_CONFIG={} names another config than the canonical {}, and WF_ALLOW_OVERRIDE is {allow}; \
         unset WORKFLOW_CONFIG to use the canonical config, or set WF_ALLOW_OVERRIDE=1 to use the other one on purpose",
        requested.display(), canonical.display()
    )]
    OverrideRefused {
        /// The file `WORKFLOW_CONFIG` names (absolute).
        requested: PathBuf,
        /// The canonical config (absolute).
        canonical: PathBuf,
        /// How `WF_ALLOW_OVERRIDE` was set (`unset`, or the value quoted).
        allow: String,
    },
    /// A line is not valid syntax (code 101).
    #[error("{}:{line}: {problem}: `{text}`. Fix: {fix}", path.display())]
    Syntax {
        /// Absolute path of the file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line, with secret values redacted.
        text: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
    /// A key appears twice (code 101).
    #[error("{}: {key} is set twice, on line {first_line} and on line {second_line}; keep one of them", path.display())]
    DuplicateKey {
        /// Absolute path of the file.
        path: PathBuf,
        /// The key.
        key: String,
        /// Where it is set first.
        first_line: usize,
        /// Where it is set again.
        second_line: usize,
    },
    /// A value does not fit its key's kind (code 101).
    #[error("{}:{line}: {key}={shown} {problem}; fix the value on that line", path.display())]
    InvalidValue {
        /// Absolute path of the file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key.
        key: String,
        /// The value as shown (`<redacted>` for secrets).
        shown: String,
        /// What is wrong.
        problem: String,
    },
    /// A key that is only read from the process environment appears in the file (code 101).
    #[error(
        "{}:{line}: {key} is read from the process environment only and has no effect in the config file; \
         remove the line and set it in the environment instead (e.g. `{key}=... wfhost flow ...`)",
        path.display()
    )]
    EnvOnlyKeyInFile {
        /// Absolute path of the file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key.
        key: String,
    },
    /// A process environment value does not fit its key's kind (code 101).
    #[error("the process environment sets {key}={shown}, which {problem}; fix or unset it")]
    InvalidEnv {
        /// The variable.
        key: String,
        /// The value as shown (`<redacted>` for secrets).
        shown: String,
        /// What is wrong.
        problem: String,
    },
    /// `WF_CONSTITUTION_VERSION` is not the version this build implements (code 103).
    #[error(
        "{}:{line}: WF_CONSTITUTION_VERSION={found:?}, but this wfhost implements constitution version {expected} only; \
         set WF_CONSTITUTION_VERSION={expected}",
        path.display()
    )]
    ConstitutionVersion {
        /// Absolute path of the file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The value found.
        found: String,
        /// The version implemented.
        expected: u32,
    },
    /// `WF_PHASE_COURT_ENFORCE` is not 1 (code 104).
    #[error(
        "{}:{line}: WF_PHASE_COURT_ENFORCE={found:?}: the court cannot be switched off; \
         remove the line or set WF_PHASE_COURT_ENFORCE=1",
        path.display()
    )]
    CourtDisabled {
        /// Absolute path of the file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The value found.
        found: String,
    },
    /// The embedded vocabulary is broken (only a broken build; reported with code 101).
    #[error("internal error: {message}; this wfhost build is broken, reinstall it")]
    Vocabulary {
        /// The vocabulary error.
        message: String,
    },
    /// A key a requested phase needs is unset (code 107).
    #[error("{key} is not set in {}, but {needed_by} needs it; set {key} in the config or skip what needs it", path.display())]
    RequiredMissing {
        /// Absolute path of the file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What needs it (e.g. `P50 CHECKOUT`).
        needed_by: String,
    },
}

impl ConfigError {
    /// The constitution code of this failure (family 1).
    pub fn code(&self) -> Code {
        match self {
            ConfigError::Workdir { .. } | ConfigError::Unreadable { .. } => codes::CONFIG_MISSING,
            ConfigError::Syntax { .. }
            | ConfigError::DuplicateKey { .. }
            | ConfigError::InvalidValue { .. }
            | ConfigError::EnvOnlyKeyInFile { .. }
            | ConfigError::InvalidEnv { .. }
            | ConfigError::Vocabulary { .. } => codes::CONFIG_INVALID,
            ConfigError::OverrideRefused { .. } => codes::OVERRIDE_REFUSED,
            ConfigError::ConstitutionVersion { .. } => codes::CONSTITUTION_VERSION,
            ConfigError::CourtDisabled { .. } => codes::COURT_DISABLED,
            ConfigError::RequiredMissing { .. } => codes::REQUIRED_VAR_MISSING,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Location
// ---------------------------------------------------------------------------------------------

/// Which file is the config, decided from the working directory and the process environment.
#[derive(Clone)]
pub struct ConfigLocation {
    path: PathBuf,
    workdir: PathBuf,
    override_enabled: bool,
    env: BTreeMap<String, String>,
}

impl fmt::Debug for ConfigLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigLocation")
            .field("path", &self.path)
            .field("workdir", &self.workdir)
            .field("override_enabled", &self.override_enabled)
            .finish_non_exhaustive()
    }
}

fn non_empty<'a>(env: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    env.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl ConfigLocation {
    /// Decide which file is the config.
    ///
    /// `workdir` is the directory wfhost runs in (a relative one is made absolute with
    /// [`std::path::absolute`]); `env` is the process environment. The canonical config is
    /// `<workdir>/infra_scripts/workflow.env`. A non-empty `WORKFLOW_CONFIG` (relative to
    /// `workdir` when relative) naming another file is refused with code 102 unless
    /// `WF_ALLOW_OVERRIDE=1`; naming the canonical file itself is not an override. An empty
    /// `WORKFLOW_CONFIG` counts as unset. `WF_ALLOW_OVERRIDE` other than empty, 0 or 1 is an
    /// error (code 101). The file is not read here.
    pub fn resolve(
        workdir: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<ConfigLocation, ConfigError> {
        let workdir = std::path::absolute(workdir).map_err(|source| ConfigError::Workdir {
            workdir: workdir.to_path_buf(),
            source: Arc::new(source),
        })?;
        let canonical = workdir.join(CANONICAL_CONFIG);
        let allow = non_empty(env, ENV_ALLOW_OVERRIDE);
        if let Some(value) = allow {
            Kind::Bool01
                .check(value)
                .map_err(|problem| ConfigError::InvalidEnv {
                    key: ENV_ALLOW_OVERRIDE.to_owned(),
                    shown: format!("{value:?}"),
                    problem,
                })?;
        }
        let (path, override_enabled) = match non_empty(env, ENV_WORKFLOW_CONFIG) {
            None => (canonical, false),
            Some(requested) => {
                let requested = workdir.join(requested);
                if same_file(&requested, &canonical) {
                    (canonical, false)
                } else if allow == Some("1") {
                    (requested, true)
                } else {
                    return Err(ConfigError::OverrideRefused {
                        requested,
                        canonical,
                        allow: allow.map_or_else(|| "unset".to_owned(), |v| format!("{v:?}")),
                    });
                }
            }
        };
        Ok(ConfigLocation {
            path,
            workdir,
            override_enabled,
            env: env.clone(),
        })
    }

    /// Absolute path of the config file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Absolute working directory (relative local paths in the config are relative to it).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Whether `WORKFLOW_CONFIG` replaced the canonical config (allowed by `WF_ALLOW_OVERRIDE=1`).
    pub fn override_enabled(&self) -> bool {
        self.override_enabled
    }
}

// ---------------------------------------------------------------------------------------------
// Line parser
// ---------------------------------------------------------------------------------------------

struct LineError {
    problem: String,
    fix: String,
}

fn line_error(problem: impl Into<String>, fix: impl Into<String>) -> LineError {
    LineError {
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// Parse one line (without its line ending). `Ok(None)` for blank and comment lines.
fn parse_line(line: &str) -> Result<Option<(String, String)>, LineError> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let t = match t.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        Some("") => {
            return Err(line_error(
                "`export` without KEY=VALUE",
                "write `export KEY=VALUE` or remove the line",
            ))
        }
        _ => t,
    };
    let Some((key, rest)) = t.split_once('=') else {
        return Err(line_error(
            "not a KEY=VALUE line",
            "write KEY=VALUE, or start the line with # to make it a comment",
        ));
    };
    if key.is_empty() {
        return Err(line_error("the key before = is empty", "write KEY=VALUE"));
    }
    if key.ends_with([' ', '\t']) {
        return Err(line_error(
            "space before =",
            "remove the spaces around =: KEY=VALUE",
        ));
    }
    if !is_valid_key(key) {
        let fix = if key.chars().any(|c| c.is_ascii_lowercase()) {
            "keys are upper case letters, digits and _ ([A-Z_][A-Z0-9_]*): write it in upper case"
        } else {
            "keys are upper case letters, digits and _ ([A-Z_][A-Z0-9_]*), not starting with a digit"
        };
        return Err(line_error(format!("{key:?} is not a valid key"), fix));
    }
    let value = parse_value(rest)?;
    Ok(Some((key.to_owned(), value)))
}

/// What may follow a closing quote: nothing, or whitespace + `# comment`.
fn check_tail(tail: &str) -> Result<(), LineError> {
    let trimmed = tail.trim_start_matches([' ', '\t']);
    if trimmed.is_empty() || (trimmed.len() < tail.len() && trimmed.starts_with('#')) {
        return Ok(());
    }
    Err(line_error(
        "unexpected text after the closing quote",
        "the quotes must surround the whole value; a comment after it needs a space before #",
    ))
}

fn parse_value(rest: &str) -> Result<String, LineError> {
    // `KEY= # note` is an empty value with a comment; `KEY=#x` is the value `#x`.
    let after_ws = rest.trim_start_matches([' ', '\t']);
    if after_ws.is_empty() || (after_ws.len() < rest.len() && after_ws.starts_with('#')) {
        return Ok(String::new());
    }
    if let Some(body) = after_ws.strip_prefix('\'') {
        let Some(end) = body.find('\'') else {
            return Err(line_error(
                "the single quote is not closed on this line",
                "close the quote at the end of the value; values cannot span lines",
            ));
        };
        check_tail(&body[end + 1..])?;
        return Ok(body[..end].to_owned());
    }
    if let Some(body) = after_ws.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    check_tail(&body[i + 1..])?;
                    return Ok(value);
                }
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('"') => value.push('"'),
                    Some('\\') => value.push('\\'),
                    Some('n') => value.push('\n'),
                    Some('$') => value.push('$'),
                    Some('`') => value.push('`'),
                    Some(other) => {
                        return Err(line_error(
                            format!("unknown escape \\{other} in a double-quoted value"),
                            "inside double quotes only \\\" \\\\ \\n \\$ \\` are escapes; \
                             write \\\\ for a backslash, or use single quotes",
                        ))
                    }
                    None => break,
                },
                c => value.push(c),
            }
        }
        return Err(line_error(
            "the double quote is not closed on this line",
            "close the quote at the end of the value; values cannot span lines (use \\n)",
        ));
    }
    // Unquoted: up to a `#` that follows whitespace (a comment), trimmed; quotes inside are
    // ordinary characters.
    let bytes = after_ws.as_bytes();
    let comment =
        (1..bytes.len()).find(|&i| bytes[i] == b'#' && matches!(bytes[i - 1], b' ' | b'\t'));
    let value = &after_ws[..comment.unwrap_or(after_ws.len())];
    Ok(value.trim_end_matches([' ', '\t']).to_owned())
}

/// The line as shown in a message: secret-looking values replaced, long lines shortened.
fn redact_line(line: &str, vocab: &Vocabulary) -> String {
    let t = line.trim();
    let shown = match t.split_once('=') {
        Some((left, _)) => {
            let candidate = left
                .trim()
                .strip_prefix("export")
                .map_or(left.trim(), str::trim);
            if vocab.is_secret(candidate) || looks_secret(candidate) {
                format!("{left}={REDACTED}")
            } else {
                t.to_owned()
            }
        }
        None => {
            // `LIUM_API_KEY sk-...` (a forgotten `=`): hide everything after a secret name.
            let words: Vec<&str> = t.split_whitespace().collect();
            let name = match words.as_slice() {
                ["export", name, ..] => Some(*name),
                [name, _, ..] => Some(*name),
                _ => None,
            };
            match name {
                Some(n) if vocab.is_secret(n) || looks_secret(n) => {
                    let keep = t.find(n).map_or(0, |i| i + n.len());
                    format!("{} {REDACTED}", &t[..keep])
                }
                _ => t.to_owned(),
            }
        }
    };
    const MAX: usize = 200;
    if shown.chars().count() > MAX {
        let cut: String = shown.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        shown
    }
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

/// A secret value. It has no `Display` or `Serialize`; `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// The value itself, for the host code that injects it into a process or request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The secret values of a config, by key. `Debug` shows keys only.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, SecretValue>,
}

impl Secrets {
    /// The value of a secret key, if set.
    pub fn get(&self, key: &str) -> Option<&SecretValue> {
        self.values.get(key)
    }

    /// The keys that hold a secret, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.values.iter()).finish()
    }
}

/// Where a resolved value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueSource {
    /// The config file, at this 1-based line.
    File {
        /// 1-based line number.
        line: usize,
    },
    /// The process environment.
    Env,
    /// The vocabulary's default.
    Default,
}

/// A key of the file that the vocabulary does not know. Its value is never used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key.
    pub key: String,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (line {})", self.key, self.line)
    }
}

#[derive(Debug, Clone)]
struct Resolved {
    value: String,
    source: ValueSource,
}

/// The loaded, validated config. `Debug` shows no values.
#[derive(Clone)]
pub struct Config {
    location: ConfigLocation,
    raw: Vec<u8>,
    sha256: String,
    vocab: Vocabulary,
    resolved: BTreeMap<String, Resolved>,
    pattern_keys: Vec<String>,
    secrets: Secrets,
    secret_lines: BTreeSet<usize>,
    unknown: Vec<UnknownKey>,
    env_ignored: Vec<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.location.path)
            .field("sha256", &self.sha256)
            .field("override_enabled", &self.location.override_enabled)
            .field("secrets", &self.secrets)
            .field("unknown", &self.unknown)
            .finish_non_exhaustive()
    }
}

fn read_config(path: &Path, override_enabled: bool) -> Result<Vec<u8>, ConfigError> {
    use wfhost_evidence::input::{self, InputKind, InputProblem};
    input::read(path, InputKind::Config).map_err(|e| {
        let next = match (&e.problem, override_enabled) {
            (InputProblem::Io(_), true) if e.not_found() => "WORKFLOW_CONFIG names this file: fix the path, or unset WORKFLOW_CONFIG to use infra_scripts/workflow.env".to_owned(),
            (InputProblem::Io(_), false) if e.not_found() => format!(
                "Create {CANONICAL_CONFIG} in the directory you run wfhost from \
                 (KEY=VALUE lines, # comments; `wfhost doctor` lists the keys)"
            ),
            (InputProblem::Io(io), _) => format!("It exists but cannot be read: {}", input::io_advice(io)),
            _ => "Make it a regular file of KEY=VALUE lines".to_owned(),
        };
        let source = match e.problem {
            InputProblem::Io(io) => io,
            _ => io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
        };
        ConfigError::Unreadable { path: path.to_path_buf(), next, source: Arc::new(source) }
    })
}

impl Config {
    /// Read, parse and resolve the config at `location` against the embedded vocabulary
    /// ([`Vocabulary::get`]). See the module documentation for the syntax and the rules.
    pub fn load(location: &ConfigLocation) -> Result<Config, ConfigError> {
        let vocab = Vocabulary::get().map_err(|e| ConfigError::Vocabulary {
            message: e.to_string(),
        })?;
        Config::load_with(location, vocab)
    }

    /// [`Config::load`] against another vocabulary (tests, tools).
    pub fn load_with(location: &ConfigLocation, vocab: &Vocabulary) -> Result<Config, ConfigError> {
        let path = location.path.clone();
        let raw = read_config(&path, location.override_enabled)?;
        let sha256 = sha256_hex(&raw);
        let body = raw.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&raw);

        let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut resolved = BTreeMap::new();
        let mut pattern_keys = Vec::new();
        let mut secrets = Secrets::default();
        let mut secret_lines = BTreeSet::new();
        let mut unknown = Vec::new();

        for (index, line_bytes) in body.split(|&b| b == b'\n').enumerate() {
            let line_no = index + 1;
            let line_bytes = line_bytes.strip_suffix(b"\r").unwrap_or(line_bytes);
            let line = std::str::from_utf8(line_bytes).map_err(|_| ConfigError::Syntax {
                path: path.clone(),
                line: line_no,
                text: redact_line(&String::from_utf8_lossy(line_bytes), vocab),
                problem: "the line is not valid UTF-8".to_owned(),
                fix: "save the file as UTF-8".to_owned(),
            })?;
            let parsed = parse_line(line).map_err(|e| ConfigError::Syntax {
                path: path.clone(),
                line: line_no,
                text: redact_line(line, vocab),
                problem: e.problem,
                fix: e.fix,
            })?;
            let Some((key, value)) = parsed else { continue };
            if let Some(&first_line) = first_seen.get(&key) {
                return Err(ConfigError::DuplicateKey {
                    path,
                    key,
                    first_line,
                    second_line: line_no,
                });
            }
            first_seen.insert(key.clone(), line_no);

            let (kind, secret) = if let Some(spec) = vocab.key(&key) {
                if !spec.source.allows_file() {
                    return Err(ConfigError::EnvOnlyKeyInFile {
                        path,
                        line: line_no,
                        key,
                    });
                }
                (spec.kind.clone(), spec.secret)
            } else if let Some(p) = vocab.pattern_for(&key) {
                pattern_keys.push(key.clone());
                (p.kind.clone(), p.secret)
            } else {
                if looks_secret(&key) {
                    secret_lines.insert(line_no);
                }
                unknown.push(UnknownKey { key, line: line_no });
                continue;
            };
            if secret {
                secret_lines.insert(line_no);
            }
            if value.is_empty() {
                continue;
            }
            if key == keys::WF_CONSTITUTION_VERSION.name()
                && value != wfhost_constitution::VERSION.to_string()
            {
                return Err(ConfigError::ConstitutionVersion {
                    path,
                    line: line_no,
                    found: value,
                    expected: wfhost_constitution::VERSION,
                });
            }
            let court = keys::WF_PHASE_COURT_ENFORCE;
            if key == court.name() && !court.spec().values.contains(&value.as_str()) {
                return Err(ConfigError::CourtDisabled {
                    path,
                    line: line_no,
                    found: value,
                });
            }
            let checked = match vocab.key(&key) {
                Some(spec) => spec.check(&value),
                None => kind.check(&value),
            };
            if let Err(problem) = checked {
                let shown = if secret {
                    REDACTED.to_owned()
                } else {
                    format!("{value:?}")
                };
                return Err(ConfigError::InvalidValue {
                    path,
                    line: line_no,
                    key,
                    shown,
                    problem,
                });
            }
            if secret {
                secrets.values.insert(key, SecretValue(value));
            } else {
                resolved.insert(
                    key,
                    Resolved {
                        value,
                        source: ValueSource::File { line: line_no },
                    },
                );
            }
        }

        let mut env_ignored = Vec::new();
        for spec in &vocab.keys {
            let env_value = non_empty(&location.env, &spec.name);
            if spec.source.allows_env() {
                if let Some(value) = env_value {
                    if let Err(problem) = spec.check(value) {
                        let shown = if spec.secret {
                            REDACTED.to_owned()
                        } else {
                            format!("{value:?}")
                        };
                        return Err(ConfigError::InvalidEnv {
                            key: spec.name.clone(),
                            shown,
                            problem,
                        });
                    }
                    if spec.secret {
                        secrets
                            .values
                            .insert(spec.name.clone(), SecretValue(value.to_owned()));
                    } else {
                        resolved.insert(
                            spec.name.clone(),
                            Resolved {
                                value: value.to_owned(),
                                source: ValueSource::Env,
                            },
                        );
                    }
                }
            } else if env_value.is_some() {
                env_ignored.push(spec.name.clone());
            }
            if let Some(default) = &spec.default {
                resolved
                    .entry(spec.name.clone())
                    .or_insert_with(|| Resolved {
                        value: default.clone(),
                        source: ValueSource::Default,
                    });
            }
        }

        Ok(Config {
            location: location.clone(),
            raw,
            sha256,
            vocab: vocab.clone(),
            resolved,
            pattern_keys,
            secrets,
            secret_lines,
            unknown,
            env_ignored,
        })
    }

    /// Absolute path of the config file that was read.
    pub fn path(&self) -> &Path {
        &self.location.path
    }

    /// Absolute working directory the config was located from.
    pub fn workdir(&self) -> &Path {
        &self.location.workdir
    }

    /// Lower-case hex sha256 of the raw bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The file exactly as read, secrets included. Not for evidence: see [`Config::redacted_text`].
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Whether `WORKFLOW_CONFIG` replaced the canonical config.
    pub fn override_enabled(&self) -> bool {
        self.location.override_enabled
    }

    /// The resolved value of a non-secret key: the file's (or, where allowed, the
    /// environment's) value, else the vocabulary's default. `None` when unset without default
    /// and for secret keys (see [`Config::secret`]).
    pub fn get<K: KeyKind>(&self, key: Key<K>) -> Option<&str> {
        self.get_by_name(key.name())
    }

    /// [`Config::get`], with an unset key without default read as empty: the value of a key
    /// that has a default (`config.value(keys::WF_TRANSPORT)`), never restating it.
    pub fn value<K: KeyKind>(&self, key: Key<K>) -> &str {
        self.get(key).unwrap_or_default()
    }

    /// Where [`Config::get`]'s value came from.
    pub fn source<K: KeyKind>(&self, key: Key<K>) -> Option<ValueSource> {
        self.resolved.get(key.name()).map(|r| r.source)
    }

    /// A `uint` key's value, or its default. [`Config::load`] refused every value outside the
    /// key's documented range, so the number is always within `min..=max`.
    pub fn uint(&self, key: Key<Uint>) -> u64 {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(key.default_value())
    }

    /// A `decimal` key's value in thousandths, or its default (`0.2` is 200). [`Config::load`]
    /// refused every value outside the key's documented range.
    pub fn millis(&self, key: Key<Decimal>) -> u64 {
        self.get(key)
            .and_then(wfhost_constitution::vocabulary::parse_millis)
            .unwrap_or(key.default_millis())
    }

    /// The value of `pattern`'s key for `suffix` (`WF_PHASE_TIMEOUT_P60`), if set; within the
    /// family's documented range.
    pub fn pattern_uint(&self, pattern: Pattern<Uint>, suffix: &str) -> Option<u64> {
        self.get_by_name(&pattern.key(suffix))?.parse().ok()
    }

    /// A `bool01` key: set to `1`, or unset with default `1`.
    pub fn flag(&self, key: Key<Flag>) -> bool {
        match self.get(key) {
            Some(v) => v == "1",
            None => key.default().unwrap_or(false),
        }
    }

    /// A `list` key split by its separator into trimmed non-empty items (empty when unset).
    pub fn list(&self, key: Key<List>) -> Vec<String> {
        self.get(key).map(|v| key.separator().split(v)).unwrap_or_default()
    }

    /// A local `path` key joined to the working directory (an absolute one stays as it is);
    /// `None` when unset.
    pub fn local_path(&self, key: Key<LocalPath>) -> Option<PathBuf> {
        self.get(key).map(|v| self.location.workdir.join(v))
    }

    /// [`Config::get`], or code 107 naming the key and `needed_by` (e.g. `"P50 CHECKOUT"`).
    pub fn require<K: KeyKind>(&self, key: Key<K>, needed_by: &str) -> Result<&str, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError::RequiredMissing {
            path: self.location.path.clone(),
            key: key.name().to_owned(),
            needed_by: needed_by.to_owned(),
        })
    }

    /// Whether `LIUM_YES=1` was given (in the file or the process environment).
    pub fn consent_given(&self) -> bool {
        self.flag(keys::LIUM_YES)
    }

    /// The value of a secret key, if set.
    pub fn secret<K: KeyKind>(&self, key: Key<K>) -> Option<&SecretValue> {
        self.secrets.get(key.name())
    }

    // ----- by name: for names only known at run time (a walk over the vocabulary, a family) ---

    /// [`Config::get`] by name; `None` also for unknown keys (never used).
    pub fn get_by_name(&self, key: &str) -> Option<&str> {
        self.resolved.get(key).map(|r| r.value.as_str())
    }

    /// [`Config::get_by_name`] as an unsigned integer: `Ok(None)` when unset. Values of `uint`
    /// keys were validated by [`Config::load`], so the error (code 101, naming where the value
    /// came from) only happens for a key of another kind.
    pub fn u64_by_name(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        let Some(value) = self.get_by_name(key) else {
            return Ok(None);
        };
        Kind::Uint {
            min: None,
            max: None,
        }
        .check(value)
        .map_err(|problem| self.value_error(key, problem))?;
        value
            .parse()
            .map(Some)
            .map_err(|_| self.value_error(key, "is not a whole number".to_owned()))
    }

    /// [`Config::get_by_name`] as a `0|1` flag: `Ok(None)` when unset, an error (code 101) when
    /// the value is neither 0 nor 1 (only possible for a key that is not `bool01`).
    pub fn bool01_by_name(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get_by_name(key) {
            None => Ok(None),
            Some("1") => Ok(Some(true)),
            Some("0") => Ok(Some(false)),
            Some(_) => Err(self.value_error(key, "must be 0 or 1".to_owned())),
        }
    }

    /// An illegal-value error for `key`, pointing at where its value came from.
    fn value_error(&self, key: &str, problem: String) -> ConfigError {
        let value = self.get_by_name(key).unwrap_or_default();
        match self.resolved.get(key).map(|r| r.source) {
            Some(ValueSource::Env) => ConfigError::InvalidEnv {
                key: key.to_owned(),
                shown: format!("{value:?}"),
                problem,
            },
            Some(ValueSource::File { line }) => ConfigError::InvalidValue {
                path: self.location.path.clone(),
                line,
                key: key.to_owned(),
                shown: format!("{value:?}"),
                problem,
            },
            _ => ConfigError::InvalidValue {
                path: self.location.path.clone(),
                line: 0,
                key: key.to_owned(),
                shown: format!("{value:?} (its default)"),
                problem,
            },
        }
    }

    /// Every resolved non-secret value of a known key (file, environment or default), by key:
    /// what [`Config::get`] answers, as a map (for code that takes settings as a map).
    pub fn resolved_map(&self) -> BTreeMap<String, String> {
        self.resolved
            .iter()
            .map(|(k, r)| (k.clone(), r.value.clone()))
            .collect()
    }

    /// [`Config::get_by_name`] of a `list` key, split by its separator into trimmed non-empty
    /// items. `None` when unset or the key is not a list.
    pub fn list_by_name(&self, key: &str) -> Option<Vec<String>> {
        match &self.vocab.key(key)?.kind {
            Kind::List(sep) => Some(sep.split(self.get_by_name(key)?)),
            _ => None,
        }
    }

    /// [`Config::get_by_name`] of a `path` key as a path: local paths joined to the working
    /// directory (absolute ones stay as they are), remote paths as written. `None` when unset
    /// or not a path key.
    pub fn path_by_name(&self, key: &str) -> Option<PathBuf> {
        match &self.vocab.key(key)?.kind {
            Kind::Path(PathScope::Local) => Some(self.location.workdir.join(self.get_by_name(key)?)),
            Kind::Path(PathScope::Remote) => Some(PathBuf::from(self.get_by_name(key)?)),
            _ => None,
        }
    }

    /// Whether the key named `key` holds a local path (relative to the working directory).
    pub fn is_local_path_by_name(&self, key: &str) -> bool {
        matches!(self.vocab.key(key).map(|k| &k.kind), Some(Kind::Path(PathScope::Local)))
    }

    /// The value of a secret key (named or of a secret family) by name, if set.
    pub fn secret_by_name(&self, key: &str) -> Option<&SecretValue> {
        self.secrets.get(key)
    }

    /// All secret values.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Keys of the file the vocabulary does not know, in file order. Their values are never
    /// used (and not returned: they may be credentials).
    pub fn unknown_keys(&self) -> &[UnknownKey] {
        &self.unknown
    }

    /// Human-readable warnings: unknown keys (the first [`MAX_SHOWN_UNKNOWN_KEYS`], then how
    /// many more), and file-only keys set in the process environment (which are ignored).
    pub fn warnings(&self) -> Vec<String> {
        let path = self.location.path.display();
        let mut out: Vec<String> = self
            .unknown
            .iter()
            .take(MAX_SHOWN_UNKNOWN_KEYS)
            .map(|u| {
                format!(
                    "{path}:{}: unknown key {} is not used (its name, never its value, is kept in the \
                     flow's evidence); check its spelling against the documented keys (`wfhost doctor`)",
                    u.line, u.key
                )
            })
            .collect();
        if self.unknown.len() > MAX_SHOWN_UNKNOWN_KEYS {
            out.push(format!(
                "{path}: {} more unknown key(s) not shown; every name is in P00's evidence (phase.P00.json, `details.unknown_keys`)",
                self.unknown.len() - MAX_SHOWN_UNKNOWN_KEYS
            ));
        }
        out.extend(self.env_ignored.iter().map(|k| {
            format!(
                "{k} is set in the process environment, which is ignored for this key; \
                 set it in {path} instead"
            )
        }));
        out
    }

    /// The entries safe for evidence and plugins: every file-settable key of the vocabulary that
    /// has a value (from the file, the environment or a default), in vocabulary order, then the
    /// set keys of key families in file order. Secret keys that are set appear with the value
    /// [`SECRET_MARKER`]. Environment-only keys and unknown keys are not included.
    pub fn public_entries(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for spec in &self.vocab.keys {
            if !spec.source.allows_file() {
                continue;
            }
            if spec.secret {
                if self.secrets.values.contains_key(&spec.name) {
                    out.push((spec.name.clone(), SECRET_MARKER.to_owned()));
                }
            } else if let Some(value) = self.get_by_name(&spec.name) {
                out.push((spec.name.clone(), value.to_owned()));
            }
        }
        for key in &self.pattern_keys {
            if self.secrets.values.contains_key(key) {
                out.push((key.clone(), SECRET_MARKER.to_owned()));
            } else if let Some(value) = self.get_by_name(key) {
                out.push((key.clone(), value.to_owned()));
            }
        }
        out
    }

    /// The file's text with the value of every secret line (and of unknown keys whose name
    /// looks like a credential) replaced by `<redacted>`; other lines and line endings are kept.
    pub fn redacted_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        let mut out = String::with_capacity(text.len());
        for (index, line) in text.split_inclusive('\n').enumerate() {
            if !self.secret_lines.contains(&(index + 1)) {
                out.push_str(line);
                continue;
            }
            let ending_len = line.len() - line.trim_end_matches(['\r', '\n']).len();
            let (content, ending) = line.split_at(line.len() - ending_len);
            match content.split_once('=') {
                Some((left, _)) => {
                    out.push_str(left);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                None => out.push_str(REDACTED),
            }
            out.push_str(ending);
        }
        out
    }

    /// Re-read the file and return the sha256 of its current bytes (the "config unchanged"
    /// check compares it with [`Config::sha256`]).
    pub fn rehash(&self) -> Result<String, ConfigError> {
        read_config(&self.location.path, self.location.override_enabled).map(|b| sha256_hex(&b))
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
