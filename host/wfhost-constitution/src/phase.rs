//! Phase ids as a typed enum, generated at build time from `constitution/phases.toml`.
//!
//! [`PhaseId`] has one variant per row of the phase table (`PhaseId::P50`), in execution order,
//! with its id string, name and code family. It parses from and serialises as the id string
//! (`"P50"`), so evidence keeps its format, and compares with `&str` for code that holds ids
//! read from files.
//!
//! ```
//! use wfhost_constitution::{Family, PhaseId};
//! let p: PhaseId = "P50".parse().unwrap();
//! assert_eq!((p, p.as_str(), p.name()), (PhaseId::P50, "P50", "CHECKOUT"));
//! assert_eq!(p.family(), Family::BootstrapCheckout);
//! assert!("P51".parse::<PhaseId>().is_err());
//! assert_eq!(PhaseId::P50, "P50");
//! ```

use crate::codes::Family;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

include!(concat!(env!("OUT_DIR"), "/phases.rs"));

/// A string that names no phase of the constitution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a phase of the constitution (P00..P99: {})", PhaseId::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "))]
pub struct ParsePhaseIdError {
    /// What was given.
    pub given: String,
}

impl FromStr for PhaseId {
    type Err = ParsePhaseIdError;
    fn from_str(s: &str) -> Result<PhaseId, ParsePhaseIdError> {
        PhaseId::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ParsePhaseIdError { given: s.to_owned() })
    }
}

impl fmt::Display for PhaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for PhaseId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// The id string, so a `PhaseId` goes wherever a `&str` id does (`&phase.id`).
impl std::ops::Deref for PhaseId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for PhaseId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PhaseId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for PhaseId {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<PhaseId> for str {
    fn eq(&self, other: &PhaseId) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<PhaseId> for &str {
    fn eq(&self, other: &PhaseId) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<PhaseId> for String {
    fn eq(&self, other: &PhaseId) -> bool {
        self == other.as_str()
    }
}

impl From<PhaseId> for String {
    fn from(p: PhaseId) -> String {
        p.as_str().to_owned()
    }
}

impl Serialize for PhaseId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PhaseId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PhaseId, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
