//! The constitution tables the auditor needs, generated from `constitution/*.toml` at build time.
//!
//! `phases.toml` gives each phase's failure-code family; `codes.toml` gives the codes that exist.
//! `build.rs` turns both into statics (`$OUT_DIR/tables.rs`), so the auditor never restates them
//! and, although every audit runs in a fresh instance, never parses them at run time.

mod generated {
    include!(concat!(env!("OUT_DIR"), "/tables.rs"));
}

/// One phase row as the auditor uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseInfo {
    /// `PROVISION`, `CHECKOUT`, ...
    pub name: &'static str,
    /// Failure-code family (hundreds digit of its codes).
    pub family: u16,
}

/// Phases and codes of the embedded constitution.
#[derive(Debug)]
pub struct Tables {
    phases: &'static [(&'static str, &'static str, u16)],
    codes: &'static [(u16, &'static str)],
}

impl Tables {
    /// The row of phase `id`, if the table has it.
    pub fn phase(&self, id: &str) -> Option<PhaseInfo> {
        self.phases
            .iter()
            .find(|(pid, _, _)| *pid == id)
            .map(|&(_, name, family)| PhaseInfo { name, family })
    }

    /// The name of failure code `code`, if codes.toml defines it.
    pub fn code_name(&self, code: u16) -> Option<&'static str> {
        self.codes
            .binary_search_by_key(&code, |&(c, _)| c)
            .ok()
            .map(|i| self.codes[i].1)
    }
}

static TABLES: Tables = Tables {
    phases: generated::PHASES,
    codes: generated::CODES,
};

/// The embedded tables. Infallible since they are generated at build time; the `Result`
/// keeps the rules' handling of a missing table in one place.
pub fn embedded() -> Result<&'static Tables, &'static str> {
    Ok(&TABLES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_match_the_families() {
        let t = embedded().unwrap();
        let fam = |id: &str| t.phase(id).map(|p| p.family);
        assert_eq!(fam("P00"), Some(1));
        assert_eq!(fam("P10"), Some(2));
        assert_eq!(fam("P30"), Some(2));
        assert_eq!(fam("P40"), Some(3));
        assert_eq!(fam("P50"), Some(3));
        assert_eq!(fam("P60"), Some(4));
        assert_eq!(fam("P70"), Some(4));
        assert_eq!(fam("P75"), Some(4));
        assert_eq!(fam("P80"), Some(5));
        assert_eq!(fam("P99"), Some(5));
        assert_eq!(fam("P35"), None);
        assert_eq!(t.phase("P50").map(|p| p.name), Some("CHECKOUT"));
        assert_eq!(t.code_name(402), Some("RUNS_FAILED"));
        assert_eq!(t.code_name(407), Some("POD_UNREACHABLE"));
        assert_eq!(t.code_name(409), Some("TASK_REFUSED"));
        assert_eq!(t.code_name(413), None);
    }

    #[test]
    fn the_generated_tables_hold_every_row_of_the_toml_files() {
        let phases = include_str!("../../../constitution/phases.toml");
        let codes = include_str!("../../../constitution/codes.toml");
        let count = |text: &str, header: &str| text.lines().filter(|l| l.trim() == header).count();
        assert_eq!(TABLES.phases.len(), count(phases, "[[phase]]"));
        assert_eq!(TABLES.codes.len(), count(codes, "[[code]]"));
        assert!(TABLES.codes.windows(2).all(|w| w[0].0 < w[1].0), "codes are sorted for the binary search");
    }
}
