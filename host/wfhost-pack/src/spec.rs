//! How a config names a pack: `id`, `id@version` or `id#identity`.
//!
//! `WF_TRANSPORT`, `WF_EXECUTOR` and each item of `WF_AUDITORS` is a `.wasm` path (it ends in
//! `.wasm` or holds a `/`), a built-in's name, or a [`PackSpec`]. An unpinned id picks the
//! highest installed version; `@version` picks that exact version; `#identity` the pack whose
//! manifest identity starts with those hex digits (at least [`MIN_IDENTITY_PREFIX`], and they
//! must name one pack).

use std::fmt;

/// The fewest hex digits an `id#identity` pin may give.
pub const MIN_IDENTITY_PREFIX: usize = 12;

/// Which installed version a spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// The highest installed version.
    Latest,
    /// Exactly this version.
    Version(semver::Version),
    /// The pack whose identity starts with these hex digits.
    Identity(String),
}

/// A pack named by a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSpec {
    /// The pack id.
    pub id: String,
    /// The pin.
    pub pin: Pin,
}

impl fmt::Display for PackSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pin {
            Pin::Latest => write!(f, "{}", self.id),
            Pin::Version(v) => write!(f, "{}@{v}", self.id),
            Pin::Identity(h) => write!(f, "{}#{h}", self.id),
        }
    }
}

/// Whether `id` is a legal pack id (the manifest schema's rule).
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

impl PackSpec {
    /// Parse `id`, `id@version` or `id#identity`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<PackSpec, String> {
        let text = text.trim();
        let (id, pin) = if let Some((id, v)) = text.split_once('@') {
            let v = semver::Version::parse(v).map_err(|e| format!("{text:?}: {v:?} after @ is not a semantic version ({e})"))?;
            (id, Pin::Version(v))
        } else if let Some((id, h)) = text.split_once('#') {
            if h.len() < MIN_IDENTITY_PREFIX || h.len() > 64 || !h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
                return Err(format!(
                    "{text:?}: after # comes the pack's identity, {MIN_IDENTITY_PREFIX} to 64 lowercase hex digits (`wfhost pack list` shows it)"
                ));
            }
            (id, Pin::Identity(h.to_string()))
        } else {
            (text, Pin::Latest)
        };
        if !valid_id(id) {
            return Err(format!(
                "{id:?} is not a pack id: 2 to 64 lowercase letters, digits and '-', starting with a letter"
            ));
        }
        Ok(PackSpec { id: id.to_string(), pin })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_and_without_pins() {
        assert_eq!(PackSpec::parse("acme").unwrap(), PackSpec { id: "acme".into(), pin: Pin::Latest });
        let v = PackSpec::parse("acme@1.2.3-rc.1").unwrap();
        assert_eq!(v.pin, Pin::Version(semver::Version::parse("1.2.3-rc.1").unwrap()));
        assert_eq!(v.to_string(), "acme@1.2.3-rc.1");
        let h = PackSpec::parse("acme#0123456789abcdef").unwrap();
        assert_eq!(h.pin, Pin::Identity("0123456789abcdef".into()));
        for bad in ["Acme", "acme@1.2", "acme#abc", "acme#0123456789ABCDEF", "a", "acme-", "ac/me"] {
            assert!(PackSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(PackSpec::parse("acme@x").unwrap_err().contains("semantic version"));
    }
}
