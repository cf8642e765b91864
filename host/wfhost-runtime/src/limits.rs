//! Resource limits for one plugin call: fuel, memory, wall clock, output size.
//!
//! The runtime takes limits as values on every call and reads no configuration itself: an
//! embedder builds a [`Limits`] from its own settings (wfhost's flow builds the auditors' from
//! its typed config, whose vocabulary holds their defaults and ranges) or starts from a role
//! default ([`Limits::auditor_default`], [`Limits::executor_default`],
//! [`Limits::transport_default`]; [`Limits::default`] is the auditor's, the strictest).

use std::time::Duration;

const MIB: usize = 1024 * 1024;

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

impl Default for Limits {
    /// [`Limits::auditor_default`].
    fn default() -> Limits {
        Limits::auditor_default()
    }
}

impl Limits {
    /// Defaults for a judge: 1e9 fuel (on the order of a second of CPU; judging one phase is a
    /// walk over a small evidence pack), 64 MiB, 120 s, 1 MiB of verdict text.
    pub fn auditor_default() -> Limits {
        Limits {
            fuel: 1_000_000_000,
            memory_bytes: 64 * MIB,
            wall: Duration::from_secs(120),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_strictest_role() {
        let d = Limits::default();
        assert_eq!(d, Limits::auditor_default());
        for other in [Limits::executor_default(), Limits::transport_default()] {
            assert!(d.fuel <= other.fuel && d.memory_bytes <= other.memory_bytes && d.wall <= other.wall);
        }
        let w = d.with_wall(Duration::from_secs(5));
        assert_eq!((w.wall, w.fuel), (Duration::from_secs(5), d.fuel));
    }
}
