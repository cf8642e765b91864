//! The flow's flags: `--provision`, `--sweep`, `--wait`, `--fetch`, `--teardown`, `--yes`.
//!
//! The CLI parses strings; this module owns their legal values, defaults and how they combine,
//! so `flow` and every primitive agree. Each flag renders back to the `key=value` form that
//! evidence, executors and auditors see.

use std::fmt;
use std::str::FromStr;

/// `--provision auto|skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provision {
    /// Create a pod in P10 unless LIUM_TARGET is set.
    #[default]
    Auto,
    /// Never create a pod; LIUM_TARGET must be set.
    Skip,
}

/// `--sweep start|resume|skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sweep {
    /// Launch the manifest's runs.
    #[default]
    Start,
    /// Continue a sweep already on the target: never-started runs start, others are left alone.
    Resume,
    /// Do not touch the sweep.
    Skip,
}

/// `--fetch none|run:<id>|all`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fetch {
    /// Copy nothing back.
    #[default]
    None,
    /// Copy one run's directory back.
    Run(String),
    /// Copy every started run back.
    All,
}

/// `--teardown keep|delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Teardown {
    /// Leave the pod running (the default, Law 7).
    #[default]
    Keep,
    /// Delete the pod at the end of a successful flow.
    Delete,
}

/// All flags of one flow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flags {
    /// `--provision`.
    pub provision: Provision,
    /// `--sweep`.
    pub sweep: Sweep,
    /// `--wait`.
    pub wait: bool,
    /// `--fetch`.
    pub fetch: Fetch,
    /// `--teardown`.
    pub teardown: Teardown,
    /// `--yes` (same as LIUM_YES=1).
    pub yes: bool,
}

/// A flag value that is not legal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--{flag} {value:?} is not legal: expected {expected}")]
pub struct FlagError {
    /// Flag name without dashes.
    pub flag: &'static str,
    /// What was given.
    pub value: String,
    /// The legal forms.
    pub expected: &'static str,
}

fn bad(flag: &'static str, value: &str, expected: &'static str) -> FlagError {
    FlagError { flag, value: value.to_string(), expected }
}

impl FromStr for Provision {
    type Err = FlagError;
    fn from_str(s: &str) -> Result<Self, FlagError> {
        match s {
            "auto" => Ok(Provision::Auto),
            "skip" => Ok(Provision::Skip),
            _ => Err(bad("provision", s, "auto or skip")),
        }
    }
}

impl FromStr for Sweep {
    type Err = FlagError;
    fn from_str(s: &str) -> Result<Self, FlagError> {
        match s {
            "start" => Ok(Sweep::Start),
            "resume" => Ok(Sweep::Resume),
            "skip" => Ok(Sweep::Skip),
            _ => Err(bad("sweep", s, "start, resume or skip")),
        }
    }
}

impl FromStr for Fetch {
    type Err = FlagError;
    fn from_str(s: &str) -> Result<Self, FlagError> {
        const EXPECTED: &str = "none, all or run:<run_id>";
        match s {
            "none" => Ok(Fetch::None),
            "all" => Ok(Fetch::All),
            _ => match s.strip_prefix("run:") {
                Some(id) if crate::is_safe_segment(id) => Ok(Fetch::Run(id.to_string())),
                _ => Err(bad("fetch", s, EXPECTED)),
            },
        }
    }
}

impl FromStr for Teardown {
    type Err = FlagError;
    fn from_str(s: &str) -> Result<Self, FlagError> {
        match s {
            "keep" => Ok(Teardown::Keep),
            "delete" => Ok(Teardown::Delete),
            _ => Err(bad("teardown", s, "keep or delete")),
        }
    }
}

/// Parse `true|false` for `--wait`.
pub fn parse_wait(s: &str) -> Result<bool, FlagError> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad("wait", s, "true or false")),
    }
}

impl fmt::Display for Provision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provision::Auto => "auto",
            Provision::Skip => "skip",
        })
    }
}

impl fmt::Display for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sweep::Start => "start",
            Sweep::Resume => "resume",
            Sweep::Skip => "skip",
        })
    }
}

impl fmt::Display for Fetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fetch::None => f.write_str("none"),
            Fetch::All => f.write_str("all"),
            Fetch::Run(id) => write!(f, "run:{id}"),
        }
    }
}

impl fmt::Display for Teardown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Teardown::Keep => "keep",
            Teardown::Delete => "delete",
        })
    }
}

impl Flags {
    /// The flags as `(key, value)` pairs, in a fixed order, for evidence and plugins.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        vec![
            ("provision".into(), self.provision.to_string()),
            ("sweep".into(), self.sweep.to_string()),
            ("wait".into(), self.wait.to_string()),
            ("fetch".into(), self.fetch.to_string()),
            ("teardown".into(), self.teardown.to_string()),
            ("yes".into(), self.yes.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        for s in ["auto", "skip"] {
            assert_eq!(s.parse::<Provision>().unwrap().to_string(), s);
        }
        for s in ["start", "resume", "skip"] {
            assert_eq!(s.parse::<Sweep>().unwrap().to_string(), s);
        }
        for s in ["none", "all", "run:r-1.a"] {
            assert_eq!(s.parse::<Fetch>().unwrap().to_string(), s);
        }
        for s in ["keep", "delete"] {
            assert_eq!(s.parse::<Teardown>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn illegal_values_name_the_flag_and_the_legal_forms() {
        let e = "destroy".parse::<Teardown>().unwrap_err();
        assert_eq!(e.to_string(), "--teardown \"destroy\" is not legal: expected keep or delete");
        assert!("run:../x".parse::<Fetch>().is_err());
        assert!("run:".parse::<Fetch>().is_err());
        assert!(parse_wait("yes").is_err());
    }
}
