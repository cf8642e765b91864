//! The workflow constitution as data.
//!
//! `constitution/*.toml` at the repository root is the single source of the laws, the phase
//! contract table, the named checks, the failure codes, the remote FSM and the config
//! vocabulary. This crate embeds those files, parses them into typed structs and cross-checks
//! them (every law a phase names exists, every code belongs to a declared family, every FSM
//! target is a declared state, ...). The host, the docs generator and the tests all read the
//! constitution through [`Constitution::get`]; nothing restates it in code.
//!
//! ```
//! let c = wfhost_constitution::Constitution::get().expect("embedded constitution is valid");
//! let p50 = c.phase("P50").unwrap();
//! assert_eq!(p50.name, "CHECKOUT");
//! assert_eq!(c.family_exit_status(p50.family), Some(30));
//! ```
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The raw embedded files, by name. Exposed so evidence can record exactly what was enforced.
pub const FILES: &[(&str, &str)] = &[
    ("laws.toml", include_str!("../../../constitution/laws.toml")),
    ("phases.toml", include_str!("../../../constitution/phases.toml")),
    ("checks.toml", include_str!("../../../constitution/checks.toml")),
    ("codes.toml", include_str!("../../../constitution/codes.toml")),
    ("fsm.toml", include_str!("../../../constitution/fsm.toml")),
];

/// The constitution version this build implements (`WF_CONSTITUTION_VERSION`).
pub const VERSION: u32 = 1;

/// Why the embedded constitution could not be loaded. Only a broken build produces this.
#[derive(Debug, thiserror::Error)]
pub enum ConstitutionError {
    /// A file is not valid TOML for its schema.
    #[error("constitution/{file} does not parse: {source}")]
    Parse {
        /// File name under `constitution/`.
        file: &'static str,
        /// The parser's message.
        source: toml::de::Error,
    },
    /// The files disagree with each other.
    #[error("constitution is inconsistent: {0}")]
    Inconsistent(String),
}

/// One law.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Law {
    /// Stable ID, e.g. `L3`.
    pub id: String,
    /// Short title.
    pub title: String,
    /// Normative text, as given to auditors.
    pub text: String,
    /// The descriptive id the original workflow's courts use (`LAW_1_CANONICAL_CONFIG`).
    #[serde(default)]
    pub alias: Option<String>,
}

/// Who runs a phase.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    /// The host itself (Rust code).
    Host,
    /// A phase-executor component.
    Plugin,
}

/// One row of the phase contract table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Phase {
    /// `P00` .. `P99`.
    pub id: String,
    /// `PRECHECK`, `PROVISION`, ...
    pub name: String,
    /// Host or plugin.
    pub runner: Runner,
    /// Failure-code family (1..5).
    pub family: u8,
    /// Default wall-clock budget of the phase.
    pub timeout_secs: u64,
    /// When the phase is skipped, in words (absent: never skipped).
    #[serde(default)]
    pub skip_flag: Option<String>,
    /// One-sentence description.
    pub summary: String,
    /// Applicable law IDs.
    pub laws: Vec<String>,
    /// Checks before the phase runs (names from checks.toml).
    pub pre: Vec<String>,
    /// Checks after the phase ran.
    pub post: Vec<String>,
    /// Extra evidence artifacts the phase must leave (beyond the four per-phase files).
    pub artifacts: Vec<String>,
    /// FSM states a passing phase may move to.
    pub fsm_ok: Vec<String>,
    /// FSM state a failing phase sets.
    #[serde(default)]
    pub fsm_fail: Option<String>,
    /// Whether a passing phase only moves the FSM forward (never back).
    #[serde(default)]
    pub fsm_advance_only: bool,
    /// The phase's name in the original workflow's command vocabulary (`command_name`).
    #[serde(default)]
    pub command: Option<String>,
    /// The command name when the flags skip the phase.
    #[serde(default)]
    pub command_skipped: Option<String>,
    /// The flag whose value picks the command name from `commands`.
    #[serde(default)]
    pub command_flag: Option<String>,
    /// Command names by the value of `command_flag` (up to a `:`).
    #[serde(default)]
    pub commands: BTreeMap<String, String>,
}

impl Phase {
    /// The phase's `command_name` for a flow with these flags (`flags` by name, as in the
    /// `flow.started` record), when the phase was skipped or not.
    pub fn command_name(&self, flags: &BTreeMap<String, String>, skipped: bool) -> Option<&str> {
        if let (true, Some(c)) = (skipped, &self.command_skipped) {
            return Some(c);
        }
        if let Some(flag) = &self.command_flag {
            let value = flags.get(flag)?;
            let key = value.split(':').next().unwrap_or(value);
            return self.commands.get(key).map(String::as_str);
        }
        self.command.as_deref()
    }
}

/// A named check of the deterministic validator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// What the check asserts.
    pub text: String,
    /// The law a failing check violates.
    pub law: String,
    /// The code a failing check gives the verdict, when it has one of its own (else the
    /// phase family's COURT_DETERMINISTIC_FAIL).
    #[serde(default)]
    pub code: Option<u16>,
}

/// A code family (hundreds digit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Family {
    /// e.g. `config/policy`.
    pub name: String,
    /// Process exit status for a halt in this family.
    pub exit: i32,
}

/// One failure code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Code {
    /// The 3-digit code.
    pub code: u16,
    /// SCREAMING_CASE name.
    pub name: String,
    /// What it means.
    pub text: String,
    /// Suggested next step; may contain `{flow_dir}` and `{target}`.
    pub next: String,
}

/// One FSM state and its legal successors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// State name.
    pub name: String,
    /// Whether this is a failure state.
    #[serde(default)]
    pub failure: bool,
    /// Legal next states.
    pub next: Vec<String>,
}

/// The remote workflow FSM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fsm {
    /// Initial state.
    pub initial: String,
    /// All states.
    #[serde(rename = "state")]
    pub states: Vec<State>,
}

#[derive(Deserialize)]
struct LawsFile {
    version: u32,
    law: Vec<Law>,
}
#[derive(Deserialize)]
struct PhasesFile {
    version: u32,
    phase: Vec<Phase>,
}
#[derive(Deserialize)]
struct ChecksFile {
    check: BTreeMap<String, Check>,
}
#[derive(Deserialize)]
struct CodesFile {
    families: BTreeMap<String, Family>,
    code: Vec<Code>,
}

/// The whole constitution, parsed and cross-checked.
#[derive(Debug, Clone, Serialize)]
pub struct Constitution {
    /// Constitution version.
    pub version: u32,
    /// Laws in file order.
    pub laws: Vec<Law>,
    /// Phases in execution order.
    pub phases: Vec<Phase>,
    /// Named checks.
    pub checks: BTreeMap<String, Check>,
    /// Families by hundreds digit.
    pub families: BTreeMap<u8, Family>,
    /// Codes in file order.
    pub codes: Vec<Code>,
    /// The remote FSM.
    pub fsm: Fsm,
}

fn parse<T: serde::de::DeserializeOwned>(file: &'static str) -> Result<T, ConstitutionError> {
    let text = FILES
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, text)| *text)
        .unwrap_or_default();
    toml::from_str(text).map_err(|source| ConstitutionError::Parse { file, source })
}

impl Constitution {
    /// The embedded constitution, parsed once per process.
    pub fn get() -> Result<&'static Constitution, &'static ConstitutionError> {
        static CELL: OnceLock<Result<Constitution, ConstitutionError>> = OnceLock::new();
        CELL.get_or_init(Constitution::load).as_ref()
    }

    /// Parse and cross-check the embedded files.
    pub fn load() -> Result<Constitution, ConstitutionError> {
        let laws: LawsFile = parse("laws.toml")?;
        let phases: PhasesFile = parse("phases.toml")?;
        let checks: ChecksFile = parse("checks.toml")?;
        let codes: CodesFile = parse("codes.toml")?;
        let fsm: Fsm = parse("fsm.toml")?;
        let mut families = BTreeMap::new();
        for (digit, family) in codes.families {
            let d: u8 = digit.parse().map_err(|_| {
                ConstitutionError::Inconsistent(format!("codes.toml: family key {digit:?} is not a digit"))
            })?;
            families.insert(d, family);
        }
        let c = Constitution {
            version: laws.version.min(phases.version),
            laws: laws.law,
            phases: phases.phase,
            checks: checks.check,
            families,
            codes: codes.code,
            fsm,
        };
        c.cross_check()?;
        Ok(c)
    }

    fn cross_check(&self) -> Result<(), ConstitutionError> {
        let bad = |m: String| Err(ConstitutionError::Inconsistent(m));
        if self.version != VERSION {
            return bad(format!("version {} but this build implements {VERSION}", self.version));
        }
        let law_ids: BTreeSet<&str> = self.laws.iter().map(|l| l.id.as_str()).collect();
        if law_ids.len() != self.laws.len() {
            return bad("duplicate law id in laws.toml".into());
        }
        let aliases: BTreeSet<&str> = self.laws.iter().filter_map(|l| l.alias.as_deref()).collect();
        if aliases.len() != self.laws.iter().filter(|l| l.alias.is_some()).count() || aliases.iter().any(|a| law_ids.contains(a)) {
            return bad("laws.toml: a law alias is used twice, or is another law's id".into());
        }
        let states: BTreeSet<&str> = self.fsm.states.iter().map(|s| s.name.as_str()).collect();
        if !states.contains(self.fsm.initial.as_str()) {
            return bad(format!("fsm.toml: initial state {} is not declared", self.fsm.initial));
        }
        for s in &self.fsm.states {
            for n in &s.next {
                if !states.contains(n.as_str()) {
                    return bad(format!("fsm.toml: {} -> {n}: {n} is not declared", s.name));
                }
            }
        }
        let mut last = String::new();
        for p in &self.phases {
            if p.id <= last {
                return bad(format!("phases.toml: {} is out of order after {last}", p.id));
            }
            last = p.id.clone();
            if !self.families.contains_key(&p.family) {
                return bad(format!("phases.toml: {} has undeclared family {}", p.id, p.family));
            }
            for l in &p.laws {
                if !law_ids.contains(l.as_str()) {
                    return bad(format!("phases.toml: {} names unknown law {l}", p.id));
                }
            }
            for c in p.pre.iter().chain(&p.post) {
                if !self.checks.contains_key(c) {
                    return bad(format!("phases.toml: {} names unknown check {c}", p.id));
                }
            }
            for s in p.fsm_ok.iter().chain(&p.fsm_fail) {
                if !states.contains(s.as_str()) {
                    return bad(format!("phases.toml: {} names unknown FSM state {s}", p.id));
                }
            }
            if p.command.is_none() && (p.command_flag.is_none() || p.commands.is_empty()) {
                return bad(format!("phases.toml: {} has no command name (command, or command_flag with commands)", p.id));
            }
        }
        for (name, check) in &self.checks {
            if let Some(code) = check.code {
                if self.code(code).is_none() {
                    return bad(format!("checks.toml: {name} gives code {code}, which codes.toml does not define"));
                }
            }
            if !law_ids.contains(check.law.as_str()) {
                return bad(format!("checks.toml: {name} names unknown law {}", check.law));
            }
        }
        let mut seen = BTreeSet::new();
        for code in &self.codes {
            if !seen.insert(code.code) {
                return bad(format!("codes.toml: code {} is declared twice", code.code));
            }
            let family = (code.code / 100) as u8;
            if !self.families.contains_key(&family) {
                return bad(format!("codes.toml: code {} has no family {family}", code.code));
            }
        }
        for (family, _) in &self.families {
            for suffix in [90u16, 91, 99] {
                let code = u16::from(*family) * 100 + suffix;
                if !seen.contains(&code) {
                    return bad(format!("codes.toml: family {family} lacks court/timeout code {code}"));
                }
            }
        }
        Ok(())
    }

    /// A phase by ID.
    pub fn phase(&self, id: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.id == id)
    }

    /// A law by ID.
    pub fn law(&self, id: &str) -> Option<&Law> {
        self.laws.iter().find(|l| l.id == id)
    }

    /// A law by its id (`L1`) or its alias (`LAW_1_CANONICAL_CONFIG`).
    pub fn law_by_id_or_alias(&self, name: &str) -> Option<&Law> {
        self.laws.iter().find(|l| l.id == name || l.alias.as_deref() == Some(name))
    }

    /// A code by number.
    pub fn code(&self, code: u16) -> Option<&Code> {
        self.codes.iter().find(|c| c.code == code)
    }

    /// A code by family and name, e.g. `(2, "PHASE_TIMEOUT")` -> 299.
    pub fn code_named(&self, family: u8, name: &str) -> Option<&Code> {
        self.codes
            .iter()
            .find(|c| c.code / 100 == u16::from(family) && c.name == name)
    }

    /// Exit status for a halt in a family.
    pub fn family_exit_status(&self, family: u8) -> Option<i32> {
        self.families.get(&family).map(|f| f.exit)
    }

    /// Whether `from -> to` is a legal FSM transition.
    pub fn fsm_allows(&self, from: &str, to: &str) -> bool {
        self.fsm
            .states
            .iter()
            .find(|s| s.name == from)
            .is_some_and(|s| s.next.iter().any(|n| n == to))
    }

    /// Whether `state` is at or past `floor` on the happy path (failure states count as the
    /// state before the phase that failed).
    pub fn fsm_at_least(&self, state: &str, floor: &str) -> bool {
        const ORDER: &[&str] =
            &["INIT", "POD_READY", "BOOTSTRAPPED", "CHECKED_OUT", "SWEEP_RUNNING", "SWEEP_COMPLETED"];
        let rank = |s: &str| -> Option<usize> {
            let s = match s {
                "POD_FAILED" => "INIT",
                "BOOTSTRAP_FAILED" => "POD_READY",
                "CHECKOUT_FAILED" => "BOOTSTRAPPED",
                "SWEEP_FAILED" => "SWEEP_RUNNING",
                other => other,
            };
            ORDER.iter().position(|o| *o == s)
        };
        matches!((rank(state), rank(floor)), (Some(a), Some(b)) if a >= b)
    }

    /// The laws applicable to a phase, with their text.
    pub fn laws_for(&self, phase: &Phase) -> Vec<&Law> {
        phase.laws.iter().filter_map(|id| self.law(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_constitution_is_consistent() {
        let c = Constitution::load().expect("constitution loads");
        assert_eq!(c.phases.first().map(|p| p.id.as_str()), Some("P00"));
        assert_eq!(c.phases.last().map(|p| p.id.as_str()), Some("P99"));
        assert_eq!(c.phases.len(), 11);
        for p in &c.phases {
            assert!(!c.laws_for(p).is_empty(), "{} has no laws", p.id);
        }
    }

    #[test]
    fn every_family_maps_to_its_exit_status() {
        let c = Constitution::load().unwrap();
        for d in 1u8..=5 {
            assert_eq!(c.family_exit_status(d), Some(i32::from(d) * 10));
        }
        assert_eq!(c.code_named(4, "PHASE_TIMEOUT").map(|c| c.code), Some(499));
    }

    #[test]
    fn fsm_rules() {
        let c = Constitution::load().unwrap();
        assert!(c.fsm_allows("INIT", "POD_READY"));
        assert!(!c.fsm_allows("INIT", "SWEEP_RUNNING"));
        assert!(!c.fsm_allows("NOPE", "INIT"));
        assert!(c.fsm_at_least("SWEEP_COMPLETED", "CHECKED_OUT"));
        assert!(!c.fsm_at_least("POD_READY", "BOOTSTRAPPED"));
        assert!(!c.fsm_at_least("CHECKOUT_FAILED", "CHECKED_OUT"));
    }
}

#[cfg(test)]
mod command_names {
    use super::*;

    fn flags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_phase_names_its_command_in_the_workflow_vocabulary() {
        let c = Constitution::get().expect("constitution");
        let f = flags(&[("sweep", "resume"), ("wait", "true"), ("fetch", "run:r7"), ("teardown", "delete")]);
        let name = |id: &str, skipped: bool| c.phase(id).and_then(|p| p.command_name(&f, skipped)).map(str::to_string);
        assert_eq!(name("P00", false).as_deref(), Some("flow-precheck"));
        assert_eq!(name("P10", false).as_deref(), Some("pod-up"));
        assert_eq!(name("P10", true).as_deref(), Some("provision-policy"));
        assert_eq!(name("P60", false).as_deref(), Some("sweep-status"));
        assert_eq!(name("P70", false).as_deref(), Some("sweep-wait"));
        assert_eq!(name("P80", false).as_deref(), Some("fetch-run"));
        assert_eq!(name("P90", false).as_deref(), Some("pod-delete"));
        assert_eq!(name("P99", false).as_deref(), Some("flow-summary"));
        for p in &c.phases {
            assert!(p.command_name(&flags(&[("sweep", "skip"), ("wait", "false"), ("fetch", "none"), ("teardown", "keep")]), false).is_some(), "{}", p.id);
        }
        assert_eq!(c.law_by_id_or_alias("LAW_3_TARGET_RESOLUTION").map(|l| l.id.as_str()), Some("L3"));
        assert_eq!(c.law_by_id_or_alias("L9").and_then(|l| l.alias.as_deref()), Some("LAW_9_PHASE_END_CONSTITUTIONAL_VALIDATION"));
        assert!(c.law_by_id_or_alias("LAW_99").is_none());
    }
}
