//! Failure codes as typed constants, generated at build time from `constitution/codes.toml`.
//!
//! Every code of the file is a [`Code`] constant here: `codes::FLAGS_ILLEGAL`, or
//! `codes::POD_UNREACHABLE_3XX` for a name several families share. [`Family`] is the hundreds
//! digit, with the family's exit status, its `generic` code and one method per name several
//! families share (`Family::phase_timeout()`, `Family::pod_unreachable()`), so code that knows
//! only a phase's family still names the code it means. The numbers live in the data alone: a
//! host module that needs a code takes it from here, never from a literal.
//!
//! ```
//! use wfhost_constitution::codes::{self, Family};
//! assert_eq!(codes::FLAGS_ILLEGAL.get(), 105);
//! assert_eq!(codes::FLAGS_ILLEGAL.family(), Family::ConfigPolicy);
//! assert_eq!(Family::SweepMonitor.phase_timeout(), codes::PHASE_TIMEOUT_4XX);
//! assert_eq!(Family::ConfigPolicy.pod_unreachable(), None);
//! assert_eq!(codes::Code::from_u16(204), Some(codes::POD_UNREACHABLE_2XX));
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A failure code of the constitution. Only the generated constants exist; [`Code::from_u16`]
/// finds one by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code {
    number: u16,
    family: Family,
    name: &'static str,
}

impl Code {
    const fn new(number: u16, family: Family, name: &'static str) -> Code {
        Code { number, family, name }
    }

    /// The 3-digit number.
    pub const fn get(self) -> u16 {
        self.number
    }

    /// The family (hundreds digit).
    pub const fn family(self) -> Family {
        self.family
    }

    /// The SCREAMING_CASE name, e.g. `FLAGS_ILLEGAL` (shared names are not qualified).
    pub const fn name(self) -> &'static str {
        self.name
    }

    /// The code with this number, if the constitution defines one.
    pub fn from_u16(number: u16) -> Option<Code> {
        ALL.iter().copied().find(|c| c.number == number)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number)
    }
}

impl From<Code> for u16 {
    fn from(c: Code) -> u16 {
        c.number
    }
}

impl From<Code> for u64 {
    fn from(c: Code) -> u64 {
        u64::from(c.number)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.number)
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let n = u16::deserialize(d)?;
        Code::from_u16(n)
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a code of constitution/codes.toml")))
    }
}

impl Family {
    /// The hundreds digit.
    pub const fn digit(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Family {
    /// The hundreds digit, as the data writes it (`4` for sweep/monitor).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.digit())
    }
}

impl From<Family> for u8 {
    fn from(f: Family) -> u8 {
        f.digit()
    }
}

impl From<Family> for u16 {
    fn from(f: Family) -> u16 {
        u16::from(f.digit())
    }
}

impl From<Family> for u64 {
    fn from(f: Family) -> u64 {
        u64::from(f.digit())
    }
}

impl Serialize for Family {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.digit())
    }
}

impl<'de> Deserialize<'de> for Family {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Family, D::Error> {
        let n = u8::deserialize(d)?;
        Family::from_digit(n)
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a family of constitution/codes.toml")))
    }
}

include!(concat!(env!("OUT_DIR"), "/codes.rs"));
