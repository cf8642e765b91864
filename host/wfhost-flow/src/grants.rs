//! Flow grants: what the flow allows the gateway to do, decided once by the engine.
//!
//! ```text
//! P00 consent ──► Grant::provision()   ops [provision], once, in P10      (revoked after P10)
//! P20 bind    ──► Grant::target(t)     ops on t: status, exec, files, fetch (revoked when deleted)
//! P90 delete  ──► Grant::delete(t)     ops [delete-pod] on t, in P90      (revoked when deleted)
//!                  │
//!                  ▼ capability.granted (kind, scope) ─► gateway: a call runs only under a grant in
//!                    force whose scope holds its op, target and phase; otherwise refused + recorded
//! ```
//!
//! The gateway trusts the grant: it does not look at the flags or at phase ids itself. The
//! verifier checks the same scopes from the records (`wfhost-audit`'s walk). These grants are
//! not the runtime's WIT capabilities (which imports a component may have); they are the
//! flow's permissions, issued as evidence events.

use serde::Serialize;
use wfhost_evidence::Actor;

/// The kinds of grant a flow issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantKind {
    /// Create a pod (P10, with consent).
    Provision,
    /// Act on the bound target.
    Target,
    /// Delete the bound pod (P90, `--teardown delete`).
    Delete,
}

impl GrantKind {
    /// The kind's name in evidence.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantKind::Provision => "provision",
            GrantKind::Target => "target",
            GrantKind::Delete => "delete",
        }
    }

    /// The grant a gateway operation runs under.
    pub fn of_op(op: &str) -> GrantKind {
        match op {
            "provision" => GrantKind::Provision,
            "delete-pod" => GrantKind::Delete,
            _ => GrantKind::Target,
        }
    }

    /// Why a call of this kind is refused when no grant is in force (what the user can do).
    pub fn refusal(self, op: &str, phase: &str) -> String {
        match self {
            GrantKind::Provision => "provision refused: no consent (use --yes or LIUM_YES=1)".to_string(),
            GrantKind::Target => format!("{op} refused: no target is bound yet"),
            GrantKind::Delete => {
                format!("delete-pod refused in {phase}: a pod is deleted only in P90 with --teardown delete (Law 7)")
            }
        }
    }
}

/// What a grant allows, as recorded in its `capability.granted` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// The operations it allows.
    pub ops: Vec<&'static str>,
    /// The one target it allows them on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where the target came from (`explicit`, `autobind`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// The one phase it may be used in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// How many calls it allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// A grant to issue: its kind, scope, who approved it and the basis a receipt names.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Its kind.
    pub kind: GrantKind,
    /// What it allows.
    pub scope: Scope,
    /// Who approved it (the consent's actor, or the policy).
    pub actor: Actor,
    /// What a receipt of a call under it says approved the call.
    pub approved_by: &'static str,
}

/// The operations on a bound target.
pub const TARGET_OPS: [&str; 6] = ["pod-status", "resolve-path", "exec", "put-file", "get-file", "fetch-dir"];

impl Grant {
    /// Create one pod in `phase`, approved by `actor` (`approved_by`: `flag:--yes` or `consent`).
    pub fn provision(phase: &str, actor: Actor, approved_by: &'static str) -> Grant {
        Grant {
            kind: GrantKind::Provision,
            scope: Scope { ops: vec!["provision"], target: None, source: None, phase: Some(phase.to_string()), count: Some(1) },
            actor,
            approved_by,
        }
    }

    /// Act on the bound `target` (Law 3's lock).
    pub fn target(target: &str, source: &'static str) -> Grant {
        Grant {
            kind: GrantKind::Target,
            scope: Scope { ops: TARGET_OPS.to_vec(), target: Some(target.to_string()), source: Some(source), phase: None, count: None },
            actor: Actor::new("policy", "law-3-target-lock"),
            approved_by: "policy:bound-target",
        }
    }

    /// Delete `target` in `phase`, approved by `--teardown delete` (Law 7).
    pub fn delete(target: &str, phase: &str) -> Grant {
        Grant {
            kind: GrantKind::Delete,
            scope: Scope { ops: vec!["delete-pod"], target: Some(target.to_string()), source: None, phase: Some(phase.to_string()), count: None },
            actor: Actor::new("policy", "--teardown=delete"),
            approved_by: "flag:--teardown=delete",
        }
    }
}

/// A grant in force, as the gateway holds it.
#[derive(Debug, Clone)]
pub struct Held {
    /// Its capability id in the records.
    pub id: String,
    /// The grant.
    pub grant: Grant,
    /// Calls made under it so far.
    pub used: u32,
}

impl Held {
    /// Whether `op` in `phase` may run under this grant; the refusal says why not.
    pub fn allows(&self, op: &str, phase: &str) -> Result<(), String> {
        let scope = &self.grant.scope;
        if !scope.ops.contains(&op) {
            return Err(format!("{op} refused: outside the {} grant (ops {:?})", self.grant.kind.as_str(), scope.ops));
        }
        if let Some(only) = scope.phase.as_deref().filter(|p| *p != phase) {
            return Err(match self.grant.kind {
                GrantKind::Provision => format!("provision refused: only {only} may create a pod, not {phase}"),
                kind => kind.refusal(op, phase),
            });
        }
        if scope.count.is_some_and(|n| self.used >= n) {
            return Err(format!("{op} refused: the {} grant allows {} call(s), all used", self.grant.kind.as_str(), scope.count.unwrap_or(0)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(grant: Grant) -> Held {
        Held { id: "cap:x".into(), grant, used: 0 }
    }

    #[test]
    fn a_grant_allows_only_its_ops_in_its_phase_as_often_as_it_says() {
        let mut p = held(Grant::provision("P10", Actor::new("policy", "--yes"), "flag:--yes"));
        assert_eq!(p.allows("provision", "P10"), Ok(()));
        assert!(p.allows("provision", "P40").unwrap_err().contains("only P10 may create a pod, not P40"));
        assert!(p.allows("exec", "P10").is_err());
        p.used = 1;
        assert!(p.allows("provision", "P10").unwrap_err().contains("all used"));
        let d = held(Grant::delete("pod-1", "P90"));
        assert_eq!(d.allows("delete-pod", "P90"), Ok(()));
        assert!(d.allows("delete-pod", "P40").unwrap_err().contains("only in P90 with --teardown delete (Law 7)"));
        let t = held(Grant::target("pod-1", "explicit"));
        for op in TARGET_OPS {
            assert_eq!(t.allows(op, "P70"), Ok(()), "{op}");
        }
        assert!(t.allows("delete-pod", "P90").is_err(), "the target grant never deletes");
    }

    #[test]
    fn scopes_are_recorded_as_before() {
        let scope = |g: Grant| serde_json::to_value(g.scope).unwrap();
        assert_eq!(scope(Grant::provision("P10", Actor::new("user", "tty"), "consent")), serde_json::json!({"ops": ["provision"], "count": 1, "phase": "P10"}));
        assert_eq!(
            scope(Grant::target("t", "explicit")),
            serde_json::json!({"target": "t", "source": "explicit", "ops": ["pod-status", "resolve-path", "exec", "put-file", "get-file", "fetch-dir"]})
        );
        assert_eq!(scope(Grant::delete("t", "P90")), serde_json::json!({"target": "t", "ops": ["delete-pod"], "phase": "P90"}));
        assert_eq!(GrantKind::of_op("delete-pod"), GrantKind::Delete);
        assert_eq!(GrantKind::of_op("exec"), GrantKind::Target);
    }
}
