//! The workflow constitution as data, and as a typed API.
//!
//! `constitution/` at the repository root is the single source of the laws, the phase contract
//! table, the named checks, the failure codes, the remote FSM, the config vocabulary and the ops
//! rules of the event log. This crate embeds every file of it ([`FILES`]), parses them into
//! typed structs and cross-checks them (every law a phase names exists, every code belongs to a
//! declared family, every FSM target is a declared state, every config default satisfies its
//! kind and range, every `required_for` names a phase, ...). The host, the docs generator and
//! the tests read the constitution through [`Constitution::get`], [`Vocabulary::get`] and
//! [`ops::Ops::get`]; nothing restates it in code.
//!
//! Data flows two ways from the same files:
//!
//! ```text
//! constitution/*.toml ─► build.rs (build-support/tables.rs) ─► codes::*, PhaseId, keys::*
//!                     └► include_str! ─► Constitution::load (parse, cross-check) ─► &'static
//! ```
//!
//! The generated constants ([`codes`], [`PhaseId`], [`keys`]) let host code name a code, a
//! phase or a config key through the compiler; the loaded structs carry the text (meanings,
//! next steps, laws) and answer run-time lookups. A test checks that both agree.
//!
//! ```
//! use wfhost_constitution::{codes, Constitution, Family, PhaseId};
//! let c = wfhost_constitution::Constitution::get().expect("embedded constitution is valid");
//! let p50 = c.phase(PhaseId::P50).unwrap();
//! assert_eq!(p50.name, "CHECKOUT");
//! assert_eq!(p50.family, Family::BootstrapCheckout);
//! assert_eq!(c.family_exit_status(p50.family), Some(30));
//! assert_eq!(c.code(codes::CHECKOUT_DIRTY).map(|d| d.name.as_str()), Some("CHECKOUT_DIRTY"));
//! ```
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

pub mod codes;
pub mod keys;
pub mod ops;
mod phase;
pub mod vocabulary;

pub use codes::{Code, Family};
pub use phase::{ParsePhaseIdError, PhaseId};
pub use vocabulary::{
    ItemRule, KeySpec, Kind, ListItems, ListSeparator, PathScope, PatternSpec, Source, Vocabulary, VocabularyError,
};

const LAWS_TOML: &str = include_str!("../../../constitution/laws.toml");
const PHASES_TOML: &str = include_str!("../../../constitution/phases.toml");
const CHECKS_TOML: &str = include_str!("../../../constitution/checks.toml");
const CODES_TOML: &str = include_str!("../../../constitution/codes.toml");
const FSM_TOML: &str = include_str!("../../../constitution/fsm.toml");
const OPS_MD: &str = include_str!("../../../constitution/ops.md");

/// Every file of `constitution/`, by name, exactly as embedded. Exposed so evidence can record
/// exactly what was enforced; a test checks that the directory holds no other file.
pub const FILES: &[(&str, &str)] = &[
    ("laws.toml", LAWS_TOML),
    ("phases.toml", PHASES_TOML),
    ("checks.toml", CHECKS_TOML),
    ("codes.toml", CODES_TOML),
    ("fsm.toml", FSM_TOML),
    ("config.toml", vocabulary::VOCABULARY_TOML),
    ("ops.toml", ops::OPS_TOML),
    ("ops.md", OPS_MD),
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
    /// `config.toml` does not describe a usable vocabulary.
    #[error(transparent)]
    Vocabulary(#[from] VocabularyError),
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
    pub id: PhaseId,
    /// `PRECHECK`, `PROVISION`, ...
    pub name: String,
    /// Host or plugin.
    pub runner: Runner,
    /// Failure-code family.
    pub family: Family,
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
    /// Whether `wfhost flow` runs the phase (false: only the commands that list it do).
    #[serde(default = "in_flow")]
    pub flow: bool,
}

fn in_flow() -> bool {
    true
}

impl Phase {
    /// The phase's `command_name` for a flow with these flags (`flags` by name, as in the
    /// `flow.started` record, plus `command`: the command as typed), when the phase was skipped
    /// or not.
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

/// A code family (hundreds digit) as `codes.toml` describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FamilyDef {
    /// e.g. `config/policy`.
    pub name: String,
    /// Process exit status for a halt in this family.
    pub exit: i32,
    /// The name of the family's code for a failure its phase's runner reports without a more
    /// specific one.
    pub generic: String,
}

/// One failure code as `codes.toml` describes it (the typed constant is [`Code`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CodeDef {
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
    families: BTreeMap<String, FamilyDef>,
    code: Vec<CodeDef>,
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
    /// Families, in order.
    pub families: BTreeMap<Family, FamilyDef>,
    /// Codes in file order.
    pub codes: Vec<CodeDef>,
    /// The remote FSM.
    pub fsm: Fsm,
    /// The config vocabulary (`config.toml`).
    #[serde(skip)]
    pub vocabulary: Vocabulary,
}

fn parse<T: serde::de::DeserializeOwned>(file: &'static str, text: &str) -> Result<T, ConstitutionError> {
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
        let laws: LawsFile = parse("laws.toml", LAWS_TOML)?;
        let phases: PhasesFile = parse("phases.toml", PHASES_TOML)?;
        let checks: ChecksFile = parse("checks.toml", CHECKS_TOML)?;
        let codes: CodesFile = parse("codes.toml", CODES_TOML)?;
        let fsm: Fsm = parse("fsm.toml", FSM_TOML)?;
        let vocabulary = Vocabulary::parse(vocabulary::VOCABULARY_TOML)?;
        let mut families = BTreeMap::new();
        for (digit, family) in codes.families {
            let d = digit.parse().ok().and_then(Family::from_digit).ok_or_else(|| {
                ConstitutionError::Inconsistent(format!(
                    "codes.toml: family key {digit:?} is not a family this build knows"
                ))
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
            vocabulary,
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
        let mut last: Option<PhaseId> = None;
        for p in &self.phases {
            if last.is_some_and(|l| p.id <= l) {
                return bad(format!("phases.toml: {} is out of order", p.id));
            }
            last = Some(p.id);
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
            let family = u8::try_from(code.code / 100).ok().and_then(Family::from_digit);
            if !family.is_some_and(|f| self.families.contains_key(&f)) {
                return bad(format!("codes.toml: code {} has no declared family", code.code));
            }
        }
        for (family, def) in &self.families {
            for name in ["COURT_DETERMINISTIC_FAIL", "COURT_AUDITOR_FAIL", "PHASE_TIMEOUT", def.generic.as_str()] {
                if self.code_named(*family, name).is_none() {
                    return bad(format!("codes.toml: family {family} lacks its {name} code"));
                }
            }
        }
        self.cross_check_vocabulary()
    }

    /// What the vocabulary says about phases agrees with the phase table: the default phase
    /// timeouts lie within the bounds of `WF_PHASE_TIMEOUT_*`.
    fn cross_check_vocabulary(&self) -> Result<(), ConstitutionError> {
        let timeouts = keys::patterns::WF_PHASE_TIMEOUT;
        let bounds = self.vocabulary.patterns.iter().find(|p| p.prefix() == timeouts.prefix()).map(|p| &p.kind);
        let Some(kind) = bounds else {
            return Err(ConstitutionError::Inconsistent(format!(
                "config.toml: the pattern {}* is missing",
                timeouts.prefix()
            )));
        };
        for p in &self.phases {
            if let Err(problem) = kind.check(&p.timeout_secs.to_string()) {
                return Err(ConstitutionError::Inconsistent(format!(
                    "phases.toml: {} has timeout_secs {}, which {}* refuses: it {problem}",
                    p.id,
                    p.timeout_secs,
                    timeouts.prefix()
                )));
            }
        }
        Ok(())
    }

    /// A phase by ID (a [`PhaseId`], or an id read as text).
    pub fn phase(&self, id: impl AsRef<str>) -> Option<&Phase> {
        let id = id.as_ref();
        self.phases.iter().find(|p| p.id == id)
    }

    /// A law by ID.
    pub fn law(&self, id: &str) -> Option<&Law> {
        self.laws.iter().find(|l| l.id == id)
    }

    /// A code's text by number (a [`Code`], or a number read from evidence).
    pub fn code(&self, code: impl Into<u16>) -> Option<&CodeDef> {
        let code = code.into();
        self.codes.iter().find(|c| c.code == code)
    }

    /// A law by its id (`L1`) or its alias (`LAW_1_CANONICAL_CONFIG`).
    pub fn law_by_id_or_alias(&self, name: &str) -> Option<&Law> {
        self.laws.iter().find(|l| l.id == name || l.alias.as_deref() == Some(name))
    }

    /// A code by family and name as read at run time, e.g. `(Family::ProvisioningTarget,
    /// "PHASE_TIMEOUT")` -> 299. Code that knows the name uses [`Family`]'s methods instead.
    pub fn code_named(&self, family: Family, name: &str) -> Option<&CodeDef> {
        self.codes
            .iter()
            .find(|c| c.code / 100 == u16::from(family) && c.name == name)
    }

    /// Exit status for a halt in a family (given as a [`Family`] or its hundreds digit).
    pub fn family_exit_status(&self, family: impl Into<u8>) -> Option<i32> {
        let family = Family::from_digit(family.into())?;
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
        assert_eq!(c.phase("P50").map(|p| p.id), Some(PhaseId::P50));
        assert_eq!(c.phases.len(), 12);
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
        assert_eq!(c.code_named(Family::SweepMonitor, "PHASE_TIMEOUT").map(|c| c.code), Some(499));
    }

    #[test]
    fn every_file_of_the_constitution_directory_is_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../constitution");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("constitution/ is readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "FILES must embed every file of constitution/");
        for (name, text) in FILES {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), *text, "{name}");
        }
        let c = Constitution::load().unwrap();
        assert!(c.vocabulary.key(keys::WF_AUDITOR_FUEL.name()).is_some());
        assert!(ops::Ops::get().unwrap().event_type("phase.outcome").is_some());
    }

    #[test]
    fn the_generated_codes_are_the_loaded_codes() {
        let c = Constitution::load().unwrap();
        assert_eq!(codes::ALL.len(), c.codes.len());
        for def in &c.codes {
            let code = Code::from_u16(def.code).unwrap_or_else(|| panic!("no constant for {}", def.code));
            assert_eq!((code.get(), code.name()), (def.code, def.name.as_str()));
            assert_eq!(u16::from(code.family()), def.code / 100, "{}", def.code);
            assert_eq!(c.code(code), Some(def));
        }
        for (family, def) in &c.families {
            assert_eq!(family.exit_status(), def.exit);
            assert_eq!(family.name(), def.name);
            assert_eq!(family.generic().name(), def.generic);
            assert_eq!(family.generic().family(), *family);
            for (code, name) in [
                (family.court_deterministic_fail(), "COURT_DETERMINISTIC_FAIL"),
                (family.court_auditor_fail(), "COURT_AUDITOR_FAIL"),
                (family.phase_timeout(), "PHASE_TIMEOUT"),
            ] {
                assert_eq!(c.code_named(*family, name).map(|d| d.code), Some(code.get()));
            }
            assert_eq!(
                family.pod_unreachable().map(Code::get),
                c.code_named(*family, "POD_UNREACHABLE").map(|d| d.code)
            );
        }
        assert_eq!(Family::ALL.len(), c.families.len());
        // Shared names are family-qualified, single ones are not.
        assert_eq!(codes::POD_UNREACHABLE_3XX.get(), 306);
        assert_eq!(codes::FLAGS_ILLEGAL.name(), "FLAGS_ILLEGAL");
        assert_eq!(serde_json::to_string(&codes::TARGET_DRIFT).unwrap(), "202");
        assert_eq!(serde_json::from_str::<Code>("202").unwrap(), codes::TARGET_DRIFT);
        assert!(serde_json::from_str::<Code>("209").is_err());
    }

    #[test]
    fn the_generated_phase_ids_are_the_phase_table() {
        let c = Constitution::load().unwrap();
        let ids: Vec<PhaseId> = c.phases.iter().map(|p| p.id).collect();
        assert_eq!(ids, PhaseId::ALL);
        let flow: Vec<PhaseId> = c.phases.iter().filter(|p| p.flow).map(|p| p.id).collect();
        assert_eq!(flow, PhaseId::FLOW);
        assert!(!PhaseId::FLOW.contains(&PhaseId::P75), "P75 (tasks) is not a phase of `wfhost flow`");
        for p in &c.phases {
            assert_eq!((p.id.name(), p.id.family()), (p.name.as_str(), p.family));
            assert_eq!(p.id.as_str().parse::<PhaseId>(), Ok(p.id));
            assert_eq!(serde_json::to_value(p.id).unwrap(), serde_json::json!(p.id.as_str()));
        }
        let err = "P15".parse::<PhaseId>().unwrap_err().to_string();
        assert!(err.contains("\"P15\"") && err.contains("P00"), "{err}");
        assert!(serde_json::from_str::<PhaseId>("\"P5\"").is_err());
        assert!(PhaseId::P10 < PhaseId::P20 && PhaseId::P90 == "P90" && "P99" == PhaseId::P99);
    }

    #[test]
    fn the_generated_keys_are_the_loaded_vocabulary() {
        let c = Constitution::load().unwrap();
        assert_eq!(keys::disagreements(&c.vocabulary), Vec::<String>::new());
        let names: Vec<&str> = c.vocabulary.keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, keys::NAMES);
        assert_eq!(keys::WF_AUDITOR_FUEL.default_value(), 1_000_000_000);
        assert_eq!(keys::WF_AUDITORS.separator(), ListSeparator::Comma);
        assert_eq!(keys::WF_SSH_ACCEPT_NEW.default(), Some(false));
        // An edited vocabulary is caught: a default the constants do not carry.
        let edited = Vocabulary::parse(&vocabulary::VOCABULARY_TOML.replacen("default = \"local\"", "default = \"ssh\"", 1)).unwrap();
        let found = keys::disagreements(&edited);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("WF_TRANSPORT"), "{found:?}");
    }

    #[test]
    fn every_number_has_a_documented_maximum_and_every_default_fits() {
        let c = Constitution::load().unwrap();
        let uints = c.vocabulary.keys.iter().map(|k| (&k.name, &k.kind, k.default.as_deref()));
        let uints = uints.chain(c.vocabulary.patterns.iter().map(|p| (&p.name, &p.kind, None)));
        let mut seen = 0;
        for (name, kind, default) in uints {
            if let Kind::Uint { max, .. } = kind {
                seen += 1;
                let max = max.unwrap_or_else(|| panic!("{name} has no max"));
                assert!(kind.check(&max.to_string()).is_ok(), "{name}");
                assert!(kind.check(&(u128::from(max) + 1).to_string()).is_err(), "{name}");
                if let Some(d) = default {
                    assert!(kind.check(d).is_ok(), "{name}={d}");
                }
            }
            if let Kind::Decimal { max_millis, .. } = kind {
                seen += 1;
                let max = max_millis.unwrap_or_else(|| panic!("{name} has no max"));
                assert!(kind.check(&vocabulary::format_millis(max)).is_ok(), "{name}");
                assert!(kind.check(&vocabulary::format_millis(max + 1)).is_err(), "{name}");
                if let Some(d) = default {
                    assert!(kind.check(d).is_ok(), "{name}={d}");
                }
            }
        }
        assert!(seen >= 9, "{seen} uint and decimal entries");
        // The phase table's own timeouts are within what WF_PHASE_TIMEOUT_* accepts.
        assert!(c.phases.iter().all(|p| p.timeout_secs >= 1));
    }

    #[test]
    fn broken_vocabularies_are_refused() {
        let head = "version = 1\n[[key]]\nname = \"K\"\nmeaning = \"m\"\n";
        for (body, expect) in [
            ("kind = \"uint\"\ndefault = \"1\"\n", "needs a max"),
            ("kind = \"uint\"\nmax = 5\n", "needs a default"),
            ("kind = \"uint\"\ndefault = \"3\"\nmin = 4\nmax = 5\n", "at least 4"),
            ("kind = \"string\"\nrequired_for = [\"P51\"]\n", "\"P51\" is not a phase"),
        ] {
            let err = Vocabulary::parse(&format!("{head}{body}")).unwrap_err().to_string();
            assert!(err.contains(expect), "{body}: {err}");
        }
        let pattern = "version = 1\n[[pattern]]\nname = \"P_*\"\nmeaning = \"m\"\nkind = \"uint\"\n";
        assert!(Vocabulary::parse(pattern).unwrap_err().to_string().contains("needs a max"));
        let inverted = format!("{pattern}min = 6\nmax = 5\n");
        assert!(Vocabulary::parse(&inverted).unwrap_err().to_string().contains("min 6 is above max 5"));
    }

    #[test]
    fn decimal_keys_take_fractions_within_their_bounds() {
        let v = Vocabulary::parse(
            "version = 1\n[[key]]\nname = \"K\"\nmeaning = \"m\"\nkind = \"decimal\"\ndefault = \"2\"\nmin = 0.1\nmax = 3600\n",
        )
        .unwrap();
        let kind = &v.key("K").unwrap().kind;
        assert_eq!(kind, &Kind::Decimal { min_millis: Some(100), max_millis: Some(3_600_000) });
        for ok in ["0.1", "0.2", "2", "1.25", "3600", "3600.000"] {
            assert_eq!(kind.check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("0.05", "at least 0.1"),
            ("3600.001", "at most 3600"),
            ("0.0001", "three digits"),
            ("-1", "decimal number"),
            ("1e3", "decimal number"),
            (".5", "decimal number"),
            ("2.", "decimal number"),
            ("", "decimal number"),
            ("99999999999999999999", "decimal number"),
        ] {
            let err = kind.check(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!(vocabulary::parse_millis("0.2"), Some(200));
        assert_eq!(vocabulary::format_millis(200), "0.2");
        assert_eq!(vocabulary::format_millis(1250), "1.25");
        assert_eq!(vocabulary::format_millis(3_600_000), "3600");
        // The shipped key and its typed constant.
        let c = Constitution::load().unwrap();
        assert!(matches!(c.vocabulary.key("WF_MONITOR_POLL_SECS").unwrap().kind, Kind::Decimal { .. }));
        assert_eq!(keys::WF_MONITOR_POLL_SECS.default_millis(), 2000);
        assert_eq!(keys::WF_MONITOR_POLL_SECS.min_millis(), 100);
        assert_eq!(keys::WF_MONITOR_POLL_SECS.max_millis(), 3_600_000);
        // Broken decimal entries are refused.
        let head = "version = 1\n[[key]]\nname = \"K\"\nmeaning = \"m\"\nkind = \"decimal\"\n";
        for (body, expect) in [
            ("default = \"1\"\n", "needs a max"),
            ("max = 5\n", "needs a default"),
            ("default = \"1\"\nmin = 0.0001\nmax = 5\n", "three digits"),
            ("default = \"0.05\"\nmin = 0.1\nmax = 5\n", "at least 0.1"),
        ] {
            let err = Vocabulary::parse(&format!("{head}{body}")).unwrap_err().to_string();
            assert!(err.contains(expect), "{body}: {err}");
        }
        let pattern = "version = 1\n[[pattern]]\nname = \"P_*\"\nmeaning = \"m\"\nkind = \"decimal\"\n";
        assert!(Vocabulary::parse(pattern).unwrap_err().to_string().contains("needs a max"));
        let inverted = format!("{pattern}min = 6\nmax = 5.5\n");
        assert!(Vocabulary::parse(&inverted).unwrap_err().to_string().contains("min 6 is above max 5.5"));
        // A uint still takes whole bounds only.
        let uint = "version = 1\n[[key]]\nname = \"K\"\nmeaning = \"m\"\nkind = \"uint\"\ndefault = \"1\"\nmax = 5.5\n";
        assert!(Vocabulary::parse(uint).unwrap_err().to_string().contains("whole number"));
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
        for p in c.phases.iter().filter(|p| p.flow) {
            assert!(p.command_name(&flags(&[("sweep", "skip"), ("wait", "false"), ("fetch", "none"), ("teardown", "keep")]), false).is_some(), "{}", p.id);
        }
        // A phase outside `flow` runs for its own commands: it is named by the command as typed.
        for p in c.phases.iter().filter(|p| !p.flow) {
            let command = p.commands.keys().next().unwrap_or_else(|| panic!("{} declares no command", p.id));
            assert_eq!(p.command_name(&flags(&[("command", command.as_str())]), false).map(str::to_string).as_ref(), p.commands.get(command), "{}", p.id);
        }
        assert_eq!(c.law_by_id_or_alias("LAW_3_TARGET_RESOLUTION").map(|l| l.id.as_str()), Some("L3"));
        assert_eq!(c.law_by_id_or_alias("L9").and_then(|l| l.alias.as_deref()), Some("LAW_9_PHASE_END_CONSTITUTIONAL_VALIDATION"));
        assert!(c.law_by_id_or_alias("LAW_99").is_none());
    }
}
