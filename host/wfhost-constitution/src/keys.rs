//! Config keys as typed constants, generated at build time from `constitution/config.toml`.
//!
//! Every `[[key]]` is a [`Key`] constant named after it (`keys::WF_AUDITOR_FUEL`), typed by its
//! kind ([`Uint`], [`Flag`], [`LocalPath`], ...) and carrying what the vocabulary says about it:
//! the default, and for a `uint` its bounds. A misspelt key does not compile, and a reader
//! cannot ask a path key for a number: `wfhost_config::config::Config` has one typed accessor
//! per kind (`Config::uint(keys::WF_AUDITOR_FUEL)`), which applies the vocabulary's default.
//! Every `[[pattern]]` is a [`Pattern`] in [`patterns`] (`patterns::WF_PHASE_TIMEOUT`).
//!
//! The runtime [`crate::Vocabulary`] reads the same file; a test checks that every constant
//! agrees with it.
//!
//! ```
//! use wfhost_constitution::keys;
//! assert_eq!(keys::WF_AUDITOR_FUEL.name(), "WF_AUDITOR_FUEL");
//! assert_eq!(keys::WF_AUDITOR_MEMORY_MB.max(), 4096);
//! assert_eq!(keys::WF_TRANSPORT.default(), Some("local"));
//! assert_eq!(keys::patterns::WF_PHASE_TIMEOUT.key("P60"), "WF_PHASE_TIMEOUT_P60");
//! ```

use crate::vocabulary::{KeySpec, Kind, ListSeparator, PathScope, Vocabulary};
use std::fmt;
use std::marker::PhantomData;

mod sealed {
    pub trait Sealed {}
}

/// The kind of a key, as a type: what its [`Key`] carries besides the name.
pub trait KeyKind: sealed::Sealed + 'static {
    /// What the vocabulary says about a key of this kind (its default, bounds, ...).
    type Spec: Copy + fmt::Debug + 'static;
    /// The kind's name as written in `config.toml`.
    const NAME: &'static str;
    /// Whether `spec` says what the loaded vocabulary says about the key.
    #[doc(hidden)]
    fn agrees(spec: Self::Spec, key: &KeySpec) -> bool;
}

macro_rules! kind {
    ($(#[$doc:meta])* $ty:ident, $spec:ty, $name:literal, |$s:ident, $k:ident| $agrees:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $ty {}
        impl sealed::Sealed for $ty {}
        impl KeyKind for $ty {
            type Spec = $spec;
            const NAME: &'static str = $name;
            fn agrees($s: $spec, $k: &KeySpec) -> bool {
                $agrees
            }
        }
    };
}

kind!(
    /// `string`: any text; the spec is the default.
    Text, Option<&'static str>, "string",
    |s, k| k.kind == Kind::String && s == k.default.as_deref()
);
kind!(
    /// `path` with `scope = "local"`: relative to the working directory; the spec is the default.
    LocalPath, Option<&'static str>, "path",
    |s, k| k.kind == Kind::Path(PathScope::Local) && s == k.default.as_deref()
);
kind!(
    /// `path` with `scope = "remote"`: an absolute path on the target; the spec is the default.
    RemotePath, Option<&'static str>, "path",
    |s, k| k.kind == Kind::Path(PathScope::Remote) && s == k.default.as_deref()
);
kind!(
    /// `bool01`: `0` or `1`; the spec is the default.
    Flag, Option<bool>, "bool01",
    |s, k| k.kind == Kind::Bool01 && s.map(|b| if b { "1" } else { "0" }) == k.default.as_deref()
);
kind!(
    /// `uint`: a whole number within bounds, always with a default.
    Uint, UintSpec, "uint",
    |s, k| matches!(&k.kind, Kind::Uint { min, max } if min.unwrap_or(0) == s.min && *max == Some(s.max))
        && Some(s.default.to_string()) == k.default
);
kind!(
    /// `decimal`: a number with at most three digits after the point, within bounds, always
    /// with a default; held in thousandths.
    Decimal, DecimalSpec, "decimal",
    |s, k| matches!(&k.kind, Kind::Decimal { min_millis, max_millis }
            if min_millis.unwrap_or(0) == s.min_millis && *max_millis == Some(s.max_millis))
        && k.default.as_deref().and_then(crate::vocabulary::parse_millis) == Some(s.default_millis)
);
kind!(
    /// `enum`: one of the listed values.
    Choice, ChoiceSpec, "enum",
    |s, k| k.kind == Kind::Enum(s.values.iter().map(|v| v.to_string()).collect())
        && s.default == k.default.as_deref()
);
kind!(
    /// `list`: items split by a separator.
    List, ListSpec, "list",
    |s, k| k.kind == Kind::List(s.separator) && s.default == k.default.as_deref()
);

/// What the vocabulary says about a `uint` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UintSpec {
    /// The value when the key is unset.
    pub default: u64,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value (every uint key documents one).
    pub max: u64,
}

/// What the vocabulary says about a `decimal` key, in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalSpec {
    /// The value when the key is unset.
    pub default_millis: u64,
    /// Smallest accepted value.
    pub min_millis: u64,
    /// Largest accepted value (every decimal key documents one).
    pub max_millis: u64,
}

/// What the vocabulary says about an `enum` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChoiceSpec {
    /// The value when the key is unset.
    pub default: Option<&'static str>,
    /// The legal values.
    pub values: &'static [&'static str],
}

/// What the vocabulary says about a `list` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSpec {
    /// The value when the key is unset, before splitting.
    pub default: Option<&'static str>,
    /// How the value is split.
    pub separator: ListSeparator,
}

/// A named config key of kind `K`.
pub struct Key<K: KeyKind> {
    name: &'static str,
    spec: K::Spec,
}

impl<K: KeyKind> Key<K> {
    const fn new(name: &'static str, spec: K::Spec) -> Key<K> {
        Key { name, spec }
    }

    /// The variable name.
    pub const fn name(self) -> &'static str {
        self.name
    }

    /// What the vocabulary says about the key.
    pub const fn spec(self) -> K::Spec {
        self.spec
    }
}

impl<K: KeyKind> Clone for Key<K> {
    fn clone(&self) -> Key<K> {
        *self
    }
}

impl<K: KeyKind> Copy for Key<K> {}

impl<K: KeyKind> fmt::Debug for Key<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {:?})", self.name, K::NAME, self.spec)
    }
}

impl<K: KeyKind> fmt::Display for Key<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl<K: KeyKind<Spec = Option<&'static str>>> Key<K> {
    /// The default value, if the key has one.
    pub const fn default(self) -> Option<&'static str> {
        self.spec
    }
}

impl Key<Uint> {
    /// The default value.
    pub const fn default_value(self) -> u64 {
        self.spec.default
    }
    /// The smallest accepted value.
    pub const fn min(self) -> u64 {
        self.spec.min
    }
    /// The largest accepted value.
    pub const fn max(self) -> u64 {
        self.spec.max
    }
}

impl Key<Decimal> {
    /// The default value, in thousandths.
    pub const fn default_millis(self) -> u64 {
        self.spec.default_millis
    }
    /// The smallest accepted value, in thousandths.
    pub const fn min_millis(self) -> u64 {
        self.spec.min_millis
    }
    /// The largest accepted value, in thousandths.
    pub const fn max_millis(self) -> u64 {
        self.spec.max_millis
    }
}

impl Key<Flag> {
    /// The default value, if the key has one.
    pub const fn default(self) -> Option<bool> {
        self.spec
    }
}

impl Key<Choice> {
    /// The default value, if the key has one.
    pub const fn default(self) -> Option<&'static str> {
        self.spec.default
    }
}

impl Key<List> {
    /// The default value before splitting, if the key has one.
    pub const fn default(self) -> Option<&'static str> {
        self.spec.default
    }
    /// How the value is split.
    pub const fn separator(self) -> ListSeparator {
        self.spec.separator
    }
}

/// A family of keys of kind `K` sharing a prefix (`WF_PHASE_TIMEOUT_*`).
pub struct Pattern<K: KeyKind> {
    prefix: &'static str,
    kind: PhantomData<fn() -> K>,
}

impl<K: KeyKind> Pattern<K> {
    const fn new(prefix: &'static str) -> Pattern<K> {
        Pattern { prefix, kind: PhantomData }
    }

    /// The fixed part before the suffix, e.g. `WF_PHASE_TIMEOUT_`.
    pub const fn prefix(self) -> &'static str {
        self.prefix
    }

    /// The key of this family for `suffix` (`WF_PHASE_TIMEOUT_P60`).
    pub fn key(self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }
}

impl<K: KeyKind> Clone for Pattern<K> {
    fn clone(&self) -> Pattern<K> {
        *self
    }
}

impl<K: KeyKind> Copy for Pattern<K> {}

impl<K: KeyKind> fmt::Debug for Pattern<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}* ({})", self.prefix, K::NAME)
    }
}

/// Where `key` and the loaded vocabulary disagree (empty: they agree).
fn disagreement<K: KeyKind>(vocabulary: &Vocabulary, key: Key<K>) -> Option<String> {
    match vocabulary.key(key.name) {
        Some(spec) if K::agrees(key.spec, spec) => None,
        Some(spec) => Some(format!("{key:?} but the vocabulary has {spec:?}")),
        None => Some(format!("{key:?} is not in the vocabulary")),
    }
}

/// Where `pattern` and the loaded vocabulary disagree (empty: they agree).
fn pattern_disagreement<K: KeyKind>(vocabulary: &Vocabulary, pattern: Pattern<K>) -> Option<String> {
    match vocabulary.patterns.iter().find(|p| p.prefix() == pattern.prefix) {
        Some(spec) if spec.kind.name() == K::NAME => None,
        Some(spec) => Some(format!("{pattern:?} but the vocabulary has {spec:?}")),
        None => Some(format!("{pattern:?} is not in the vocabulary")),
    }
}

include!(concat!(env!("OUT_DIR"), "/keys.rs"));
