//! Output size accounting: how many bytes of payload a plugin returned.
//!
//! Strings and byte lists count their length; every list element adds [`ELEMENT_OVERHEAD`] (its
//! size in the canonical ABI, so a million empty strings is not free). The executor and transport
//! handles compare this with `Limits::max_output_bytes` after lifting (wasmtime frees the guest's
//! copy as part of the call, so the size can only be known once lifted); the host copy made while
//! lifting is bounded by the guest's memory limit.

use crate::types::{
    Artifact, CommandResult, FetchSource, Kv, PhaseOutcome, PodIdentity, PodReport, RunRequest,
    Verdict, WitTransportError,
};

/// Bytes counted per list element besides its payload.
pub(crate) const ELEMENT_OVERHEAD: usize = 8;

pub(crate) trait OutputSize {
    fn output_size(&self) -> usize;
}

impl OutputSize for String {
    fn output_size(&self) -> usize {
        self.len()
    }
}

impl OutputSize for u8 {
    fn output_size(&self) -> usize {
        0
    }
}

impl OutputSize for () {
    fn output_size(&self) -> usize {
        0
    }
}

impl<T: OutputSize> OutputSize for Option<T> {
    fn output_size(&self) -> usize {
        self.as_ref().map_or(0, OutputSize::output_size)
    }
}

impl<T: OutputSize> OutputSize for Vec<T> {
    fn output_size(&self) -> usize {
        if std::mem::size_of::<T>() == 1 {
            // Byte lists: the payload is the bytes themselves.
            return self.len();
        }
        self.iter()
            .map(|item| item.output_size().saturating_add(ELEMENT_OVERHEAD))
            .sum()
    }
}

impl<A: OutputSize, B: OutputSize> OutputSize for (A, B) {
    fn output_size(&self) -> usize {
        self.0.output_size().saturating_add(self.1.output_size())
    }
}

impl<T: OutputSize, E: OutputSize> OutputSize for Result<T, E> {
    fn output_size(&self) -> usize {
        match self {
            Ok(value) => value.output_size(),
            Err(error) => error.output_size(),
        }
    }
}

impl OutputSize for Kv {
    fn output_size(&self) -> usize {
        self.key.len() + self.value.len()
    }
}

impl OutputSize for Artifact {
    fn output_size(&self) -> usize {
        self.name.len() + self.path.len() + self.sha256.output_size()
    }
}

impl OutputSize for PodIdentity {
    fn output_size(&self) -> usize {
        self.transport.len() + self.target.len() + self.location.len()
    }
}

impl OutputSize for PodReport {
    fn output_size(&self) -> usize {
        self.detail.len()
    }
}

impl OutputSize for CommandResult {
    fn output_size(&self) -> usize {
        self.stdout.len() + self.stderr.len()
    }
}

impl OutputSize for RunRequest {
    fn output_size(&self) -> usize {
        [
            self.program.output_size(),
            self.args.output_size(),
            self.cwd.output_size(),
            self.env.output_size(),
            self.secret_env.output_size(),
            self.stdin.as_ref().map_or(0, Vec::len),
        ]
        .iter()
        .sum()
    }
}

impl OutputSize for FetchSource {
    fn output_size(&self) -> usize {
        self.command.output_size() + self.begin_after.output_size()
    }
}

impl OutputSize for PhaseOutcome {
    fn output_size(&self) -> usize {
        [
            self.phase.output_size(),
            self.message.output_size(),
            self.artifacts.output_size(),
            self.facts.output_size(),
            self.details_json.output_size(),
        ]
        .iter()
        .fold(0usize, |sum, n| sum.saturating_add(*n))
    }
}

impl OutputSize for Verdict {
    fn output_size(&self) -> usize {
        [
            self.violated_laws.output_size(),
            self.evidence_refs.output_size(),
            self.reasons.output_size(),
            self.remediation.output_size(),
        ]
        .iter()
        .fold(0usize, |sum, n| sum.saturating_add(*n))
    }
}

impl OutputSize for WitTransportError {
    fn output_size(&self) -> usize {
        match self {
            WitTransportError::Unreachable(m)
            | WitTransportError::Vanished(m)
            | WitTransportError::Timeout(m)
            | WitTransportError::Failed(m)
            | WitTransportError::Invalid(m) => m.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_payload_and_list_overhead() {
        assert_eq!(vec![0u8; 100].output_size(), 100);
        assert_eq!(vec![String::new(); 10].output_size(), 10 * ELEMENT_OVERHEAD);
        assert_eq!(vec!["abc".to_string()].output_size(), 3 + ELEMENT_OVERHEAD);
        let kv = Kv {
            key: "k".into(),
            value: "vv".into(),
        };
        assert_eq!(vec![kv].output_size(), 3 + ELEMENT_OVERHEAD);
        assert_eq!(Some("four".to_string()).output_size(), 4);
    }
}
