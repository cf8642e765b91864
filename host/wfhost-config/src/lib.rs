//! What the user asked for, as typed values: the canonical config, the sweep manifest, the flow
//! flags and the command's plan. Pure input parsing: no plugin runtime, no evidence writing.
//!
//! ```text
//! infra_scripts/workflow.env ─► config::ConfigLocation::resolve ─► config::Config::load
//!                                (override policy)                  (vocabulary, kinds, secrets)
//! SWEEP_MANIFEST (CSV)       ─► manifest::Manifest::parse ─► manifest::plan ─► runs + commands
//! --provision … --teardown   ─► flags::Flags ─► plan::Plan::flags (what a command forces)
//! ```
//!
//! Modules:
//! - [`config`]: the canonical `infra_scripts/workflow.env`, its sha256, override policy;
//! - [`manifest`]: the sweep CSV and its run commands;
//! - [`flags`], [`plan`]: what the user asked for;
//! - [`guide`]: the user guide, generated from the constitution and the config vocabulary;
//! - [`profile`]: what a transport declares it needs from the host.
#![warn(missing_docs)]

pub mod config;
pub mod flags;
pub mod guide;
pub mod manifest;
pub mod plan;
pub mod profile;

pub use config::CANONICAL_CONFIG as CONFIG_REL_PATH;

/// A safe single path segment: `[A-Za-z0-9._-]`, not starting with `.`, at most 128 bytes.
pub fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_segments() {
        assert!(is_safe_segment("run-01.a_b"));
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "a;b"] {
            assert!(!is_safe_segment(bad), "{bad:?}");
        }
    }

    #[test]
    fn quoting_survives_a_real_shell() {
        for s in ["plain", "it's", "$(echo pwned)", "a b;c", "", "`x`"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", manifest::sh_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }
}
