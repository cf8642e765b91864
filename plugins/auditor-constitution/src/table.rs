//! The constitution tables the auditor needs, read from `constitution/*.toml` at build time.
//!
//! `phases.toml` gives each phase's failure-code family; `codes.toml` gives the codes that exist.
//! Both files are embedded with `include_str!` and parsed once on first use, so the auditor never
//! restates them. A parse failure (only a broken build can cause one) makes every audit
//! `unverified` with the parser's message.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const PHASES_TOML: &str = include_str!("../../../constitution/phases.toml");
const CODES_TOML: &str = include_str!("../../../constitution/codes.toml");

#[derive(Deserialize)]
struct PhasesFile {
    phase: Vec<PhaseRow>,
}

#[derive(Deserialize)]
struct PhaseRow {
    id: String,
    name: String,
    family: u16,
}

#[derive(Deserialize)]
struct CodesFile {
    code: Vec<CodeRow>,
}

#[derive(Deserialize)]
struct CodeRow {
    code: u16,
    name: String,
}

/// One phase row as the auditor uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseInfo {
    /// `PROVISION`, `CHECKOUT`, ...
    pub name: String,
    /// Failure-code family (hundreds digit of its codes).
    pub family: u16,
}

/// Phases and codes of the embedded constitution.
#[derive(Debug)]
pub struct Tables {
    phases: BTreeMap<String, PhaseInfo>,
    codes: BTreeMap<u16, String>,
}

impl Tables {
    /// Parse the given texts (the embedded ones in production, others in tests).
    pub fn parse(phases_toml: &str, codes_toml: &str) -> Result<Self, String> {
        let phases: PhasesFile = toml::from_str(phases_toml)
            .map_err(|e| format!("constitution/phases.toml does not parse: {e}"))?;
        let codes: CodesFile = toml::from_str(codes_toml)
            .map_err(|e| format!("constitution/codes.toml does not parse: {e}"))?;
        Ok(Tables {
            phases: phases
                .phase
                .into_iter()
                .map(|p| {
                    (
                        p.id,
                        PhaseInfo {
                            name: p.name,
                            family: p.family,
                        },
                    )
                })
                .collect(),
            codes: codes.code.into_iter().map(|c| (c.code, c.name)).collect(),
        })
    }

    /// The row of phase `id`, if the table has it.
    pub fn phase(&self, id: &str) -> Option<&PhaseInfo> {
        self.phases.get(id)
    }

    /// The name of failure code `code`, if codes.toml defines it.
    pub fn code_name(&self, code: u16) -> Option<&str> {
        self.codes.get(&code).map(String::as_str)
    }
}

/// The embedded tables, parsed on first use.
pub fn embedded() -> Result<&'static Tables, &'static str> {
    static TABLES: OnceLock<Result<Tables, String>> = OnceLock::new();
    TABLES
        .get_or_init(|| Tables::parse(PHASES_TOML, CODES_TOML))
        .as_ref()
        .map_err(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_parse_and_match_the_families() {
        let t = embedded().unwrap();
        let fam = |id: &str| t.phase(id).map(|p| p.family);
        assert_eq!(fam("P00"), Some(1));
        assert_eq!(fam("P10"), Some(2));
        assert_eq!(fam("P30"), Some(2));
        assert_eq!(fam("P40"), Some(3));
        assert_eq!(fam("P50"), Some(3));
        assert_eq!(fam("P60"), Some(4));
        assert_eq!(fam("P70"), Some(4));
        assert_eq!(fam("P80"), Some(5));
        assert_eq!(fam("P99"), Some(5));
        assert_eq!(fam("P35"), None);
        assert_eq!(t.code_name(402), Some("RUNS_FAILED"));
        assert_eq!(t.code_name(406), None);
    }

    #[test]
    fn broken_text_is_an_error_not_a_panic() {
        let err = Tables::parse("[[phase]]\nid = 3", CODES_TOML).unwrap_err();
        assert!(err.contains("phases.toml"), "{err}");
    }
}
