//! The configuration vocabulary: `constitution/config.toml` as typed values.
//!
//! [`Vocabulary`] lists every key the host knows ([`KeySpec`]: meaning, default, [`Kind`],
//! secrecy, [`Source`], the phases that need it) and every key family ([`PatternSpec`]). It is
//! parsed and cross-checked with the rest of the constitution ([`crate::Constitution::get`]):
//! every default satisfies its kind and range, every `uint` and `decimal` has a documented max, every
//! `required_for` names a phase. `wfhost_config::config` resolves a config file against it; the
//! typed constants of [`crate::keys`] are generated from the same file.

use crate::phase::PhaseId;
use serde::Deserialize;
use std::collections::BTreeSet;

/// The embedded vocabulary, `constitution/config.toml`, exactly as built into this binary.
pub const VOCABULARY_TOML: &str = include_str!("../../../constitution/config.toml");

/// Where a path key's value points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathScope {
    /// A path on this machine; a relative path is relative to the working directory.
    Local,
    /// An absolute POSIX path as seen on the target.
    Remote,
}

/// How a list key's value is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSeparator {
    /// `a,b,c`
    Comma,
    /// `cmd one;;cmd two`
    DoubleSemicolon,
    /// Any run of whitespace.
    Whitespace,
}

impl ListSeparator {
    /// Split `value` into trimmed, non-empty items.
    pub fn split(self, value: &str) -> Vec<String> {
        let items: Vec<&str> = match self {
            ListSeparator::Comma => value.split(',').collect(),
            ListSeparator::DoubleSemicolon => value.split(";;").collect(),
            ListSeparator::Whitespace => value.split_whitespace().collect(),
        };
        items
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// What each item of a list key must be (`item` in `config.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemRule {
    /// `apt-package`: a Debian package name (`[a-z0-9][a-z0-9+.-]*`, at least two characters),
    /// optionally with `:<arch>`.
    AptPackage,
    /// `env-name`: an environment variable name (`[A-Z_][A-Z0-9_]*`).
    EnvName,
}

impl ItemRule {
    fn parse(name: &str) -> Option<ItemRule> {
        match name {
            "apt-package" => Some(ItemRule::AptPackage),
            "env-name" => Some(ItemRule::EnvName),
            _ => None,
        }
    }

    /// What an item must look like, in words (for messages and the guide).
    pub fn describe(self) -> &'static str {
        match self {
            ItemRule::AptPackage => "Debian package names",
            ItemRule::EnvName => "environment variable names",
        }
    }

    /// Whether `item` follows the rule.
    pub fn allows(self, item: &str) -> bool {
        match self {
            ItemRule::AptPackage => {
                let (name, arch) = item.split_once(':').unwrap_or((item, "a"));
                let lower = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
                name.len() >= 2
                    && name.bytes().next().is_some_and(lower)
                    && name.bytes().all(|b| lower(b) || matches!(b, b'+' | b'.' | b'-'))
                    && !arch.is_empty()
                    && arch.bytes().all(|b| lower(b) || b == b'-')
            }
            ItemRule::EnvName => is_valid_key(item),
        }
    }
}

/// The items of a list key: what each must be and how many there may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListItems {
    /// What each item must be.
    pub rule: ItemRule,
    /// The most items a value may have.
    pub max: usize,
}

/// The kind of a key's value, checked when the config loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    String,
    /// A file system path.
    Path(PathScope),
    /// `0` or `1`.
    Bool01,
    /// A decimal unsigned 64-bit integer within the bounds given.
    Uint {
        /// Inclusive lower bound.
        min: Option<u64>,
        /// Inclusive upper bound.
        max: Option<u64>,
    },
    /// A non-negative decimal number with at most three digits after the point (`0.2`, `2`),
    /// held in thousandths, within the bounds given (also in thousandths).
    Decimal {
        /// Inclusive lower bound, in thousandths.
        min_millis: Option<u64>,
        /// Inclusive upper bound, in thousandths.
        max_millis: Option<u64>,
    },
    /// One of the listed values.
    Enum(Vec<String>),
    /// A list, split by the separator.
    List(ListSeparator),
}

/// A path on the target, as the transports take it: absolute, no control character (a newline
/// would end a remote command line), no `..` (it would leave the tree the path names), and no
/// empty or `.` segment (the transports accept only normalised paths); a trailing `/` is fine.
fn check_remote_path(value: &str) -> Result<(), String> {
    if !value.starts_with('/') {
        return Err("must be an absolute path on the target (starting with /)".to_owned());
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!("contains the control character {c:?}; a path on the target cannot hold one"));
    }
    let body = value.strip_suffix('/').unwrap_or(value);
    for segment in body.split('/').skip(1) {
        match segment {
            ".." => return Err("contains a `..` segment; name the directory itself".to_owned()),
            "" | "." if body.len() > 1 => {
                return Err("has an empty or `.` segment (`//` or `/./`); write the path in its plain form".to_owned())
            }
            _ => {}
        }
    }
    Ok(())
}

impl Kind {
    /// Check `value` against this kind; `Err` is the problem, phrased for a message.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if value.contains('\0') {
            return Err("contains a NUL character".to_owned());
        }
        match self {
            Kind::String | Kind::List(_) => Ok(()),
            Kind::Path(PathScope::Local) => Ok(()),
            Kind::Path(PathScope::Remote) => check_remote_path(value),
            Kind::Bool01 => match value {
                "0" | "1" => Ok(()),
                _ => Err("must be 0 or 1".to_owned()),
            },
            Kind::Uint { min, max } => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("must be a whole number of decimal digits (like 60)".to_owned());
                }
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("is too large (the largest is {})", u64::MAX))?;
                match (min, max) {
                    (Some(min), _) if n < *min => Err(format!("must be at least {min}")),
                    (_, Some(max)) if n > *max => Err(format!("must be at most {max}")),
                    _ => Ok(()),
                }
            }
            Kind::Decimal { min_millis, max_millis } => {
                let n = parse_millis(value).ok_or_else(|| {
                    "must be a decimal number with at most three digits after the point (like 0.2 or 2)".to_owned()
                })?;
                match (min_millis, max_millis) {
                    (Some(min), _) if n < *min => Err(format!("must be at least {}", format_millis(*min))),
                    (_, Some(max)) if n > *max => Err(format!("must be at most {}", format_millis(*max))),
                    _ => Ok(()),
                }
            }
            Kind::Enum(values) => {
                if values.iter().any(|v| v == value) {
                    Ok(())
                } else {
                    Err(format!("must be one of: {}", values.join(", ")))
                }
            }
        }
    }

    /// The kind's name as written in `config.toml`.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Path(_) => "path",
            Kind::Bool01 => "bool01",
            Kind::Uint { .. } => "uint",
            Kind::Decimal { .. } => "decimal",
            Kind::Enum(_) => "enum",
            Kind::List(_) => "list",
        }
    }
}

/// A decimal value in thousandths: `0.2` is 200, `2` is 2000; `None` for anything but digits
/// with at most one point and at most three digits after it, or a value past `u64`.
pub fn parse_millis(value: &str) -> Option<u64> {
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 3 || (value.contains('.') && frac.is_empty()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = format!("{frac:0<3}").parse().ok()?;
    whole.checked_mul(1000)?.checked_add(frac)
}

/// Thousandths as the shortest decimal that reads back the same (`200` is `0.2`).
pub fn format_millis(millis: u64) -> String {
    let (whole, frac) = (millis / 1000, millis % 1000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
}

/// A bound as written in `config.toml`: a whole number, or (for a `decimal`) a fraction.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(untagged)]
enum Bound {
    Whole(u64),
    Fraction(f64),
}

impl Bound {
    fn whole(self) -> Option<u64> {
        match self {
            Bound::Whole(n) => Some(n),
            Bound::Fraction(_) => None,
        }
    }

    /// In thousandths, when it has at most three digits after the point.
    fn millis(self) -> Option<u64> {
        match self {
            Bound::Whole(n) => n.checked_mul(1000),
            Bound::Fraction(f) => parse_millis(&format!("{f}")),
        }
    }
}

/// Where a key may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Only in the config file.
    File,
    /// Only in the process environment.
    Env,
    /// In either; a non-empty process environment value wins.
    FileOrEnv,
}

impl Source {
    /// Whether the config file may set the key.
    pub fn allows_file(self) -> bool {
        matches!(self, Source::File | Source::FileOrEnv)
    }
    /// Whether the process environment may set the key.
    pub fn allows_env(self) -> bool {
        matches!(self, Source::Env | Source::FileOrEnv)
    }
}

/// One key of the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The variable name.
    pub name: String,
    /// One sentence.
    pub meaning: String,
    /// The value used when the key is absent or empty.
    pub default: Option<String>,
    /// What a value must look like.
    pub kind: Kind,
    /// Held by the host only.
    pub secret: bool,
    /// Where it may be set.
    pub source: Source,
    /// Phases that need it (code 107 when unset).
    pub required_for: Vec<PhaseId>,
    /// For a list: what its items must be and how many it may have (`item`, `max_items`).
    pub items: Option<ListItems>,
}

impl KeySpec {
    /// Check a value: its kind, then, for a list with an item rule, each item and their number.
    pub fn check(&self, value: &str) -> Result<(), String> {
        self.kind.check(value)?;
        let (Kind::List(separator), Some(items)) = (&self.kind, &self.items) else {
            return Ok(());
        };
        let list = separator.split(value);
        if list.len() > items.max {
            return Err(format!("has {} items; at most {} are allowed", list.len(), items.max));
        }
        match list.iter().find(|i| !items.rule.allows(i)) {
            Some(bad) => Err(format!("has the item {bad:?}; every item must be one of the {}", items.rule.describe())),
            None => Ok(()),
        }
    }
}

/// A family of keys sharing a prefix, such as `WF_SECRET_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSpec {
    /// The pattern as written, ending in `*`.
    pub name: String,
    /// One sentence.
    pub meaning: String,
    /// What a value must look like.
    pub kind: Kind,
    /// Held by the host only.
    pub secret: bool,
}

impl PatternSpec {
    /// The fixed part before the `*`.
    pub fn prefix(&self) -> &str {
        self.name.strip_suffix('*').unwrap_or(&self.name)
    }

    /// Whether `key` belongs to this family (the prefix plus at least one character).
    pub fn matches(&self, key: &str) -> bool {
        key.len() > self.prefix().len() && key.starts_with(self.prefix())
    }
}

/// The embedded `constitution/config.toml` does not describe a usable vocabulary. Only a broken
/// build produces this; treat it as an internal error.
#[derive(Debug, thiserror::Error)]
pub enum VocabularyError {
    /// Not TOML, or not the expected schema.
    #[error("constitution/config.toml does not parse: {0}")]
    Parse(#[from] toml::de::Error),
    /// Parses, but an entry is inconsistent.
    #[error("constitution/config.toml: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVocabulary {
    version: u32,
    #[serde(default)]
    key: Vec<RawKey>,
    #[serde(default)]
    pattern: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    meaning: String,
    default: Option<String>,
    kind: String,
    #[serde(default)]
    secret: bool,
    source: Option<String>,
    scope: Option<String>,
    min: Option<Bound>,
    max: Option<Bound>,
    values: Option<Vec<String>>,
    separator: Option<String>,
    item: Option<String>,
    max_items: Option<usize>,
    #[serde(default)]
    required_for: Vec<String>,
}

impl RawKey {
    fn kind(&self) -> Result<Kind, VocabularyError> {
        let bad = |what: &str| VocabularyError::Invalid(format!("key {}: {what}", self.name));
        let kind = match self.kind.as_str() {
            "string" => Kind::String,
            "bool01" => Kind::Bool01,
            "path" => match self.scope.as_deref() {
                Some("local") => Kind::Path(PathScope::Local),
                Some("remote") => Kind::Path(PathScope::Remote),
                _ => return Err(bad("a path needs scope = \"local\" or \"remote\"")),
            },
            "uint" => {
                let whole = |b: Option<Bound>, field: &str| match b {
                    None => Ok(None),
                    Some(b) => b.whole().map(Some).ok_or_else(|| bad(&format!("a uint's {field} must be a whole number"))),
                };
                Kind::Uint {
                    min: whole(self.min, "min")?,
                    max: whole(self.max, "max")?,
                }
            }
            "decimal" => {
                let millis = |b: Option<Bound>, field: &str| match b {
                    None => Ok(None),
                    Some(b) => b.millis().map(Some).ok_or_else(|| bad(&format!("a decimal's {field} has more than three digits after the point"))),
                };
                Kind::Decimal {
                    min_millis: millis(self.min, "min")?,
                    max_millis: millis(self.max, "max")?,
                }
            }
            "enum" => match &self.values {
                Some(values) if !values.is_empty() => Kind::Enum(values.clone()),
                _ => return Err(bad("an enum needs a non-empty values list")),
            },
            "list" => match self.separator.as_deref() {
                Some(",") => Kind::List(ListSeparator::Comma),
                Some(";;") => Kind::List(ListSeparator::DoubleSemicolon),
                Some("whitespace") => Kind::List(ListSeparator::Whitespace),
                _ => {
                    return Err(bad(
                        "a list needs separator = \",\", \";;\" or \"whitespace\"",
                    ))
                }
            },
            other => return Err(bad(&format!("unknown kind {other:?}"))),
        };
        let stray = [
            (
                "scope",
                self.scope.is_some() && !matches!(kind, Kind::Path(_)),
            ),
            (
                "min",
                self.min.is_some() && !matches!(kind, Kind::Uint { .. } | Kind::Decimal { .. }),
            ),
            (
                "max",
                self.max.is_some() && !matches!(kind, Kind::Uint { .. } | Kind::Decimal { .. }),
            ),
            (
                "values",
                self.values.is_some() && !matches!(kind, Kind::Enum(_)),
            ),
            (
                "separator",
                self.separator.is_some() && !matches!(kind, Kind::List(_)),
            ),
        ];
        if let Some((field, _)) = stray.iter().find(|(_, stray)| *stray) {
            return Err(bad(&format!(
                "{field} does not apply to kind {}",
                kind.name()
            )));
        }
        Ok(kind)
    }
}

/// The configuration vocabulary: every key the host knows, in `config.toml` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// The keys, in file order.
    pub keys: Vec<KeySpec>,
    /// Families of keys.
    pub patterns: Vec<PatternSpec>,
}

impl Vocabulary {
    /// The embedded vocabulary, parsed and cross-checked with the rest of the constitution once
    /// per process.
    pub fn get() -> Result<&'static Vocabulary, &'static crate::ConstitutionError> {
        crate::Constitution::get().map(|c| &c.vocabulary)
    }

    /// Parse and cross-check a vocabulary in the `config.toml` format.
    pub fn parse(text: &str) -> Result<Vocabulary, VocabularyError> {
        let raw: RawVocabulary = toml::from_str(text)?;
        if raw.version != 1 {
            return Err(VocabularyError::Invalid(format!(
                "version {} is not supported (expected 1)",
                raw.version
            )));
        }
        let mut seen = BTreeSet::new();
        let mut keys = Vec::with_capacity(raw.key.len());
        for k in &raw.key {
            if !is_valid_key(&k.name) {
                return Err(VocabularyError::Invalid(format!(
                    "{:?} is not a valid key name",
                    k.name
                )));
            }
            if !seen.insert(k.name.clone()) {
                return Err(VocabularyError::Invalid(format!(
                    "key {} is listed twice",
                    k.name
                )));
            }
            let kind = k.kind()?;
            let source = match k.source.as_deref() {
                None | Some("file") => Source::File,
                Some("env") => Source::Env,
                Some("file+env") => Source::FileOrEnv,
                Some(other) => {
                    return Err(VocabularyError::Invalid(format!(
                        "key {}: unknown source {other:?} (file, env or file+env)",
                        k.name
                    )))
                }
            };
            if let Some(default) = &k.default {
                kind.check(default).map_err(|p| {
                    VocabularyError::Invalid(format!("key {}: default {default:?} {p}", k.name))
                })?;
            }
            if k.secret && k.default.is_some() {
                return Err(VocabularyError::Invalid(format!(
                    "key {}: a secret cannot have a default",
                    k.name
                )));
            }
            check_bounds(&k.name, &kind)?;
            if matches!(kind, Kind::Uint { .. } | Kind::Decimal { .. }) && k.default.is_none() {
                return Err(VocabularyError::Invalid(format!(
                    "key {}: a {} key needs a default",
                    k.name,
                    kind.name()
                )));
            }
            let required_for = k
                .required_for
                .iter()
                .map(|p| {
                    p.parse::<PhaseId>().map_err(|e| {
                        VocabularyError::Invalid(format!("key {}: required_for: {e}", k.name))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let items = match (&k.item, k.max_items, &kind) {
                (None, None, _) => None,
                (Some(rule), Some(max), Kind::List(_)) => Some(ListItems {
                    rule: ItemRule::parse(rule).ok_or_else(|| {
                        VocabularyError::Invalid(format!("key {}: unknown item rule {rule:?} (apt-package or env-name)", k.name))
                    })?,
                    max,
                }),
                _ => {
                    return Err(VocabularyError::Invalid(format!(
                        "key {}: item and max_items go together, on a list only",
                        k.name
                    )))
                }
            };
            keys.push(KeySpec {
                name: k.name.clone(),
                meaning: k.meaning.clone(),
                default: k.default.clone(),
                kind,
                secret: k.secret,
                source,
                required_for,
                items,
            });
        }
        let mut patterns = Vec::with_capacity(raw.pattern.len());
        for p in &raw.pattern {
            let prefix = p.name.strip_suffix('*').unwrap_or("");
            if prefix.is_empty() || !is_valid_key(prefix) {
                return Err(VocabularyError::Invalid(format!(
                    "pattern {:?} must be a key prefix followed by *",
                    p.name
                )));
            }
            if p.default.is_some() || p.source.is_some() || !p.required_for.is_empty() || p.item.is_some() || p.max_items.is_some() {
                return Err(VocabularyError::Invalid(format!(
                    "pattern {}: default, source, required_for, item and max_items do not apply to patterns",
                    p.name
                )));
            }
            if let Some(k) = keys.iter().find(|k| k.name.starts_with(prefix)) {
                return Err(VocabularyError::Invalid(format!(
                    "key {} falls under pattern {}; a key belongs to one entry only",
                    k.name, p.name
                )));
            }
            let kind = p.kind()?;
            check_bounds(&p.name, &kind)?;
            patterns.push(PatternSpec {
                name: p.name.clone(),
                meaning: p.meaning.clone(),
                kind,
                secret: p.secret,
            });
        }
        Ok(Vocabulary { keys, patterns })
    }

    /// The spec of a named key.
    pub fn key(&self, name: &str) -> Option<&KeySpec> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The family a key belongs to, if it is not a named key.
    pub fn pattern_for(&self, name: &str) -> Option<&PatternSpec> {
        if self.key(name).is_some() {
            return None;
        }
        self.patterns.iter().find(|p| p.matches(name))
    }

    /// Whether the key's value is a secret (named key or family).
    pub fn is_secret(&self, name: &str) -> bool {
        match self.key(name) {
            Some(k) => k.secret,
            None => self.pattern_for(name).is_some_and(|p| p.secret),
        }
    }
}

/// A `uint` entry documents its largest value, and its smallest is not above it: no value the
/// host accepts can overflow what it feeds (a deadline, a budget).
fn check_bounds(name: &str, kind: &Kind) -> Result<(), VocabularyError> {
    match kind {
        Kind::Uint { max: None, .. } => Err(VocabularyError::Invalid(format!(
            "{name}: a uint needs a max (the largest value the host accepts)"
        ))),
        Kind::Uint { min: Some(min), max: Some(max) } if min > max => Err(VocabularyError::Invalid(
            format!("{name}: min {min} is above max {max}"),
        )),
        Kind::Decimal { max_millis: None, .. } => Err(VocabularyError::Invalid(format!(
            "{name}: a decimal needs a max (the largest value the host accepts)"
        ))),
        Kind::Decimal { min_millis: Some(min), max_millis: Some(max) } if min > max => Err(VocabularyError::Invalid(
            format!("{name}: min {} is above max {}", format_millis(*min), format_millis(*max)),
        )),
        _ => Ok(()),
    }
}

/// Whether `key` is a legal key name: `[A-Z_][A-Z0-9_]*`.
pub fn is_valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_uppercase() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}


#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary(extra: &str) -> Result<Vocabulary, VocabularyError> {
        Vocabulary::parse(&format!("version = 1\n[[key]]\nname = \"L\"\nmeaning = \"m\"\nkind = \"list\"\nseparator = \"whitespace\"\n{extra}"))
    }

    #[test]
    fn list_items_are_checked_by_rule_and_count() {
        let v = vocabulary("item = \"apt-package\"\nmax_items = 3\n").unwrap();
        let k = v.key("L").unwrap();
        assert_eq!(k.check("rsync tmux libc6:amd64"), Ok(()));
        assert_eq!(k.check("g++ python3.11"), Ok(()));
        for bad in ["Rsync", "a", "-x", "x;y", "pkg:", "pkg:AMD"] {
            let e = k.check(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")) && e.contains("Debian package names"), "{bad}: {e}");
        }
        assert!(k.check("a1 b1 c1 d1").unwrap_err().contains("has 4 items; at most 3"));
        let v = vocabulary("item = \"env-name\"\nmax_items = 2\n").unwrap();
        let k = v.key("L").unwrap();
        assert_eq!(k.check("WANDB_API_KEY HF_TOKEN"), Ok(()));
        assert!(k.check("wandb").unwrap_err().contains("environment variable names"));
        // The rule and its count go together, on a list only.
        assert!(vocabulary("item = \"apt-package\"\n").is_err());
        assert!(vocabulary("item = \"nope\"\nmax_items = 1\n").unwrap_err().to_string().contains("unknown item rule"));
        let uint = Vocabulary::parse("version = 1\n[[key]]\nname = \"U\"\nmeaning = \"m\"\nkind = \"uint\"\ndefault = \"0\"\nmax = 1\nitem = \"env-name\"\nmax_items = 1\n");
        assert!(uint.unwrap_err().to_string().contains("on a list only"));
    }
}
