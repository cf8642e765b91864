//! The rules of the constitutional auditor.
//!
//! [`audit`] judges one phase's evidence pack against the laws applicable to it
//! (`pack.applicable-laws`); a law that does not apply to the phase is never judged. Each rule is
//! tied to one law:
//!
//! | law | rule |
//! | --- | --- |
//! | L5 | required pack fields present; `outcome.phase == pack.phase`; ok/skip carry code 0, fail carries a code of the phase's family that exists in codes.toml; P50/P60 ok report their facts; P70 counts add up |
//! | L1 | `config-sha256 == config-sha256-at-start` |
//! | L9 | config `WF_PHASE_COURT_ENFORCE` is `1`; the deterministic validator passed |
//! | L3 | after P20: the phase target is the bound target, chosen `explicit` or `autobind`; P10 does not create a pod when LIUM_TARGET is set |
//! | L4 | a P10 that created a pod had consent (the pack's `consent`) |
//! | L7 | P90: `deleted=true` exactly when `--teardown delete` asked for it |
//!
//! Odd input (missing facts, non-numeric counts, unknown phases) is a finding, never a panic.
//! The auditor answers `unverified` only when it cannot judge at all: a constitution version it
//! does not implement, an applicable law whose text the request lacks, or a broken build.

use crate::model::{AuditRequest, EvidencePack, PhaseStatus, ProvisionMode, TeardownMode};
use crate::table::{self, Tables};
use wfhost_pack_sdk::kv::{get, parse_bool};
use wfhost_pack_sdk::verdict::{VerdictBuilder, VerdictParts};

/// The constitution version these rules implement.
pub const CONSTITUTION_VERSION: u32 = 1;

/// Laws this auditor has machine rules for.
const JUDGED_LAWS: &[&str] = &["L1", "L3", "L4", "L5", "L7", "L9"];

/// Judge one phase with the embedded constitution tables.
pub fn audit(request: &AuditRequest) -> VerdictParts {
    match table::embedded() {
        Ok(tables) => audit_with(request, tables),
        Err(e) => {
            let mut v = VerdictBuilder::new();
            v.undecided(format!(
                "The auditor's embedded constitution is unusable: {e}."
            ));
            v.fallback_remedy(
                "Rebuild wfhost from a tree whose constitution/*.toml parse, then rerun the flow.",
            );
            v.build()
        }
    }
}

/// Judge one phase against the given tables.
pub fn audit_with(request: &AuditRequest, tables: &Tables) -> VerdictParts {
    let pack = &request.pack;
    let mut v = VerdictBuilder::new();
    add_remedies(&mut v);

    if pack.constitution_version != CONSTITUTION_VERSION {
        v.undecided(format!(
            "The pack is judged under constitution version {} but this auditor implements version {}.",
            pack.constitution_version, CONSTITUTION_VERSION
        ));
    }

    let mut applicable: Vec<&str> = Vec::new();
    for law in &pack.applicable_laws {
        let law = law.trim();
        if !law.is_empty() && !applicable.contains(&law) {
            applicable.push(law);
        }
    }
    for law in &applicable {
        if !request.laws.iter().any(|l| l.id == *law) {
            v.undecided(format!(
                "Law {law} applies to {} but the request carries no text for it.",
                display(&pack.phase)
            ));
        }
    }

    let phase = Phase::parse(&pack.phase);
    let applies = |law: &str| applicable.contains(&law);
    if applies("L5") {
        check_required_fields(pack, tables, &mut v);
        check_outcome_code(pack, tables, &mut v);
        check_phase_facts(pack, phase, &mut v);
    }
    if applies("L1") {
        check_config_continuity(pack, &mut v);
    }
    if applies("L9") {
        check_court(pack, &mut v);
    }
    if applies("L3") {
        check_target(pack, phase, &mut v);
    }
    if applies("L4") {
        check_consent(pack, phase, &mut v);
    }
    if applies("L7") {
        check_teardown(pack, phase, &mut v);
    }

    let judged: Vec<&str> = applicable
        .iter()
        .copied()
        .filter(|l| JUDGED_LAWS.contains(l))
        .collect();
    let unjudged: Vec<&str> = applicable
        .iter()
        .copied()
        .filter(|l| !JUDGED_LAWS.contains(l))
        .collect();
    let mut note = format!(
        "{} judged against {}",
        display(&pack.phase),
        if judged.is_empty() {
            "no law this auditor has rules for".to_string()
        } else {
            judged.join(", ")
        }
    );
    if !unjudged.is_empty() {
        note.push_str(&format!(
            "; {} left to the deterministic validator",
            unjudged.join(", ")
        ));
    }
    note.push('.');
    v.note(note);
    v.fallback_remedy(
        "Read the phase evidence in the flow directory and rerun the phase once it is fixed.",
    );
    v.build()
}

fn add_remedies(v: &mut VerdictBuilder) {
    v.remedy(
        "L1",
        "Restore infra_scripts/workflow.env to the content hashed in P00, or start a new flow with the new config.",
    );
    v.remedy(
        "L3",
        "Keep the target bound in P20 for the whole flow; to use another target, start a new flow with LIUM_TARGET set.",
    );
    v.remedy("L4", "Give consent to create a pod with --yes (or LIUM_YES=1), or set LIUM_TARGET and use --provision skip.");
    v.remedy(
        "L5",
        "Make the phase outcome match its contract in constitution/phases.toml (code of the phase's family, required facts) and rerun the phase.",
    );
    v.remedy(
        "L7",
        "Delete pods only with an explicit --teardown delete; check the pod with `wfhost pod-status` and rerun teardown with the flag you mean.",
    );
    v.remedy(
        "L9",
        "Keep WF_PHASE_COURT_ENFORCE=1 and fix what the deterministic validator reported in phase.<Pxx>.deterministic.json.",
    );
}

/// A phase ID split into its number (`P50` -> 50), when it has the `Pdd` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Phase(Option<u32>);

impl Phase {
    fn parse(id: &str) -> Self {
        let digits = id
            .strip_prefix('P')
            .filter(|d| d.len() == 2 && d.bytes().all(|b| b.is_ascii_digit()));
        Phase(digits.and_then(|d| d.parse().ok()))
    }

    fn is(self, n: u32) -> bool {
        self.0 == Some(n)
    }

    fn after_bind(self) -> bool {
        self.0.is_some_and(|n| n > 20)
    }
}

fn display(s: &str) -> String {
    if s.is_empty() {
        "the phase".to_string()
    } else {
        s.to_string()
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn fact<'a>(pack: &'a EvidencePack, key: &str) -> Option<&'a str> {
    get(&pack.outcome.facts, key)
}

// ---------------------------------------------------------------- L5

fn check_required_fields(pack: &EvidencePack, tables: &Tables, v: &mut VerdictBuilder) {
    if pack.flow_id.trim().is_empty() {
        v.fail("L5", "pack.flow-id", "The evidence pack has no flow ID.");
    }
    if pack.phase.trim().is_empty() {
        v.fail("L5", "pack.phase", "The evidence pack names no phase.");
    } else if tables.phase(&pack.phase).is_none() {
        v.fail(
            "L5",
            "pack.phase",
            format!("Phase {:?} is not in constitution/phases.toml.", pack.phase),
        );
    }
    for (r, value) in [
        ("pack.config-sha256-at-start", &pack.config_sha256_at_start),
        ("pack.config-sha256", &pack.config_sha256),
    ] {
        if value.trim().is_empty() {
            v.fail("L5", r, format!("The evidence pack has no {}.", &r[5..]));
        } else if !is_hex(value, 64) {
            v.fail(
                "L5",
                r,
                format!("{} is {value:?}, not a hex sha256.", &r[5..]),
            );
        }
    }
    if pack.transport.trim().is_empty() {
        v.fail(
            "L5",
            "pack.transport",
            "The evidence pack names no transport.",
        );
    }
    if pack.outcome.phase != pack.phase {
        v.fail(
            "L5",
            "outcome.phase",
            format!(
                "The outcome reports phase {:?} but the pack is for phase {:?}.",
                pack.outcome.phase, pack.phase
            ),
        );
    }
}

fn check_outcome_code(pack: &EvidencePack, tables: &Tables, v: &mut VerdictBuilder) {
    let o = &pack.outcome;
    match o.status {
        PhaseStatus::Ok | PhaseStatus::Skip => {
            if o.code != 0 {
                v.fail(
                    "L5",
                    "outcome.code",
                    format!(
                        "Status {} must carry code 0, found {}.",
                        o.status.as_str(),
                        o.code
                    ),
                );
            }
        }
        PhaseStatus::Fail => {
            if o.code == 0 {
                v.fail(
                    "L5",
                    "outcome.code",
                    "Status fail must carry a non-zero failure code, found 0.",
                );
                return;
            }
            if let Some(info) = tables.phase(&pack.phase) {
                if o.code / 100 != info.family {
                    v.fail(
                        "L5",
                        "outcome.code",
                        format!(
                            "Code {} is in family {} but {} ({}) fails with codes of family {}.",
                            o.code,
                            o.code / 100,
                            pack.phase,
                            info.name,
                            info.family
                        ),
                    );
                }
            }
            if tables.code_name(o.code).is_none() {
                v.fail(
                    "L5",
                    "outcome.code",
                    format!("Code {} is not defined in constitution/codes.toml.", o.code),
                );
            }
        }
    }
}

fn require_fact(pack: &EvidencePack, key: &str, v: &mut VerdictBuilder) -> Option<String> {
    match fact(pack, key).map(str::trim) {
        Some(val) if !val.is_empty() => Some(val.to_string()),
        _ => {
            v.fail(
                "L5",
                &format!("facts.{key}"),
                format!("{} reported ok without the fact {key}.", pack.phase),
            );
            None
        }
    }
}

fn check_phase_facts(pack: &EvidencePack, phase: Phase, v: &mut VerdictBuilder) {
    let ok = pack.outcome.status == PhaseStatus::Ok;
    if phase.is(50) && ok {
        require_fact(pack, "repo_url", v);
        require_fact(pack, "ref", v);
        if let Some(commit) = require_fact(pack, "commit", v) {
            if !(is_hex(&commit, 40) || is_hex(&commit, 64)) {
                v.fail(
                    "L5",
                    "facts.commit",
                    format!("The commit {commit:?} is not a full hex object ID."),
                );
            }
        }
    }
    if phase.is(60) && ok {
        if let Some(sha) = require_fact(pack, "manifest_sha256", v) {
            if !is_hex(&sha, 64) {
                v.fail(
                    "L5",
                    "facts.manifest_sha256",
                    format!("manifest_sha256 {sha:?} is not a hex sha256."),
                );
            }
        }
        if let Some(n) = require_fact(pack, "runs_selected", v) {
            if n.parse::<u64>().is_err() {
                v.fail(
                    "L5",
                    "facts.runs_selected",
                    format!("runs_selected {n:?} is not a count."),
                );
            }
        }
    }
    if phase.is(70) {
        check_monitor_counts(pack, ok, v);
    }
}

/// P70: total = ok + failed + running + pending (failed may include lost), or the same plus lost
/// when lost is counted apart.
fn check_monitor_counts(pack: &EvidencePack, required: bool, v: &mut VerdictBuilder) {
    const KEYS: [&str; 5] = ["total", "ok", "failed", "running", "pending"];
    let present = KEYS.iter().any(|k| fact(pack, k).is_some());
    if !required && !present {
        return;
    }
    let mut values = [0u64; 5];
    let mut complete = true;
    for (i, key) in KEYS.iter().enumerate() {
        match fact(pack, key).map(str::trim) {
            None => {
                complete = false;
                if required {
                    v.fail(
                        "L5",
                        &format!("facts.{key}"),
                        format!("P70 reported ok without the count {key}."),
                    );
                }
            }
            Some(text) => match text.parse::<u64>() {
                Ok(n) => values[i] = n,
                Err(_) => {
                    complete = false;
                    v.fail(
                        "L5",
                        &format!("facts.{key}"),
                        format!("The count {key} is {text:?}, not a number."),
                    );
                }
            },
        }
    }
    let lost = match fact(pack, "lost").map(str::trim) {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                v.fail(
                    "L5",
                    "facts.lost",
                    format!("The count lost is {text:?}, not a number."),
                );
                return;
            }
        },
    };
    if !complete {
        return;
    }
    let [total, okc, failed, running, pending] = values;
    let parts = okc
        .checked_add(failed)
        .and_then(|s| s.checked_add(running))
        .and_then(|s| s.checked_add(pending));
    let adds_up = match parts {
        None => false,
        Some(sum) => sum == total || lost.and_then(|l| sum.checked_add(l)) == Some(total),
    };
    if !adds_up {
        v.fail(
            "L5",
            "facts.total",
            format!(
                "The counts do not add up: total {total} but ok {okc} + failed {failed} + running {running} + pending {pending}{}.",
                lost.map(|l| format!(" (+ lost {l})")).unwrap_or_default()
            ),
        );
    }
    if fact(pack, "complete").and_then(parse_bool) == Some(true) && (running > 0 || pending > 0) {
        v.fail(
            "L5",
            "facts.complete",
            format!(
                "The sweep is reported complete with {running} running and {pending} pending runs."
            ),
        );
    }
}

// ---------------------------------------------------------------- L1

fn check_config_continuity(pack: &EvidencePack, v: &mut VerdictBuilder) {
    if pack.config_sha256 != pack.config_sha256_at_start {
        v.fail(
            "L1",
            "pack.config-sha256",
            format!(
                "The config sha256 changed during the run: {} at start, {} now.",
                short(&pack.config_sha256_at_start),
                short(&pack.config_sha256)
            ),
        );
    }
}

fn short(s: &str) -> String {
    if s.is_empty() {
        "(none)".to_string()
    } else {
        s.chars().take(12).collect()
    }
}

// ---------------------------------------------------------------- L9

fn check_court(pack: &EvidencePack, v: &mut VerdictBuilder) {
    match get(&pack.config, "WF_PHASE_COURT_ENFORCE").map(str::trim) {
        Some("1") => {}
        Some(other) => {
            v.fail(
                "L9",
                "config.WF_PHASE_COURT_ENFORCE",
                format!("WF_PHASE_COURT_ENFORCE is {other:?}; the court cannot be switched off."),
            );
        }
        None => {
            v.fail(
                "L9",
                "config.WF_PHASE_COURT_ENFORCE",
                "The config in the pack does not record WF_PHASE_COURT_ENFORCE=1.",
            );
        }
    }
    if !pack.deterministic_pass {
        let findings: Vec<&str> = pack
            .deterministic_findings
            .iter()
            .map(String::as_str)
            .take(3)
            .collect();
        v.fail(
            "L9",
            "pack.deterministic-pass",
            if findings.is_empty() {
                "The deterministic validator did not pass this phase.".to_string()
            } else {
                format!(
                    "The deterministic validator did not pass this phase: {}.",
                    findings.join("; ")
                )
            },
        );
    }
}

// ---------------------------------------------------------------- L3

fn check_target(pack: &EvidencePack, phase: Phase, v: &mut VerdictBuilder) {
    if phase.after_bind() {
        if let (Some(bound), Some(acted)) = (&pack.bound_target, &pack.phase_target) {
            if bound != acted {
                v.fail(
                    "L3",
                    "pack.phase-target",
                    format!(
                        "{} acted on target {acted:?} but the flow is bound to {bound:?}.",
                        pack.phase
                    ),
                );
            }
        }
        if !matches!(pack.target_source.as_str(), "explicit" | "autobind") {
            v.fail(
                "L3",
                "pack.target-source",
                format!(
                    "After P20 the target must be bound explicit or autobind, found {:?}.",
                    pack.target_source
                ),
            );
        }
    }
    if phase.is(10) && pack.outcome.status == PhaseStatus::Ok {
        let explicit = get(&pack.config, "LIUM_TARGET")
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if let (Some(explicit), Some(created)) = (explicit, fact(pack, "target")) {
            v.fail(
                "L3",
                "facts.target",
                format!("P10 created pod {created:?} although LIUM_TARGET={explicit:?} is set and takes precedence."),
            );
        }
    }
}

// ---------------------------------------------------------------- L4

fn check_consent(pack: &EvidencePack, phase: Phase, v: &mut VerdictBuilder) {
    if !phase.is(10) || pack.outcome.status != PhaseStatus::Ok {
        return;
    }
    let auto = pack.flow_flags.provision == ProvisionMode::Auto;
    let created = fact(pack, "target").is_some_and(|t| !t.trim().is_empty());
    if !(auto || created) {
        return;
    }
    if !pack.consent {
        v.fail(
            "L4",
            "flags.consent",
            "P10 provisioned a pod without consent (P00 recorded none).",
        );
    }
}

// ---------------------------------------------------------------- L7

fn check_teardown(pack: &EvidencePack, phase: Phase, v: &mut VerdictBuilder) {
    if !phase.is(90) {
        return;
    }
    let teardown = pack.flow_flags.teardown;
    let deleted = match fact(pack, "deleted").map(str::trim) {
        None => {
            if pack.outcome.status == PhaseStatus::Ok {
                v.fail(
                    "L7",
                    "facts.deleted",
                    "P90 reported ok without the fact deleted=true|false.",
                );
            }
            None
        }
        Some(text) => match parse_bool(text) {
            Some(b) => Some(b),
            None => {
                v.fail(
                    "L7",
                    "facts.deleted",
                    format!("The fact deleted is {text:?}, not true or false."),
                );
                return;
            }
        },
    };
    if deleted == Some(true) && teardown != TeardownMode::Delete {
        v.fail(
            "L7",
            "facts.deleted",
            format!("The pod was deleted although teardown={teardown}; pods are deleted only with --teardown delete."),
        );
    }
    if teardown == TeardownMode::Delete && pack.outcome.status == PhaseStatus::Ok && deleted == Some(false) {
        v.fail(
            "L7",
            "facts.deleted",
            "Teardown=delete reported ok but the pod was not deleted (deleted=false).",
        );
    }
}

#[cfg(test)]
mod tests;
