//! Resource limits for one plugin call: fuel, memory, wall clock, output size.
//!
//! The runtime takes limits as values on every call; role defaults come from
//! [`Limits::auditor_default`], [`Limits::executor_default`] and [`Limits::transport_default`]. The
//! only place the auditor limits are read from configuration is [`Limits::from_env_map`], which
//! validates a map the caller built (the runtime never reads the process environment itself).

use std::collections::BTreeMap;
use std::time::Duration;

/// Environment key: auditor fuel (instructions, roughly) per audit call.
pub const ENV_AUDITOR_FUEL: &str = "WF_AUDITOR_FUEL";
/// Environment key: auditor linear-memory limit in MiB.
pub const ENV_AUDITOR_MEMORY_MB: &str = "WF_AUDITOR_MEMORY_MB";
/// Environment key: auditor wall-clock limit in seconds.
pub const ENV_AUDITOR_TIMEOUT_SECS: &str = "WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS";

/// Default auditor fuel: one billion units (about one wasm instruction each; on the order of a
/// second of CPU). Judging one phase is a walk over a small evidence pack and a few laws; the
/// test suite checks that the built-in auditor uses under 1% of this.
pub const DEFAULT_AUDITOR_FUEL: u64 = 1_000_000_000;
/// Default auditor memory limit: 64 MiB.
pub const DEFAULT_AUDITOR_MEMORY_MB: u64 = 64;
/// Default auditor wall-clock limit: 120 s.
pub const DEFAULT_AUDITOR_TIMEOUT_SECS: u64 = 120;

const MIB: usize = 1024 * 1024;
/// WebAssembly linear memory (wasm32) cannot exceed 4 GiB.
const MAX_MEMORY_MB: u64 = 4096;
const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// Limits for one call into a component. A fresh store is made per call, so each call gets the
/// whole budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Fuel units the call may consume (about one per wasm instruction; host calls are free).
    pub fuel: u64,
    /// Largest size any linear memory of the component may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock deadline of the call, enforced by epoch interruption (10 ms resolution).
    pub wall: Duration,
    /// Largest total of returned string and byte-list payloads, in bytes.
    pub max_output_bytes: usize,
}

impl Limits {
    /// Auditor defaults: 1e9 fuel, 64 MiB, 120 s, 1 MiB of verdict text.
    pub fn auditor_default() -> Limits {
        Limits {
            fuel: DEFAULT_AUDITOR_FUEL,
            memory_bytes: DEFAULT_AUDITOR_MEMORY_MB as usize * MIB,
            wall: Duration::from_secs(DEFAULT_AUDITOR_TIMEOUT_SECS),
            max_output_bytes: MIB,
        }
    }

    /// Executor defaults: 1e10 fuel (host calls cost none), 256 MiB, 1 h, 16 MiB of outcome. The
    /// flow engine normally replaces `wall` with the phase's own deadline.
    pub fn executor_default() -> Limits {
        Limits {
            fuel: 10_000_000_000,
            memory_bytes: 256 * MIB,
            wall: Duration::from_secs(3600),
            max_output_bytes: 16 * MIB,
        }
    }

    /// Transport defaults: 1e10 fuel, 256 MiB, 10 min, 64 MiB of output (file contents).
    pub fn transport_default() -> Limits {
        Limits {
            fuel: 10_000_000_000,
            memory_bytes: 256 * MIB,
            wall: Duration::from_secs(600),
            max_output_bytes: 64 * MIB,
        }
    }

    /// The same limits with another wall-clock deadline.
    pub fn with_wall(self, wall: Duration) -> Limits {
        Limits { wall, ..self }
    }

    /// Auditor limits from a configuration map (normally the process environment, collected by
    /// the caller): `WF_AUDITOR_FUEL` (units), `WF_AUDITOR_MEMORY_MB` (MiB, 1..=4096),
    /// `WF_SUBAGENT_VALIDATOR_TIMEOUT_SECS` (seconds, 1..=604800). Absent or empty keys keep the
    /// defaults; anything else that is not a whole number in range is an error.
    ///
    /// ```
    /// # use std::collections::BTreeMap;
    /// # use wfhost_runtime::Limits;
    /// let mut env = BTreeMap::new();
    /// env.insert("WF_AUDITOR_MEMORY_MB".to_string(), "32".to_string());
    /// let limits = Limits::from_env_map(&env).unwrap();
    /// assert_eq!(limits.memory_bytes, 32 * 1024 * 1024);
    /// env.insert("WF_AUDITOR_FUEL".to_string(), "lots".to_string());
    /// assert!(Limits::from_env_map(&env).is_err());
    /// ```
    pub fn from_env_map(env: &BTreeMap<String, String>) -> Result<Limits, LimitsError> {
        let mut limits = Limits::auditor_default();
        if let Some(fuel) = parse_key(
            env,
            ENV_AUDITOR_FUEL,
            1,
            u64::MAX,
            "fuel units, e.g. 1000000000",
        )? {
            limits.fuel = fuel;
        }
        if let Some(mb) = parse_key(env, ENV_AUDITOR_MEMORY_MB, 1, MAX_MEMORY_MB, "MiB, e.g. 64")? {
            limits.memory_bytes = mb as usize * MIB;
        }
        if let Some(secs) = parse_key(
            env,
            ENV_AUDITOR_TIMEOUT_SECS,
            1,
            MAX_TIMEOUT_SECS,
            "seconds, e.g. 120",
        )? {
            limits.wall = Duration::from_secs(secs);
        }
        Ok(limits)
    }
}

fn parse_key(
    env: &BTreeMap<String, String>,
    key: &'static str,
    min: u64,
    max: u64,
    unit: &'static str,
) -> Result<Option<u64>, LimitsError> {
    let Some(raw) = env.get(key) else {
        return Ok(None);
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let value: u64 = trimmed
        .replace('_', "")
        .parse()
        .map_err(|_| LimitsError::Invalid {
            key,
            value: raw.clone(),
            expected: format!("a whole number of {unit}"),
        })?;
    if value < min || value > max {
        return Err(LimitsError::Invalid {
            key,
            value: raw.clone(),
            expected: format!("a value from {min} to {max} ({unit})"),
        });
    }
    Ok(Some(value))
}

/// A limit setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// The value is not a whole number in range.
    #[error(
        "{key}={value:?} is invalid: expected {expected}; fix it or unset it to use the default"
    )]
    Invalid {
        /// The configuration key.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
}
