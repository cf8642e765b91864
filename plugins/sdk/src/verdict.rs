//! A small builder for auditor verdicts.
//!
//! An auditor walks its rules and records each broken one as a [`Finding`] (law ID, evidence
//! reference, one-sentence reason). [`VerdictBuilder::build`] turns the findings into
//! [`VerdictParts`]: `pass` when there are none, `fail` with the violated laws (deduplicated, in
//! law order) otherwise, and `unverified` when the auditor could not decide at all. The glue of an
//! auditor component copies `VerdictParts` into the WIT `verdict` record.
//!
//! ```
//! use wfhost_pack_sdk::verdict::{VerdictBuilder, Status};
//!
//! let mut v = VerdictBuilder::new();
//! v.remedy("L7", "Delete pods only with --teardown delete.");
//! v.fail("L7", "facts.deleted", "The pod was deleted although teardown=keep.");
//! v.fail("L5", "outcome.code", "Status ok must carry code 0, found 502.");
//! let parts = v.build();
//! assert_eq!(parts.status, Status::Fail);
//! assert_eq!(parts.violated_laws, vec!["L5", "L7"]);
//! assert_eq!(parts.evidence_refs, vec!["facts.deleted", "outcome.code"]);
//! assert!(parts.remediation.contains("--teardown delete"));
//! ```

/// The decision of a judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every rule held.
    Pass,
    /// At least one rule was broken.
    Fail,
    /// The judge could not decide (bad input it cannot judge); fails the phase.
    Unverified,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Law ID (`L5`).
    pub law: String,
    /// Where in the evidence the problem shows (`outcome.code`, `facts.deleted`).
    pub evidence_ref: String,
    /// One sentence saying what is wrong.
    pub reason: String,
}

/// A finished verdict, independent of the WIT bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictParts {
    /// Pass, fail or unverified.
    pub status: Status,
    /// Violated law IDs, deduplicated, in law order (`L2` before `L10`).
    pub violated_laws: Vec<String>,
    /// Evidence references, deduplicated, in the order first seen.
    pub evidence_refs: Vec<String>,
    /// One sentence per finding (or, on pass, what was checked).
    pub reasons: Vec<String>,
    /// What the user should do next (empty on pass).
    pub remediation: String,
}

/// Collects findings and builds a [`VerdictParts`].
#[derive(Debug, Clone, Default)]
pub struct VerdictBuilder {
    findings: Vec<Finding>,
    undecided: Vec<String>,
    notes: Vec<String>,
    remedies: Vec<(String, String)>,
    fallback_remedy: Option<String>,
}

/// Sort key of a law ID: `L10` after `L9`; IDs without a number sort last, by text.
pub fn law_order_key(id: &str) -> (u64, String) {
    let num = id
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse::<u64>()
        .unwrap_or(u64::MAX);
    (num, id.to_string())
}

impl VerdictBuilder {
    /// An empty builder: builds to `pass`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a broken rule of `law`, shown at `evidence_ref`, explained by `reason`.
    pub fn fail(&mut self, law: &str, evidence_ref: &str, reason: impl Into<String>) -> &mut Self {
        self.findings.push(Finding {
            law: law.to_string(),
            evidence_ref: evidence_ref.to_string(),
            reason: reason.into(),
        });
        self
    }

    /// Record that the judge cannot decide, and why. Any such call makes the verdict
    /// `unverified`.
    pub fn undecided(&mut self, reason: impl Into<String>) -> &mut Self {
        self.undecided.push(reason.into());
        self
    }

    /// A note shown as the reasons of a passing verdict (what was checked).
    pub fn note(&mut self, note: impl Into<String>) -> &mut Self {
        self.notes.push(note.into());
        self
    }

    /// The remediation sentence for `law`, used when that law is violated.
    pub fn remedy(&mut self, law: &str, sentence: impl Into<String>) -> &mut Self {
        self.remedies.push((law.to_string(), sentence.into()));
        self
    }

    /// The remediation used when no violated law has its own (and for `unverified`).
    pub fn fallback_remedy(&mut self, sentence: impl Into<String>) -> &mut Self {
        self.fallback_remedy = Some(sentence.into());
        self
    }

    /// The findings recorded so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Build the verdict.
    pub fn build(&self) -> VerdictParts {
        let mut laws: Vec<String> = Vec::new();
        let mut refs: Vec<String> = Vec::new();
        for f in &self.findings {
            if !laws.contains(&f.law) {
                laws.push(f.law.clone());
            }
            if !f.evidence_ref.is_empty() && !refs.contains(&f.evidence_ref) {
                refs.push(f.evidence_ref.clone());
            }
        }
        laws.sort_by_key(|l| law_order_key(l));
        let reasons_of_findings = self
            .findings
            .iter()
            .map(|f| format!("{}: {}", f.law, f.reason));
        let fallback = self.fallback_remedy.clone().unwrap_or_default();

        if !self.undecided.is_empty() {
            return VerdictParts {
                status: Status::Unverified,
                violated_laws: laws,
                evidence_refs: refs,
                reasons: self
                    .undecided
                    .iter()
                    .cloned()
                    .chain(reasons_of_findings)
                    .collect(),
                remediation: fallback,
            };
        }
        if self.findings.is_empty() {
            return VerdictParts {
                status: Status::Pass,
                violated_laws: Vec::new(),
                evidence_refs: Vec::new(),
                reasons: self.notes.clone(),
                remediation: String::new(),
            };
        }
        let mut remedies: Vec<&str> = Vec::new();
        for law in &laws {
            for (l, sentence) in &self.remedies {
                if l == law && !remedies.contains(&sentence.as_str()) {
                    remedies.push(sentence);
                }
            }
        }
        let remediation = if remedies.is_empty() {
            fallback
        } else {
            remedies.join(" ")
        };
        VerdictParts {
            status: Status::Fail,
            violated_laws: laws,
            evidence_refs: refs,
            reasons: reasons_of_findings.collect(),
            remediation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_builder_passes_with_notes() {
        let mut b = VerdictBuilder::new();
        b.note("checked L5");
        let v = b.build();
        assert_eq!(v.status, Status::Pass);
        assert_eq!(v.reasons, vec!["checked L5"]);
        assert!(v.violated_laws.is_empty());
        assert!(v.remediation.is_empty());
    }

    #[test]
    fn failures_dedupe_and_order_laws() {
        let mut b = VerdictBuilder::new();
        b.fail("L10", "a", "x")
            .fail("L9", "b", "y")
            .fail("L10", "a", "z");
        b.remedy("L9", "Fix nine.").remedy("L10", "Fix ten.");
        let v = b.build();
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.violated_laws, vec!["L9", "L10"]);
        assert_eq!(v.evidence_refs, vec!["a", "b"]);
        assert_eq!(v.reasons, vec!["L10: x", "L9: y", "L10: z"]);
        assert_eq!(v.remediation, "Fix nine. Fix ten.");
    }

    #[test]
    fn fallback_remedy_when_law_has_none() {
        let mut b = VerdictBuilder::new();
        b.fail("L3", "r", "why")
            .fallback_remedy("Read the evidence.");
        assert_eq!(b.build().remediation, "Read the evidence.");
    }

    #[test]
    fn undecided_wins() {
        let mut b = VerdictBuilder::new();
        b.fail("L5", "r", "why").undecided("cannot judge version 2");
        let v = b.build();
        assert_eq!(v.status, Status::Unverified);
        assert_eq!(v.reasons[0], "cannot judge version 2");
        assert_eq!(v.violated_laws, vec!["L5"]);
    }

    #[test]
    fn law_keys() {
        assert!(law_order_key("L2") < law_order_key("L10"));
        assert!(law_order_key("L99") < law_order_key("X"));
    }
}
