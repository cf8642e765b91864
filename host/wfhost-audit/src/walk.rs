//! The walk over a flow's records, in log order, for `wfhost verify`.
//!
//! [`Walk::run`] replays the flow's decisions from `events.jsonl` and checks that they obey the
//! constitution: the log starts with `flow.started`; phases start in the order of the
//! command's phase list, which follows `constitution/phases.toml`; each phase records outcome,
//! deterministic result, auditors' result and verdict once each, in that order; the verdict
//! follows the court's rules (court = deterministic pass AND constitutional pass, its code, the
//! laws of failed checks); nothing starts after a failing verdict; FSM transitions continue
//! from the state before them; phases after P20 run on the bound target; capabilities are
//! granted before use, used within scope and while in force; provisioning follows a consent;
//! receipts match calls; `flow.halted` names its cause (the court, an internal failure such
//! as an evidence write that failed, or a signal) and the summary's exit status follows from it;
//! `evidence.write_failed` records are collected, so a file the flow could not write is told from
//! a file removed later; `flow.summary` is last and agrees with what came before. What it
//! learns (each phase's records, the transitions, the header, the grants) indexes the log for
//! the file checks in `files`.

use super::pstr;
use crate::decision::{self, OutcomeView};
use crate::layout::{rel_phase_file, PhaseFile};
use crate::records::{self, ConstitutionalRecord, DeterministicRecord, PassFail, PhaseOutcomeRecord, PhaseStatus, VerdictRecord};
use super::verify::{FailureKind, VerifyFailure};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use wfhost_constitution::{Constitution, PhaseId};
use wfhost_evidence::Envelope;
/// One phase's records (indices into the log).
#[derive(Debug, Clone)]
pub(super) struct PhaseRun {
    pub(super) id: String,
    pub(super) outcome: Option<usize>,
    pub(super) det: Option<usize>,
    pub(super) auditor: Option<usize>,
    pub(super) verdict: Option<usize>,
    pub(super) transition: Option<usize>,
}

/// A capability as the records issued it.
#[derive(Debug, Clone)]
struct Cap {
    scope: Value,
    ended: Option<(usize, &'static str)>,
    uses: BTreeMap<String, u64>,
}

/// The state of the walk over the records; after [`Walk::run`] it indexes the log for the
/// file checks.
pub(super) struct Walk<'a> {
    pub(super) c: &'static Constitution,
    events: &'a [Envelope],
    plan: Vec<String>,
    pub(super) phases: Vec<PhaseRun>,
    /// The failing verdict (phase, code), if any.
    halted: Option<(String, u64)>,
    halted_record: Option<usize>,
    fsm: String,
    pub(super) transitions: Vec<usize>,
    bound: Value,
    caps: BTreeMap<String, Cap>,
    pub(super) consents: Vec<(usize, String)>,
    /// (record, phase index) of every receipt and gateway.call.
    receipts: Vec<(usize, usize)>,
    calls: Vec<(usize, usize)>,
    headers: Vec<(usize, String, String)>,
    pub(super) plugins: Option<usize>,
    pub(super) summary: Option<usize>,
    pub(super) warnings: BTreeSet<String>,
    /// Every `evidence.write_failed` record: (record, what it says).
    pub(super) write_failures: Vec<(usize, records::EvidenceWriteFailed)>,
}

impl<'a> Walk<'a> {
    pub(super) fn new(c: &'static Constitution, events: &'a [Envelope]) -> Walk<'a> {
        Walk {
            c,
            events,
            plan: Vec::new(),
            phases: Vec::new(),
            halted: None,
            halted_record: None,
            fsm: c.fsm.initial.clone(),
            transitions: Vec::new(),
            bound: Value::Null,
            caps: BTreeMap::new(),
            consents: Vec::new(),
            receipts: Vec::new(),
            calls: Vec::new(),
            headers: Vec::new(),
            plugins: None,
            summary: None,
            warnings: BTreeSet::new(),
            write_failures: Vec::new(),
        }
    }

    pub(super) fn run(&mut self) -> Result<(), VerifyFailure> {
        let events = self.events;
        if let Some(first) = events.first() {
            if first.event_type != "flow.started" {
                return Err(VerifyFailure::record(FailureKind::Order, first, "event_type", format!(
                    "a flow's log starts with flow.started, this one with {}", first.event_type
                )));
            }
        }
        for (i, e) in events.iter().enumerate() {
            if self.summary.is_some() {
                return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", format!(
                    "{} comes after the flow.summary record, which is always the last", e.event_type
                )));
            }
            self.step(i, e)?;
        }
        self.after()
    }

    fn cur(&self, e: &Envelope) -> Result<usize, VerifyFailure> {
        match self.phases.len() {
            0 => Err(VerifyFailure::record(FailureKind::Order, e, "event_type", format!(
                "{} before any phase.started record", e.event_type
            ))),
            n => Ok(n - 1),
        }
    }

    /// The phase whose executor is running (started, no outcome yet).
    fn in_window(&self, e: &Envelope) -> Result<usize, VerifyFailure> {
        let p = self.cur(e)?;
        if self.phases[p].outcome.is_some() {
            return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", format!(
                "{} after the outcome of {}: it happens only while a phase runs", e.event_type, self.phases[p].id
            )));
        }
        Ok(p)
    }

    fn step(&mut self, i: usize, e: &Envelope) -> Result<(), VerifyFailure> {
        match e.event_type.as_str() {
            "flow.started" => self.flow_started(i, e),
            "flow.header" => {
                self.headers.push((i, pstr(e, "key").to_string(), pstr(e, "value").to_string()));
                Ok(())
            }
            "plugins.loaded" => {
                self.plugins = Some(i);
                Ok(())
            }
            "phase.started" => self.phase_started(e),
            "phase.outcome" | "court.deterministic" | "court.auditor" | "court.verdict" => self.court_step(i, e),
            "fsm.loaded" => {
                let s = pstr(e, "state");
                if !self.c.fsm.states.iter().any(|st| st.name == s) {
                    return Err(VerifyFailure::record(FailureKind::Order, e, "payload.state", format!(
                        "{s:?} is not a state of constitution/fsm.toml"
                    )));
                }
                self.fsm = s.to_string();
                Ok(())
            }
            "fsm.transition" => {
                let p = self.in_window(e)?;
                self.same_phase(e, p)?;
                let from = pstr(e, "from");
                if from != self.fsm {
                    return Err(VerifyFailure::record(FailureKind::Order, e, "payload.from", format!(
                        "the transition starts from {from}, but the FSM is in {}", self.fsm
                    )));
                }
                let to = pstr(e, "to");
                if !self.c.fsm.states.iter().any(|st| st.name == to) {
                    return Err(VerifyFailure::record(FailureKind::Order, e, "payload.to", format!(
                        "{to:?} is not a state of constitution/fsm.toml"
                    )));
                }
                self.fsm = to.to_string();
                self.phases[p].transition = Some(i);
                self.transitions.push(i);
                Ok(())
            }
            "capability.granted" => self.grant(e),
            "capability.scope_changed" | "capability.revoked" | "capability.expired" => self.cap_change(i, e),
            "consent.given" => {
                self.consents.push((i, pstr(e, "action").to_string()));
                Ok(())
            }
            "gateway.call" => {
                let p = self.in_window(e)?;
                self.use_cap(e, p, true)?;
                self.calls.push((i, p));
                Ok(())
            }
            "gateway.refused" | "artifact.written" => self.in_window(e).map(|_| ()),
            "receipt.side_effect" => {
                let p = self.in_window(e)?;
                self.use_cap(e, p, false)?;
                if pstr(e, "op") == "provision" && !self.consents.iter().any(|(_, a)| a == "provision") {
                    return Err(VerifyFailure::record(FailureKind::Capability, e, "payload.op", format!(
                        "a pod was provisioned in {} without a consent.given record for provision before it (Law 4)",
                        self.phases[p].id
                    )));
                }
                self.receipts.push((i, p));
                Ok(())
            }
            "flow.halted" => self.flow_halted(i, e),
            "evidence.write_failed" => {
                let record: records::EvidenceWriteFailed = typed(e)?;
                self.write_failures.push((i, record));
                Ok(())
            }
            "flow.summary" => self.flow_summary(i, e),
            _ => Ok(()),
        }
    }

    fn flow_started(&mut self, i: usize, e: &Envelope) -> Result<(), VerifyFailure> {
        if i != 0 {
            return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", "a second flow.started record"));
        }
        if pstr(e, "flow_id") != e.correlation_id {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.flow_id", format!(
                "flow {:?} is not the log's flow {:?}", pstr(e, "flow_id"), e.correlation_id
            )));
        }
        let listed: Vec<String> = e
            .payload
            .get("phases")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        // The engine runs the listed phases the constitution defines, in the listed order.
        self.plan = listed.into_iter().filter(|id| self.c.phase(id).is_some()).collect();
        let index = |id: &str| self.c.phases.iter().position(|p| p.id == id);
        if self.plan.windows(2).any(|w| index(&w[0]) >= index(&w[1])) {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.phases", format!(
                "the command's phases {:?} are not in the order of constitution/phases.toml", self.plan
            )));
        }
        Ok(())
    }

    fn phase_started(&mut self, e: &Envelope) -> Result<(), VerifyFailure> {
        let id = pstr(e, "phase");
        if self.c.phase(id).is_none() {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.phase", format!(
                "{id:?} is not a phase of constitution/phases.toml"
            )));
        }
        if let Some((p, code)) = &self.halted {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.phase", format!(
                "{id} starts after the court halted the flow at {p} (code {code}); a flow stops at its first failing verdict"
            )));
        }
        if let Some(last) = self.phases.last() {
            if last.verdict.is_none() {
                return Err(VerifyFailure::record(FailureKind::Order, e, "payload.phase", format!(
                    "{id} starts before the court's verdict on {}", last.id
                )));
            }
        }
        match self.plan.get(self.phases.len()) {
            Some(next) if next == id => {}
            Some(next) => {
                return Err(VerifyFailure::record(FailureKind::Order, e, "payload.phase", format!(
                    "{id} runs where the command's phase list (flow.started) has {next} next"
                )))
            }
            None => {
                return Err(VerifyFailure::record(FailureKind::Order, e, "payload.phase", format!(
                    "{id} runs after every phase of the command's list (flow.started) has run"
                )))
            }
        }
        self.phases.push(PhaseRun {
            id: id.to_string(),
            outcome: None,
            det: None,
            auditor: None,
            verdict: None,
            transition: None,
        });
        Ok(())
    }

    fn same_phase(&self, e: &Envelope, p: usize) -> Result<(), VerifyFailure> {
        let id = pstr(e, "phase");
        if id != self.phases[p].id {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.phase", format!(
                "{} for {id:?} while {} runs", e.event_type, self.phases[p].id
            )));
        }
        Ok(())
    }

    fn court_step(&mut self, i: usize, e: &Envelope) -> Result<(), VerifyFailure> {
        let p = self.cur(e)?;
        self.same_phase(e, p)?;
        let run = self.phases[p].clone();
        let order = |before: &str| {
            VerifyFailure::record(FailureKind::Order, e, "event_type", format!(
                "{} for {} is out of order: each phase records phase.outcome, court.deterministic, court.auditor, \
                 court.verdict once each, in that order ({before})",
                e.event_type, run.id
            ))
        };
        match e.event_type.as_str() {
            "phase.outcome" => {
                if run.outcome.is_some() {
                    return Err(order("a second outcome"));
                }
                self.check_outcome(e, &run)?;
                self.phases[p].outcome = Some(i);
            }
            "court.deterministic" => {
                if run.outcome.is_none() || run.det.is_some() {
                    return Err(order("the outcome must come first, once"));
                }
                self.check_deterministic(e, &run)?;
                self.phases[p].det = Some(i);
            }
            "court.auditor" => {
                if run.det.is_none() || run.auditor.is_some() {
                    return Err(order("the deterministic result must come first, once"));
                }
                check_constitutional(e)?;
                self.phases[p].auditor = Some(i);
            }
            _ => {
                if run.auditor.is_none() || run.verdict.is_some() {
                    return Err(order("the auditors' result must come first, once"));
                }
                self.check_verdict(e, &run)?;
                self.phases[p].verdict = Some(i);
                if pstr(e, "court") != "pass" {
                    let code = e.payload.get("code").and_then(Value::as_u64).unwrap_or(0);
                    self.halted = Some((run.id.clone(), code));
                }
            }
        }
        Ok(())
    }

    fn check_outcome(&mut self, e: &Envelope, run: &PhaseRun) -> Result<(), VerifyFailure> {
        let before = match run.transition {
            Some(t) => pstr(&self.events[t], "from").to_string(),
            None => self.fsm.clone(),
        };
        for (member, want) in [("fsm_before", before), ("fsm_after", self.fsm.clone())] {
            if pstr(e, member) != want {
                return Err(VerifyFailure::record(FailureKind::Order, e, &format!("payload.{member}"), format!(
                    "{} records {member} {:?}, but the FSM records say {want}", run.id, pstr(e, member)
                )));
            }
        }
        let target = e.payload.get("target").cloned().unwrap_or(Value::Null);
        if run.id == PhaseId::P20 {
            self.bound = target;
        } else if target != self.bound {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.target", format!(
                "{} ran on target {target}, but the target bound in P20 is {} (Law 3)", run.id, self.bound
            )));
        }
        Ok(())
    }

    fn check_deterministic(&self, e: &Envelope, run: &PhaseRun) -> Result<(), VerifyFailure> {
        let phase = self.c.phase(&run.id).ok_or_else(|| VerifyFailure::record(FailureKind::Order, e, "payload.phase", "unknown phase"))?;
        let checks = e.payload.get("checks").and_then(Value::as_array).cloned().unwrap_or_default();
        let named: Vec<(&str, &str)> = checks
            .iter()
            .map(|c| (c.get("check").and_then(Value::as_str).unwrap_or(""), c.get("stage").and_then(Value::as_str).unwrap_or("")))
            .collect();
        // A phase the flags skip before it starts did nothing, so its preconditions were not
        // asked of it (a phase its executor skips has them).
        let skipped = run.outcome.is_some_and(|o| pstr(&self.events[o], "status") == "skip");
        let want: Vec<(&str, &str)> = phase
            .pre
            .iter()
            .map(|n| (n.as_str(), "pre"))
            .chain(phase.post.iter().map(|n| (n.as_str(), "post")))
            .collect();
        let without_pre = &want[phase.pre.len()..];
        if named != want && !(skipped && named == without_pre) {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.checks", format!(
                "{} ran checks {named:?}, but constitution/phases.toml names {want:?}", run.id
            )));
        }
        let det: DeterministicRecord = typed(e)?;
        let status = match run.outcome {
            Some(o) => typed::<PhaseOutcomeRecord>(&self.events[o])?.status,
            None => PhaseStatus::Ok,
        };
        let want_pass = decision::deterministic_pass(status, &det.checks);
        if det.pass != want_pass {
            let all_pass = det.checks.iter().all(|c| c.pass);
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.pass", format!(
                "pass must be {want_pass}: every check passed: {all_pass}, outcome failed: {}",
                status == PhaseStatus::Fail
            )));
        }
        Ok(())
    }

    fn check_verdict(&self, e: &Envelope, run: &PhaseRun) -> Result<(), VerifyFailure> {
        let (Some(o), Some(d), Some(a)) = (run.outcome, run.det, run.auditor) else {
            return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", "a verdict before its outcome, deterministic and auditor records"));
        };
        let outcome: PhaseOutcomeRecord = typed(&self.events[o])?;
        let det: DeterministicRecord = typed(&self.events[d])?;
        let aud: ConstitutionalRecord = typed(&self.events[a])?;
        let verdict: VerdictRecord = typed(e)?;
        let phase = self.c.phase(&run.id).ok_or_else(|| VerifyFailure::record(FailureKind::Order, e, "payload.phase", "unknown phase"))?;
        // The same rule the engine decided with, from the inputs it recorded.
        let want = decision::decide(
            self.c,
            phase,
            OutcomeView { status: outcome.status, code: outcome.code, message: &outcome.message },
            &det.checks,
            &aud.auditors,
        );
        let mismatch = |member: &str, want: String, found: String| {
            Err(VerifyFailure::record(FailureKind::Order, e, &format!("payload.{member}"), format!(
                "{} verdict has {member} {found}, but the court's rule gives {want} (deterministic {}, constitutional {})",
                run.id,
                PassFail::from_bool(want_det(&det, &outcome)).as_str(),
                decision::constitutional_status(&aud.auditors).as_str(),
            )))
        };
        if verdict.deterministic.passed() != want.deterministic {
            return mismatch("deterministic", PassFail::from_bool(want.deterministic).as_str().into(), verdict.deterministic.as_str().into());
        }
        if verdict.constitutional != want.constitutional {
            return mismatch("constitutional", want.constitutional.as_str().into(), verdict.constitutional.as_str().into());
        }
        if verdict.court.passed() != want.court {
            return mismatch("court", PassFail::from_bool(want.court).as_str().into(), verdict.court.as_str().into());
        }
        if verdict.code != want.code {
            return mismatch("code", want.code.to_string(), verdict.code.to_string());
        }
        if let Some(unknown) = verdict.violated_laws.iter().find(|l| self.c.law(l).is_none()) {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.violated_laws", format!(
                "{unknown} is not a law of constitution/laws.toml"
            )));
        }
        if let Some(missing) = want.violated_laws.iter().find(|l| !verdict.violated_laws.contains(l)) {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.violated_laws", format!(
                "the court's rule finds {missing} broken in {} (a failed check of constitution/checks.toml, or an auditor), \
                 which the verdict does not name",
                run.id
            )));
        }
        if verdict.violated_laws != want.violated_laws {
            return mismatch("violated_laws", format!("{:?}", want.violated_laws), format!("{:?}", verdict.violated_laws));
        }
        if verdict.halt_reason != want.halt_reason {
            return mismatch("halt_reason", format!("{:?}", want.halt_reason), format!("{:?}", verdict.halt_reason));
        }
        if verdict.next_command.is_some() == verdict.court.passed() {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.next_command", format!(
                "a {} verdict {} a next command", verdict.court.as_str(), if verdict.court.passed() { "has" } else { "lacks" }
            )));
        }
        for (member, kind, found) in [
            ("outcome", PhaseFile::Outcome, &verdict.evidence.outcome),
            ("deterministic", PhaseFile::Deterministic, &verdict.evidence.deterministic),
            ("constitutional", PhaseFile::Constitutional, &verdict.evidence.constitutional),
        ] {
            let want = rel_phase_file(&run.id, kind);
            if *found != want {
                return Err(VerifyFailure::record(FailureKind::Order, e, &format!("payload.evidence.{member}"), format!(
                    "names {found:?}, not {want:?}"
                )));
            }
        }
        Ok(())
    }

    fn flow_halted(&mut self, i: usize, e: &Envelope) -> Result<(), VerifyFailure> {
        let record: records::FlowHalted = typed(e)?;
        if record.cause() == records::HaltCause::Court && self.halted.is_none() {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.cause", "flow.halted names the court as its cause, but no verdict failed"));
        }
        if record.cause() == records::HaltCause::Interrupted && record.signal.as_deref().and_then(decision::signal_exit_status).is_none() {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.signal", format!(
                "an interrupted flow names the signal that stopped it (SIGINT, SIGTERM or SIGHUP), not {:?}", record.signal
            )));
        }
        let phase = e.payload.get("phase").cloned().unwrap_or(Value::Null);
        let code = e.payload.get("code").cloned().unwrap_or(Value::Null);
        let want = match &self.halted {
            Some((p, c)) => (json!(p), json!(c)),
            // A flow that could not record a decision halts without a failing verdict.
            None => (Value::Null, Value::Null),
        };
        if (phase.clone(), code.clone()) != want {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload", format!(
                "flow.halted names phase {phase} code {code}, but the first failing verdict is phase {} code {}",
                want.0, want.1
            )));
        }
        self.halted_record = Some(i);
        Ok(())
    }

    fn flow_summary(&mut self, i: usize, e: &Envelope) -> Result<(), VerifyFailure> {
        let halted = self.halted_record.is_some();
        if self.halted.is_some() && !halted {
            return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", "the court halted the flow, but no flow.halted record precedes the summary"));
        }
        let first_failure = self.halted.as_ref().map(|(_, code)| u16::try_from(*code).unwrap_or(u16::MAX));
        let halt_record: Option<records::FlowHalted> = match self.halted_record {
            Some(h) => Some(typed(&self.events[h])?),
            None => None,
        };
        let stop = halt_record.as_ref().map(decision::Stop::of).unwrap_or(decision::Stop::Court);
        let want_exit = decision::exit_status(first_failure, stop);
        let expect = [
            ("verdict", json!(if halted { "halted" } else { "pass" })),
            ("first_failure_phase", self.halted.as_ref().map(|h| json!(h.0)).unwrap_or(Value::Null)),
            ("first_failure_code", self.halted.as_ref().map(|h| json!(h.1)).unwrap_or(Value::Null)),
            ("exit_status", json!(want_exit)),
            ("fsm_state", json!(self.fsm)),
            ("target", self.bound.clone()),
        ];
        for (member, want) in expect {
            let found = e.payload.get(member).cloned().unwrap_or(Value::Null);
            if found != want {
                return Err(VerifyFailure::record(FailureKind::Order, e, &format!("payload.{member}"), format!(
                    "the summary says {found}, the records before it give {want}"
                )));
            }
        }
        if !halted {
            let done = self.phases.iter().filter(|p| p.verdict.is_some()).count();
            if done != self.plan.len() {
                return Err(VerifyFailure::record(FailureKind::Order, e, "payload.verdict", format!(
                    "the flow passed, but only {done} of the command's {} phases have a verdict", self.plan.len()
                )));
            }
        }
        if let Some((id, _)) = self.caps.iter().find(|(_, c)| c.ended.is_none()) {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "event_type", format!(
                "the flow ended with capability {id} neither expired nor revoked"
            )));
        }
        self.summary = Some(i);
        Ok(())
    }

    fn grant(&mut self, e: &Envelope) -> Result<(), VerifyFailure> {
        let id = e.capability_id.clone().unwrap_or_default();
        if let Some(named) = e.payload.get("capability_id").and_then(Value::as_str) {
            if named != id {
                return Err(VerifyFailure::record(FailureKind::Capability, e, "payload.capability_id", format!(
                    "the payload grants {named:?}, the record names {id:?}"
                )));
            }
        }
        if self.caps.get(&id).is_some_and(|c| c.ended.is_none()) {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                "capability {id} is granted again while it is still in force"
            )));
        }
        self.caps.insert(id, Cap {
            scope: e.payload.get("scope").cloned().unwrap_or(Value::Null),
            ended: None,
            uses: BTreeMap::new(),
        });
        Ok(())
    }

    fn cap_change(&mut self, i: usize, e: &Envelope) -> Result<(), VerifyFailure> {
        let id = e.capability_id.clone().unwrap_or_default();
        let Some(cap) = self.caps.get_mut(&id) else {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                "{} for capability {id}, which no earlier capability.granted record issued", e.event_type
            )));
        };
        if let Some((j, how)) = cap.ended {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                "{} for capability {id}, which was {how} at line {}", e.event_type, j + 1
            )));
        }
        match e.event_type.as_str() {
            "capability.scope_changed" => {
                if let Some(scope) = e.payload.get("scope") {
                    cap.scope = scope.clone();
                }
            }
            "capability.revoked" => cap.ended = Some((i, "revoked")),
            _ => cap.ended = Some((i, "expired")),
        }
        Ok(())
    }

    /// A gateway call or receipt under its capability: granted, in force, in scope.
    fn use_cap(&mut self, e: &Envelope, p: usize, count: bool) -> Result<(), VerifyFailure> {
        let id = e.capability_id.clone().unwrap_or_default();
        let phase = self.phases[p].id.clone();
        let Some(cap) = self.caps.get_mut(&id) else {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                "{} runs under capability {id}, which no earlier capability.granted record issued", e.event_type
            )));
        };
        if let Some((j, how)) = cap.ended {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                "{} runs under capability {id}, which was {how} at line {}", e.event_type, j + 1
            )));
        }
        let op = pstr(e, "op").to_string();
        if let Some(ops) = cap.scope.get("ops").and_then(Value::as_array) {
            if !ops.iter().any(|o| o.as_str() == Some(op.as_str())) {
                return Err(VerifyFailure::record(FailureKind::Capability, e, "payload.op", format!(
                    "{op} is outside the scope of capability {id} (ops {})", Value::Array(ops.clone())
                )));
            }
        }
        if let (Some(scoped), Some(target)) = (cap.scope.get("target").and_then(Value::as_str), e.payload.get("target").and_then(Value::as_str)) {
            if scoped != target {
                return Err(VerifyFailure::record(FailureKind::Capability, e, "payload.target", format!(
                    "{op} on {target} is outside the scope of capability {id} (target {scoped}, Law 3)"
                )));
            }
        }
        if let Some(scoped) = cap.scope.get("phase").and_then(Value::as_str) {
            if scoped != phase {
                return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                    "{op} in {phase} under capability {id}, which is scoped to {scoped}"
                )));
            }
        }
        if count {
            let n = cap.uses.entry(op.clone()).or_insert(0);
            *n += 1;
            if let Some(limit) = cap.scope.get("count").and_then(Value::as_u64) {
                if *n > limit {
                    return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                        "call {n} of {op} under capability {id}, which allows {limit}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks that need the whole log: receipts against calls, and the warnings.
    fn after(&mut self) -> Result<(), VerifyFailure> {
        let events = self.events;
        let same = |a: &Envelope, b: &Envelope| pstr(a, "op") == pstr(b, "op") && a.payload.get("target") == b.payload.get("target");
        // ops.md O5: a receipt follows the call it is the receipt of and names it as its cause.
        for &(r, p) in &self.receipts {
            let receipt = &events[r];
            let Some(cause) = receipt.causation_id.as_deref() else {
                return Err(VerifyFailure::record(FailureKind::Capability, receipt, "causation_id", format!(
                    "a receipt for {} has no causation_id: a receipt must name the gateway.call it is the receipt of",
                    pstr(receipt, "op")
                )));
            };
            let call = self.calls.iter().find(|&&(c, _)| events[c].event_id == cause);
            match call {
                Some(&(c, q)) if c < r && q == p && same(&events[c], receipt) => {}
                Some(&(c, _)) => {
                    return Err(VerifyFailure::record(FailureKind::Capability, receipt, "causation_id", format!(
                        "this receipt for {} on {} names line {} as its call, which is {} on {} in another place of the log",
                        pstr(receipt, "op"),
                        receipt.payload.get("target").cloned().unwrap_or(Value::Null),
                        events[c].seq + 1,
                        pstr(&events[c], "op"),
                        events[c].payload.get("target").cloned().unwrap_or(Value::Null),
                    )));
                }
                None => {
                    return Err(VerifyFailure::record(FailureKind::Capability, receipt, "causation_id", format!(
                        "a receipt for {} on {} whose causation_id names no gateway.call in {}",
                        pstr(receipt, "op"),
                        receipt.payload.get("target").cloned().unwrap_or(Value::Null),
                        self.phases[p].id
                    )));
                }
            }
        }
        // Every external side effect that took place has a receipt and a consent before it.
        for &(c, p) in &self.calls {
            let call = &events[c];
            if pstr(call, "class") != "WRITE_EXTERNAL_SIDE_EFFECT" || call.payload.get("ok") != Some(&Value::Bool(true)) {
                continue;
            }
            let op = pstr(call, "op");
            // The receipt is appended right after its call: a flow killed between the two ends
            // with the call, and its log is whole up to that record. Anywhere else, or in a
            // finished flow, a missing receipt is a gap.
            let cut_after_call = self.summary.is_none() && c + 1 == events.len();
            if !cut_after_call && !self.receipts.iter().any(|&(r, q)| q == p && events[r].causation_id.as_deref() == Some(call.event_id.as_str())) {
                return Err(VerifyFailure::record(FailureKind::Capability, call, "payload.op", format!(
                    "{op} in {} is a WRITE_EXTERNAL_SIDE_EFFECT that took place, and no receipt.side_effect names it as its cause",
                    self.phases[p].id
                )));
            }
            if !self.consents.iter().any(|(i, a)| *i < c && a == op) {
                return Err(VerifyFailure::record(FailureKind::Capability, call, "payload.op", format!(
                    "{op} in {} is a WRITE_EXTERNAL_SIDE_EFFECT with no consent.given record for {op} before it (Law 4)",
                    self.phases[p].id
                )));
            }
        }
        Ok(())
    }

    /// The latest value of a header key recorded before record `before`.
    pub(super) fn header_before(&self, key: &str, before: usize) -> Option<&str> {
        self.headers.iter().rev().find(|(i, k, _)| *i < before && k == key).map(|(_, _, v)| v.as_str())
    }
}

fn check_constitutional(e: &Envelope) -> Result<(), VerifyFailure> {
    let record: ConstitutionalRecord = typed(e)?;
    let want = decision::constitutional_status(&record.auditors);
    if record.status != want {
        let statuses: Vec<&str> = record.auditors.iter().map(|a| a.status.as_str()).collect();
        return Err(VerifyFailure::record(FailureKind::Order, e, "payload.status", format!(
            "the auditors said {statuses:?}, which makes {}, not {:?} (no auditor is never a pass)",
            want.as_str(),
            record.status.as_str()
        )));
    }
    Ok(())
}

/// A record's payload as its type; a record of the wrong shape is named with the serde error.
fn typed<T: serde::de::DeserializeOwned>(e: &Envelope) -> Result<T, VerifyFailure> {
    records::parse(&e.payload).map_err(|problem| {
        VerifyFailure::record(FailureKind::Format, e, "payload", format!("{} is not a well-formed {} record: {problem}", e.event_type, e.event_type))
    })
}

/// Whether the deterministic validator passed by the rule (for messages).
fn want_det(det: &DeterministicRecord, outcome: &PhaseOutcomeRecord) -> bool {
    decision::deterministic_pass(outcome.status, &det.checks)
}
