//! The deterministic validator: the named checks of `constitution/checks.toml`, in Rust.
//!
//! `phases.toml` lists, per phase, which checks run before (`pre`) and after (`post`) it. The
//! engine gathers the facts a check needs into a [`Facts`] snapshot; [`run`] evaluates each
//! named check against it and returns one [`CheckResult`] per name. A name this build does not
//! implement fails (fail-closed), and a test asserts every name in the table is implemented.

use wfhost_config::flags::{Flags, Teardown};
use wfhost_constitution::{Code, Constitution, Phase};

pub use wfhost_audit::records::{CheckRecord as CheckResult, Stage};

/// Everything the checks look at, gathered by the engine. Plain data, so checks are pure.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The outcome was written and parsed back (post only).
    pub outcome_recorded: Option<Result<(), String>>,
    /// Outcome status (`ok`, `skip`, `fail`) and code (post only).
    pub status: String,
    /// Outcome code.
    pub code: u16,
    /// Outcome facts as key/value pairs.
    pub outcome_facts: Vec<(String, String)>,
    /// sha256 of the config at P00 and now.
    pub config_sha_start: String,
    /// Now (`None` = could not be read).
    pub config_sha_now: Option<String>,
    /// WF_PHASE_COURT_ENFORCE as configured.
    pub court_enforce: Option<String>,
    /// Problems with flags (empty = legal).
    pub flag_problems: Vec<String>,
    /// Whether a pod will be / was created, and whether consent was given.
    pub provision_needed: bool,
    /// Consent given (terminal, LIUM_YES, --yes).
    pub consent: bool,
    /// The bound target.
    pub bound_target: Option<String>,
    /// Calls the phase made (or tried) against another target.
    pub drift: Vec<String>,
    /// Calls the gateway refused in this phase (outside the phase's capabilities), each
    /// with the gateway's reason.
    pub refused: Vec<String>,
    /// FSM before and after the phase.
    pub fsm_before: String,
    /// FSM after.
    pub fsm_after: String,
    /// What the remote state file holds after the phase (`None` = not applicable).
    pub remote_state: Option<Result<String, String>>,
    /// Artifacts the phase listed: (name, problem if any).
    pub artifacts: Vec<(String, Option<String>)>,
    /// The flow's flags.
    pub flags: Flags,
}

impl Facts {
    fn fact(&self, key: &str) -> Option<&str> {
        self.outcome_facts.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Run `names` (from the phase table) against `facts`.
pub fn run(
    c: &Constitution,
    phase: &Phase,
    stage: Stage,
    names: &[String],
    facts: &Facts,
) -> Vec<CheckResult> {
    names
        .iter()
        .map(|name| {
            let (pass, finding) = match evaluate(c, phase, name, facts) {
                Some(r) => r,
                None => (false, format!("check {name} is named in phases.toml but not implemented")),
            };
            CheckResult { check: name.clone(), stage, pass, finding }
        })
        .collect()
}

/// Whether this build implements a check name.
pub fn implemented(c: &Constitution, name: &str) -> bool {
    c.phases.first().is_some_and(|p| evaluate(c, p, name, &Facts::default()).is_some())
}

fn evaluate(c: &Constitution, phase: &Phase, name: &str, f: &Facts) -> Option<(bool, String)> {
    let yes = |s: String| (true, s);
    let no = |s: String| (false, s);
    Some(match name {
        "outcome_recorded" => match &f.outcome_recorded {
            Some(Ok(())) => {
                let family = phase.family;
                match f.status.as_str() {
                    "ok" | "skip" if f.code == 0 => yes(format!("status {} code 0", f.status)),
                    "fail" if Code::from_u16(f.code).is_some_and(|k| k.family() == family) => {
                        // A well-formed failure is recorded correctly; the court still fails
                        // the phase because its status is fail, but no law was broken.
                        yes(format!("failure recorded with code {}", f.code))
                    }
                    other => no(format!(
                        "status {other} with code {} does not fit family {family}xx",
                        f.code
                    )),
                }
            }
            Some(Err(e)) => no(format!("outcome not recorded: {e}")),
            None => no("outcome not recorded".into()),
        },
        "config_unchanged" => match &f.config_sha_now {
            Some(now) if *now == f.config_sha_start => yes(format!("sha256 {now}")),
            Some(now) => no(format!(
                "config changed during the run: {} at P00, {now} now",
                f.config_sha_start
            )),
            None => no("config could not be re-read to compare its sha256".into()),
        },
        "court_enforced" => match f.court_enforce.as_deref() {
            Some("1") => yes("WF_PHASE_COURT_ENFORCE=1".into()),
            other => no(format!("WF_PHASE_COURT_ENFORCE={}", other.unwrap_or("<unset>"))),
        },
        "flags_legal" => {
            if f.flag_problems.is_empty() {
                yes("flags are legal".into())
            } else {
                no(f.flag_problems.join("; "))
            }
        }
        "consent_for_provision" => match (f.provision_needed, f.consent) {
            (false, _) => yes("no pod will be created".into()),
            (true, true) => yes("consent given".into()),
            (true, false) => no("a pod would be created without consent".into()),
        },
        "pod_reported_when_ok" => {
            if !f.ok() {
                yes(format!("status {}", f.status))
            } else {
                match (f.fact("target"), f.fact("transport")) {
                    (Some(t), Some(tr)) if !t.is_empty() && !tr.is_empty() => {
                        yes(format!("pod {t} on {tr}"))
                    }
                    _ => no("provision succeeded without reporting target and transport".into()),
                }
            }
        }
        "artifacts_exist" => {
            let bad: Vec<String> = f
                .artifacts
                .iter()
                .filter_map(|(n, p)| p.as_ref().map(|p| format!("{n}: {p}")))
                .collect();
            if bad.is_empty() {
                yes(format!("{} artifact(s) present", f.artifacts.len()))
            } else {
                no(bad.join("; "))
            }
        }
        "target_bound" => match &f.bound_target {
            Some(t) => yes(format!("bound to {t}")),
            None => no("no target is bound".into()),
        },
        "target_unchanged" => {
            if f.drift.is_empty() {
                yes(format!("acted only on {}", f.bound_target.as_deref().unwrap_or("<none>")))
            } else {
                no(format!("acted or tried to act on another target: {}", f.drift.join("; ")))
            }
        }
        "calls_within_capability" => {
            if f.refused.is_empty() {
                yes("the gateway refused no call".into())
            } else {
                no(format!("the gateway refused {} call(s): {}", f.refused.len(), f.refused.join("; ")))
            }
        }
        "fsm_transition_legal" => {
            if f.fsm_before == f.fsm_after {
                yes(format!("stayed {}", f.fsm_after))
            } else if !c.fsm_allows(&f.fsm_before, &f.fsm_after) {
                no(format!("{} -> {} is not in fsm.toml", f.fsm_before, f.fsm_after))
            } else if f.ok()
                && !phase.fsm_ok.iter().any(|s| *s == f.fsm_after)
            {
                no(format!("{} may not move the FSM to {}", phase.id, f.fsm_after))
            } else {
                yes(format!("{} -> {}", f.fsm_before, f.fsm_after))
            }
        }
        "remote_state_written" => match &f.remote_state {
            None => yes("no remote state change".into()),
            Some(Ok(s)) if *s == f.fsm_after => yes(format!("remote state {s}")),
            Some(Ok(s)) => no(format!("remote state is {s}, expected {}", f.fsm_after)),
            Some(Err(e)) => no(format!("remote state unreadable: {e}")),
        },
        "fsm_pod_ready" => fsm_floor(c, f, "POD_READY"),
        "fsm_bootstrapped" => fsm_floor(c, f, "BOOTSTRAPPED"),
        "fsm_checked_out" => fsm_floor(c, f, "CHECKED_OUT"),
        "checkout_facts_when_ok" => required_facts(f, &["repo_url", "ref", "commit"]),
        "sweep_facts_when_ok" => required_facts(f, &["manifest_sha256", "runs_selected"]),
        "monitor_counts_when_ok" => {
            if !f.ok() {
                yes(format!("status {}", f.status))
            } else {
                let n = |k: &str| f.fact(k).and_then(|v| v.parse::<u64>().ok());
                match (n("total"), n("ok"), n("failed"), n("running"), n("pending")) {
                    (Some(t), Some(o), Some(fl), Some(r), Some(p)) => {
                        let lost = n("lost").unwrap_or(0);
                        if o + fl + r + p + lost == t {
                            yes(format!("total {t}: ok {o}, failed {fl}, running {r}, pending {p}, lost {lost}"))
                        } else {
                            no(format!("counts do not add up to total {t}"))
                        }
                    }
                    _ => no("monitor did not report total, ok, failed, running, pending".into()),
                }
            }
        }
        "teardown_matches_flag" => {
            let deleted = f.fact("deleted");
            match (f.flags.teardown, f.status.as_str(), deleted) {
                (_, "fail", _) => yes("teardown failed; its code says why".into()),
                (Teardown::Keep, _, Some("true")) => {
                    no("pod deleted although --teardown keep".into())
                }
                (Teardown::Keep, _, _) => yes("pod kept".into()),
                (Teardown::Delete, _, Some("true")) => yes("pod deleted as asked".into()),
                (Teardown::Delete, _, _) => no("--teardown delete but the pod was not deleted".into()),
            }
        }
        _ => return None,
    })
}

fn fsm_floor(c: &Constitution, f: &Facts, floor: &str) -> (bool, String) {
    if c.fsm_at_least(&f.fsm_before, floor) {
        (true, format!("FSM {} is at or past {floor}", f.fsm_before))
    } else {
        (false, format!("FSM is {}, the phase needs {floor} or later", f.fsm_before))
    }
}

fn required_facts(f: &Facts, keys: &[&str]) -> (bool, String) {
    if !f.ok() {
        return (true, format!("status {}", f.status));
    }
    let missing: Vec<&str> =
        keys.iter().copied().filter(|k| f.fact(k).is_none_or(str::is_empty)).collect();
    if missing.is_empty() {
        (true, format!("reported {}", keys.join(", ")))
    } else {
        (false, format!("missing facts: {}", missing.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfhost_constitution::codes;

    #[test]
    fn every_check_in_the_table_is_implemented_and_described() {
        let c = Constitution::get().unwrap();
        for p in &c.phases {
            for name in p.pre.iter().chain(&p.post) {
                assert!(implemented(c, name), "{} names {name}, which is not implemented", p.id);
            }
        }
        for name in c.checks.keys() {
            assert!(implemented(c, name), "checks.toml describes {name}, which is not implemented");
        }
    }

    #[test]
    fn unknown_check_fails_closed() {
        let c = Constitution::get().unwrap();
        let p = c.phase("P30").unwrap();
        let r = run(c, p, Stage::Post, &["no_such_check".into()], &Facts::default());
        assert!(!r[0].pass);
        assert!(r[0].finding.contains("not implemented"));
    }

    #[test]
    fn config_drift_and_target_drift_fail() {
        let c = Constitution::get().unwrap();
        let p = c.phase("P50").unwrap();
        let f = Facts {
            config_sha_start: "aa".into(),
            config_sha_now: Some("bb".into()),
            drift: vec!["exec on other-pod".into()],
            ..Facts::default()
        };
        let r = run(c, p, Stage::Post, &["config_unchanged".into(), "target_unchanged".into()], &f);
        assert!(r.iter().all(|r| !r.pass), "{r:?}");
    }

    #[test]
    fn fsm_transition_must_be_listed_and_allowed_for_the_phase() {
        let c = Constitution::get().unwrap();
        let p = c.phase("P40").unwrap();
        let mut f = Facts {
            status: "ok".into(),
            fsm_before: "POD_READY".into(),
            fsm_after: "BOOTSTRAPPED".into(),
            ..Facts::default()
        };
        let names = vec!["fsm_transition_legal".to_string()];
        assert!(run(c, p, Stage::Post, &names, &f)[0].pass);
        f.fsm_after = "SWEEP_COMPLETED".into();
        assert!(!run(c, p, Stage::Post, &names, &f)[0].pass);
        f.fsm_before = "INIT".into();
        f.fsm_after = "CHECKED_OUT".into();
        assert!(!run(c, p, Stage::Post, &names, &f)[0].pass);
    }

    #[test]
    fn teardown_must_match_the_flag() {
        let c = Constitution::get().unwrap();
        let p = c.phase("P90").unwrap();
        let names = vec!["teardown_matches_flag".to_string()];
        let mut f = Facts { status: "ok".into(), ..Facts::default() };
        f.outcome_facts = vec![("deleted".into(), "true".into())];
        assert!(!run(c, p, Stage::Post, &names, &f)[0].pass, "keep + deleted must fail");
        f.flags.teardown = Teardown::Delete;
        assert!(run(c, p, Stage::Post, &names, &f)[0].pass);
        f.outcome_facts = vec![("deleted".into(), "false".into())];
        assert!(!run(c, p, Stage::Post, &names, &f)[0].pass);
    }

    #[test]
    fn outcome_recorded_checks_the_code_family() {
        let c = Constitution::get().unwrap();
        let p = c.phase("P50").unwrap();
        let names = vec!["outcome_recorded".to_string()];
        let mut f = Facts { outcome_recorded: Some(Ok(())), status: "fail".into(), code: codes::CHECKOUT_DIRTY.get(), ..Facts::default() };
        assert!(run(c, p, Stage::Post, &names, &f)[0].pass, "a well-formed failure is recorded");
        f.code = codes::RUNS_FAILED.get(); // wrong family
        assert!(run(c, p, Stage::Post, &names, &f)[0].finding.contains("family"));
        f.status = "ok".into();
        f.code = 0;
        assert!(run(c, p, Stage::Post, &names, &f)[0].pass);
    }
}
