//! The walk over a flow's records, in log order and one record at a time, for `wfhost verify`.
//!
//! [`Walk::step`] replays the flow's decisions from `events.jsonl` and checks that they obey the
//! constitution: phases start in the order of the command's phase list, which follows
//! `constitution/phases.toml`; each phase records outcome, deterministic result, auditors'
//! result and verdict once each, in that order; the verdict follows the court's rules (court =
//! deterministic pass AND constitutional pass, its code, the laws of failed checks); nothing
//! starts after a failing verdict; FSM transitions continue from the state before them; phases
//! after P20 run on the bound target; capabilities are granted before use, used within scope
//! and while in force; provisioning follows a consent; receipts match calls; `flow.halted` names
//! its cause (the court, an internal failure such as an evidence write that failed, or a signal)
//! and the summary's exit status follows from it; `evidence.write_failed` records are collected,
//! so a file the flow could not write is told from a file removed later; `flow.summary` agrees
//! with what came before. (That the log starts with `flow.started` and ends with
//! `flow.summary` is the log-level rule of `pass`.) [`Walk::finish`] settles what needs the
//! whole log: every side effect that took place has its receipt and consent.
//!
//! What it keeps is bounded by the phase table, not by the log: the records of the phase that
//! is running ([`PhaseRun`]; handed to the file checks by [`Walk::take_judged`] once its
//! verdict is in, then dropped), a [`PhaseMark`] per phase, the last two transitions, the
//! headers, capabilities and consents, and of the gateway calls only those that await their
//! receipt and a window of the most recent ones. A receipt naming a call outside that window
//! (the engine appends a receipt right after its call) is settled by a second read of the log.

use super::pstr;
use crate::decision::{self, OutcomeView};
use crate::layout::{rel_phase_file, PhaseFile};
use crate::records::{self, ConstitutionalRecord, DeterministicRecord, PassFail, PhaseOutcomeRecord, PhaseStatus, VerdictRecord};
use super::verify::{FailureKind, VerifyFailure};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use wfhost_constitution::{Constitution, PhaseId};
use wfhost_evidence::{Envelope, Timestamp};

/// Gateway calls remembered for the receipts that name them.
const RECENT_CALLS: usize = 1024;

/// The records of the phase that is running (or the last one).
#[derive(Debug, Clone, Default)]
pub(super) struct PhaseRun {
    pub(super) id: String,
    pub(super) outcome: Option<Envelope>,
    pub(super) det: Option<Envelope>,
    pub(super) auditor: Option<Envelope>,
    pub(super) verdict: Option<Envelope>,
    pub(super) transition: Option<Envelope>,
}

impl PhaseRun {
    /// (line, event type) of the record that carries each kind of phase file.
    fn line(e: &Option<Envelope>) -> Option<(u64, String)> {
        e.as_ref().map(|e| (e.seq + 1, e.event_type.clone()))
    }
}

/// What stays of a phase once its records are dropped: its place in the log and its result.
#[derive(Debug, Clone, Default)]
pub(super) struct PhaseMark {
    pub(super) id: String,
    /// The outcome's status and code, and the verdict's court.
    pub(super) status: Option<String>,
    pub(super) code: Option<u64>,
    pub(super) court: Option<String>,
    /// (line, event type) of its outcome, deterministic, auditor and verdict records.
    pub(super) outcome: Option<(u64, String)>,
    pub(super) det: Option<(u64, String)>,
    pub(super) auditor: Option<(u64, String)>,
    pub(super) verdict: Option<(u64, String)>,
    /// Line of its last fsm.transition record.
    pub(super) transition: Option<u64>,
}

impl PhaseMark {
    fn of(run: &PhaseRun) -> PhaseMark {
        PhaseMark {
            id: run.id.clone(),
            status: run.outcome.as_ref().map(|o| pstr(o, "status").to_string()),
            code: run.outcome.as_ref().and_then(|o| o.payload.get("code").and_then(Value::as_u64)),
            court: run.verdict.as_ref().map(|v| pstr(v, "court").to_string()),
            outcome: PhaseRun::line(&run.outcome),
            det: PhaseRun::line(&run.det),
            auditor: PhaseRun::line(&run.auditor),
            verdict: PhaseRun::line(&run.verdict),
            transition: run.transition.as_ref().map(|t| t.seq + 1),
        }
    }
}

/// An fsm.transition record and the time of the record after it.
#[derive(Debug, Clone)]
pub(super) struct TransitionSeen {
    pub(super) record: Envelope,
    pub(super) next_at: Option<Timestamp>,
}

/// The operation of a transport's HTTP side effect in `gateway.call` and `receipt.side_effect`.
const HTTP_OP: &str = "http";

/// A capability as the records issued it.
#[derive(Debug, Clone)]
struct Cap {
    scope: Value,
    /// Line and how it ended.
    ended: Option<(u64, &'static str)>,
    uses: BTreeMap<String, u64>,
}

/// A gateway call, as receipts refer to it.
#[derive(Debug, Clone)]
struct CallSeen {
    event_id: String,
    line: u64,
    phase: usize,
    op: String,
    target: Value,
}

/// An external side effect that took place, awaiting its receipt.
#[derive(Debug, Clone)]
struct Pending {
    call: CallSeen,
    consented: bool,
    receipted: bool,
}

/// A receipt whose call is not among the calls remembered: settled by [`Walk::finish`].
#[derive(Debug, Clone)]
struct Unresolved {
    line: u64,
    cause: String,
    phase: usize,
    op: String,
    target: Value,
}

/// The state of the walk over the records; what the file checks need of it stays after
/// [`Walk::finish`].
pub(super) struct Walk {
    pub(super) c: &'static Constitution,
    plan: Vec<String>,
    /// Every phase that started, in order.
    pub(super) phases: Vec<PhaseMark>,
    /// The records of the last phase that started, until the file checks take them.
    current: Option<PhaseRun>,
    /// A phase whose verdict is in, for the file checks.
    judged: Option<PhaseRun>,
    /// The failing verdict (phase, code), if any.
    halted: Option<(String, u64)>,
    /// Line and content of the flow.halted record.
    halted_record: Option<(u64, records::FlowHalted)>,
    fsm: String,
    /// The last two fsm.transition records.
    pub(super) transitions: VecDeque<TransitionSeen>,
    bound: Value,
    caps: BTreeMap<String, Cap>,
    /// Line of the first consent.given record, and of the first for each action.
    pub(super) first_consent: Option<u64>,
    consents: BTreeMap<String, u64>,
    headers: Vec<(u64, String, String)>,
    /// Line and transport id of the last plugins.loaded record.
    pub(super) plugins: Option<(u64, Value)>,
    /// The flow.started record's flags.
    pub(super) flags: Value,
    /// The command as typed (flow.started `command`).
    pub(super) command: String,
    /// The first phase's outcome facts/consent, and P20's facts/target_source.
    pub(super) first_consent_fact: Option<String>,
    pub(super) p20_target_source: Option<Value>,
    /// Line and verdict of the flow.summary record.
    pub(super) summary: Option<(u64, String)>,
    /// Line of the last record walked.
    last_line: u64,
    recent_calls: VecDeque<CallSeen>,
    /// How many calls `recent_calls` keeps.
    recent_window: usize,
    pending: Vec<Pending>,
    bad_call: Option<VerifyFailure>,
    bad_receipt: Option<VerifyFailure>,
    unresolved: Vec<Unresolved>,
    pub(super) warnings: BTreeSet<String>,
    /// Every `evidence.write_failed` record: (its line, what it says). A failed write halts the
    /// flow, so there are a few at most.
    pub(super) write_failures: Vec<(u64, records::EvidenceWriteFailed)>,
}

impl Walk {
    pub(super) fn new(c: &'static Constitution) -> Walk {
        Walk {
            c,
            plan: Vec::new(),
            phases: Vec::new(),
            current: None,
            judged: None,
            halted: None,
            halted_record: None,
            fsm: c.fsm.initial.clone(),
            transitions: VecDeque::new(),
            bound: Value::Null,
            caps: BTreeMap::new(),
            first_consent: None,
            consents: BTreeMap::new(),
            headers: Vec::new(),
            plugins: None,
            flags: Value::Null,
            command: String::new(),
            first_consent_fact: None,
            p20_target_source: None,
            summary: None,
            last_line: 0,
            recent_calls: VecDeque::new(),
            recent_window: RECENT_CALLS,
            pending: Vec::new(),
            bad_call: None,
            bad_receipt: None,
            unresolved: Vec::new(),
            warnings: BTreeSet::new(),
            write_failures: Vec::new(),
        }
    }

    /// The records of the phase that is still running (or was cut off) when the log ends.
    pub(super) fn running(&self) -> Option<&PhaseRun> {
        self.current.as_ref()
    }

    /// The records of a phase whose verdict the last step took in; the walk keeps only its
    /// [`PhaseMark`].
    pub(super) fn take_judged(&mut self) -> Option<PhaseRun> {
        self.judged.take()
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

    /// Walk the next record (the log-level rules of `pass` have accepted it).
    pub(super) fn step(&mut self, e: Envelope) -> Result<(), VerifyFailure> {
        let line = e.seq + 1;
        if let Some(t) = self.transitions.back_mut().filter(|t| t.next_at.is_none() && t.record.seq + 1 == self.last_line) {
            t.next_at = Some(e.occurred_at);
        }
        self.last_line = line;
        match e.event_type.as_str() {
            "flow.started" => self.flow_started(&e),
            "flow.header" => {
                self.headers.push((line, pstr(&e, "key").to_string(), pstr(&e, "value").to_string()));
                Ok(())
            }
            "plugins.loaded" => {
                self.plugins = Some((line, e.payload.pointer("/transport/id").cloned().unwrap_or(json!(""))));
                Ok(())
            }
            "phase.started" => self.phase_started(&e),
            "phase.outcome" | "court.deterministic" | "court.auditor" | "court.verdict" => self.court_step(e),
            "fsm.loaded" => {
                let s = pstr(&e, "state");
                if !self.c.fsm.states.iter().any(|st| st.name == s) {
                    return Err(VerifyFailure::record(FailureKind::Order, &e, "payload.state", format!(
                        "{s:?} is not a state of constitution/fsm.toml"
                    )));
                }
                self.fsm = s.to_string();
                Ok(())
            }
            "fsm.transition" => {
                let p = self.in_window(&e)?;
                self.same_phase(&e, p)?;
                let from = pstr(&e, "from");
                if from != self.fsm {
                    return Err(VerifyFailure::record(FailureKind::Order, &e, "payload.from", format!(
                        "the transition starts from {from}, but the FSM is in {}", self.fsm
                    )));
                }
                let to = pstr(&e, "to");
                if !self.c.fsm.states.iter().any(|st| st.name == to) {
                    return Err(VerifyFailure::record(FailureKind::Order, &e, "payload.to", format!(
                        "{to:?} is not a state of constitution/fsm.toml"
                    )));
                }
                self.fsm = to.to_string();
                self.phases[p].transition = Some(line);
                if let Some(run) = self.current.as_mut() {
                    run.transition = Some(e.clone());
                }
                self.transitions.push_back(TransitionSeen { record: e, next_at: None });
                if self.transitions.len() > 2 {
                    self.transitions.pop_front();
                }
                Ok(())
            }
            "capability.granted" => self.grant(&e),
            "capability.scope_changed" | "capability.revoked" | "capability.expired" => self.cap_change(&e),
            "consent.given" => {
                self.first_consent.get_or_insert(line);
                self.consents.entry(pstr(&e, "action").to_string()).or_insert(line);
                Ok(())
            }
            "gateway.call" => {
                let p = self.in_window(&e)?;
                self.use_cap(&e, p, true)?;
                self.call(&e, p);
                Ok(())
            }
            "gateway.refused" | "artifact.written" | "artifact.skipped" => self.in_window(&e).map(|_| ()),
            "receipt.side_effect" => {
                let p = self.in_window(&e)?;
                self.use_cap(&e, p, false)?;
                if pstr(&e, "op") == "provision" && !self.consents.contains_key("provision") {
                    return Err(VerifyFailure::record(FailureKind::Capability, &e, "payload.op", format!(
                        "a pod was provisioned in {} without a consent.given record for provision before it (Law 4)",
                        self.phases[p].id
                    )));
                }
                self.receipt(&e, p);
                Ok(())
            }
            "flow.halted" => self.flow_halted(&e),
            "evidence.write_failed" => {
                let record: records::EvidenceWriteFailed = typed(&e)?;
                self.write_failures.push((line, record));
                Ok(())
            }
            "flow.summary" => self.flow_summary(&e),
            _ => Ok(()),
        }
    }

    fn flow_started(&mut self, e: &Envelope) -> Result<(), VerifyFailure> {
        if pstr(e, "flow_id") != e.correlation_id {
            return Err(VerifyFailure::record(FailureKind::Order, e, "payload.flow_id", format!(
                "flow {:?} is not the log's flow {:?}", pstr(e, "flow_id"), e.correlation_id
            )));
        }
        self.flags = e.payload.get("flags").cloned().unwrap_or(Value::Null);
        self.command = pstr(e, "command").to_string();
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
        // No receipt can join the calls of the phase before this one any more.
        self.settle_pending(false);
        self.phases.push(PhaseMark { id: id.to_string(), ..PhaseMark::default() });
        self.current = Some(PhaseRun { id: id.to_string(), ..PhaseRun::default() });
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

    fn court_step(&mut self, e: Envelope) -> Result<(), VerifyFailure> {
        let p = self.cur(&e)?;
        self.same_phase(&e, p)?;
        let mark = &self.phases[p];
        let order = |before: &str| {
            VerifyFailure::record(FailureKind::Order, &e, "event_type", format!(
                "{} for {} is out of order: each phase records phase.outcome, court.deterministic, court.auditor, \
                 court.verdict once each, in that order ({before})",
                e.event_type, mark.id
            ))
        };
        match e.event_type.as_str() {
            "phase.outcome" if mark.outcome.is_some() => return Err(order("a second outcome")),
            "court.deterministic" if mark.outcome.is_none() || mark.det.is_some() => return Err(order("the outcome must come first, once")),
            "court.auditor" if mark.det.is_none() || mark.auditor.is_some() => return Err(order("the deterministic result must come first, once")),
            "court.verdict" if mark.auditor.is_none() || mark.verdict.is_some() => return Err(order("the auditors' result must come first, once")),
            _ => {}
        }
        // In order, so the phase has no verdict yet and its records are at hand.
        let mut run = self.current.take().unwrap_or_else(|| PhaseRun { id: mark.id.clone(), ..PhaseRun::default() });
        let result = match e.event_type.as_str() {
            "phase.outcome" => self.check_outcome(&e, &run),
            "court.deterministic" => self.check_deterministic(&e, &run),
            "court.auditor" => check_constitutional(&e),
            _ => self.check_verdict(&e, &run).map(|()| {
                if pstr(&e, "court") != "pass" {
                    let code = e.payload.get("code").and_then(Value::as_u64).unwrap_or(0);
                    self.halted = Some((run.id.clone(), code));
                }
            }),
        };
        if result.is_ok() {
            match e.event_type.as_str() {
                "phase.outcome" => {
                    if p == 0 {
                        self.first_consent_fact = e.payload.pointer("/facts/consent").and_then(Value::as_str).map(str::to_string);
                    }
                    if run.id == "P20" {
                        self.p20_target_source = e.payload.pointer("/facts/target_source").cloned();
                    }
                    run.outcome = Some(e);
                }
                "court.deterministic" => run.det = Some(e),
                "court.auditor" => run.auditor = Some(e),
                _ => run.verdict = Some(e),
            }
            self.phases[p] = PhaseMark::of(&run);
        }
        if run.verdict.is_some() {
            self.judged = Some(run);
        } else {
            self.current = Some(run);
        }
        result
    }

    fn check_outcome(&mut self, e: &Envelope, run: &PhaseRun) -> Result<(), VerifyFailure> {
        let before = match &run.transition {
            Some(t) => pstr(t, "from").to_string(),
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
        let skipped = run.outcome.as_ref().is_some_and(|o| pstr(o, "status") == "skip");
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
        let status = match &run.outcome {
            Some(o) => typed::<PhaseOutcomeRecord>(o)?.status,
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
        let (Some(o), Some(d), Some(a)) = (&run.outcome, &run.det, &run.auditor) else {
            return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", "a verdict before its outcome, deterministic and auditor records"));
        };
        let outcome: PhaseOutcomeRecord = typed(o)?;
        let det: DeterministicRecord = typed(d)?;
        let aud: ConstitutionalRecord = typed(a)?;
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

    fn flow_halted(&mut self, e: &Envelope) -> Result<(), VerifyFailure> {
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
        self.halted_record = Some((e.seq + 1, record));
        Ok(())
    }

    fn flow_summary(&mut self, e: &Envelope) -> Result<(), VerifyFailure> {
        let halted = self.halted_record.is_some();
        if self.halted.is_some() && !halted {
            return Err(VerifyFailure::record(FailureKind::Order, e, "event_type", "the court halted the flow, but no flow.halted record precedes the summary"));
        }
        let first_failure = self.halted.as_ref().map(|(_, code)| u16::try_from(*code).unwrap_or(u16::MAX));
        let stop = self.halted_record.as_ref().map(|(_, h)| decision::Stop::of(h)).unwrap_or(decision::Stop::Court);
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
        self.summary = Some((e.seq + 1, pstr(e, "verdict").to_string()));
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

    fn cap_change(&mut self, e: &Envelope) -> Result<(), VerifyFailure> {
        let id = e.capability_id.clone().unwrap_or_default();
        let Some(cap) = self.caps.get_mut(&id) else {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                "{} for capability {id}, which no earlier capability.granted record issued", e.event_type
            )));
        };
        if let Some((line, how)) = cap.ended {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                "{} for capability {id}, which was {how} at line {line}", e.event_type
            )));
        }
        match e.event_type.as_str() {
            "capability.scope_changed" => {
                if let Some(scope) = e.payload.get("scope") {
                    cap.scope = scope.clone();
                }
            }
            "capability.revoked" => cap.ended = Some((e.seq + 1, "revoked")),
            _ => cap.ended = Some((e.seq + 1, "expired")),
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
        if let Some((line, how)) = cap.ended {
            return Err(VerifyFailure::record(FailureKind::Capability, e, "capability_id", format!(
                "{} runs under capability {id}, which was {how} at line {line}", e.event_type
            )));
        }
        let op = pstr(e, "op").to_string();
        // A transport's HTTP side effect (op `http`) runs under the grant of the side effect it
        // is part of: creating (provision) or deleting (delete-pod) the pod, any number of times.
        let http_under = |ops: &Vec<Value>| op == HTTP_OP && ops.iter().any(|o| matches!(o.as_str(), Some("provision" | "delete-pod")));
        let count = count && op != HTTP_OP;
        if let Some(ops) = cap.scope.get("ops").and_then(Value::as_array) {
            if !ops.iter().any(|o| o.as_str() == Some(op.as_str())) && !http_under(ops) {
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

    /// A gateway call: remembered for its receipt; a side effect that took place awaits one.
    fn call(&mut self, e: &Envelope, p: usize) {
        let call = CallSeen {
            event_id: e.event_id.clone(),
            line: e.seq + 1,
            phase: p,
            op: pstr(e, "op").to_string(),
            target: e.payload.get("target").cloned().unwrap_or(Value::Null),
        };
        let took_place = pstr(e, "class") == "WRITE_EXTERNAL_SIDE_EFFECT" && e.payload.get("ok") == Some(&Value::Bool(true));
        // Past a call that failed its rules, later calls cannot be the first to fail.
        if took_place && self.bad_call.is_none() {
            // A transport's HTTP side effect is consented by the side effect it is part of.
            let consented = self.consents.contains_key(&call.op)
                || (call.op == HTTP_OP && ["provision", "delete-pod"].iter().any(|a| self.consents.contains_key(*a)));
            self.pending.push(Pending { call: call.clone(), consented, receipted: false });
        }
        self.recent_calls.push_back(call);
        if self.recent_calls.len() > self.recent_window {
            self.recent_calls.pop_front();
        }
    }

    /// A receipt (ops.md O5: it follows the call it is the receipt of and names it as its
    /// cause): checked against its call now, or once the log is read if the call is not
    /// remembered.
    fn receipt(&mut self, e: &Envelope, p: usize) {
        if self.bad_receipt.is_some() {
            return;
        }
        let op = pstr(e, "op").to_string();
        let target = e.payload.get("target").cloned().unwrap_or(Value::Null);
        let Some(cause) = e.causation_id.clone() else {
            self.bad_receipt = Some(VerifyFailure::record(FailureKind::Capability, e, "causation_id", format!(
                "a receipt for {op} has no causation_id: a receipt must name the gateway.call it is the receipt of"
            )));
            return;
        };
        if let Some(pending) = self.pending.iter_mut().find(|c| c.call.event_id == cause) {
            pending.receipted = true;
        }
        let call = self
            .pending
            .iter()
            .map(|c| &c.call)
            .find(|c| c.event_id == cause)
            .or_else(|| self.recent_calls.iter().rev().find(|c| c.event_id == cause))
            .cloned();
        let unresolved = Unresolved { line: e.seq + 1, cause, phase: p, op, target };
        match call {
            Some(call) => self.bad_receipt = self.receipt_against(&unresolved, Some(&call)),
            None => self.unresolved.push(unresolved),
        }
    }

    /// What is wrong with a receipt given the call its cause names (`None`: no gateway.call).
    fn receipt_against(&self, r: &Unresolved, call: Option<&CallSeen>) -> Option<VerifyFailure> {
        match call {
            Some(c) if c.line < r.line && c.phase == r.phase && c.op == r.op && c.target == r.target => None,
            Some(c) => Some(VerifyFailure::at_line(FailureKind::Capability, r.line, "causation_id", format!(
                "this receipt for {} on {} names line {} as its call, which is {} on {} in another place of the log",
                r.op, r.target, c.line, c.op, c.target,
            ))),
            None => Some(VerifyFailure::at_line(FailureKind::Capability, r.line, "causation_id", format!(
                "a receipt for {} on {} whose causation_id names no gateway.call in {}",
                r.op, r.target, self.phases[r.phase].id
            ))),
        }
    }

    /// Every external side effect of the phase that ran last took place with a receipt and a
    /// consent before it; the first that did not is kept. `at_end`: the log ends here.
    fn settle_pending(&mut self, at_end: bool) {
        for p in std::mem::take(&mut self.pending) {
            if self.bad_call.is_some() {
                break;
            }
            let (op, phase) = (&p.call.op, &self.phases[p.call.phase].id);
            // The receipt is appended right after its call: a flow killed between the two ends
            // with the call, and its log is whole up to that record. Anywhere else, or in a
            // finished flow, a missing receipt is a gap.
            let cut_after_call = at_end && self.summary.is_none() && p.call.line == self.last_line;
            if !cut_after_call && !p.receipted {
                self.bad_call = Some(VerifyFailure::at_line(FailureKind::Capability, p.call.line, "payload.op", format!(
                    "{op} in {phase} is a WRITE_EXTERNAL_SIDE_EFFECT that took place, and no receipt.side_effect names it as its cause"
                )));
            } else if !p.consented {
                self.bad_call = Some(VerifyFailure::at_line(FailureKind::Capability, p.call.line, "payload.op", format!(
                    "{op} in {phase} is a WRITE_EXTERNAL_SIDE_EFFECT with no consent.given record for {op} before it (Law 4)"
                )));
            }
        }
    }

    /// The checks that need the whole log, once every record was walked: receipts against
    /// calls (a receipt whose call was not remembered is looked up in a second read of the log
    /// in `flow_dir`), then every side effect that took place against its receipt and consent.
    pub(super) fn finish(&mut self, flow_dir: &Path) -> Result<(), VerifyFailure> {
        self.settle_pending(true);
        let first_known = self.bad_receipt.as_ref().and_then(|f| f.line).unwrap_or(u64::MAX);
        let unresolved: Vec<Unresolved> = std::mem::take(&mut self.unresolved).into_iter().filter(|r| r.line < first_known).collect();
        if !unresolved.is_empty() {
            let calls = find_calls(flow_dir, &unresolved)?;
            if let Some(f) = unresolved.iter().find_map(|r| self.receipt_against(r, calls.get(&r.cause))) {
                return Err(f);
            }
        }
        if let Some(f) = self.bad_receipt.take() {
            return Err(f);
        }
        match self.bad_call.take() {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// The latest value of a header key recorded before line `before`.
    pub(super) fn header_before(&self, key: &str, before: u64) -> Option<&str> {
        self.headers.iter().rev().find(|(i, k, _)| *i < before && k == key).map(|(_, _, v)| v.as_str())
    }
}

/// The gateway.call records the receipts name, from a second read of the log: by event_id,
/// with their line, phase (index among the phases that started), op and target.
fn find_calls(flow_dir: &Path, receipts: &[Unresolved]) -> Result<BTreeMap<String, CallSeen>, VerifyFailure> {
    let wanted: BTreeSet<&str> = receipts.iter().map(|r| r.cause.as_str()).collect();
    let mut found = BTreeMap::new();
    let mut phases = 0usize;
    let reader = wfhost_evidence::Reader::open(&flow_dir.join(super::EVENTS)).map_err(super::pass::chain_failure)?;
    for record in reader {
        let e = record.map_err(super::pass::chain_failure)?.envelope;
        match e.event_type.as_str() {
            "phase.started" => phases += 1,
            "gateway.call" if wanted.contains(e.event_id.as_str()) => {
                let call = CallSeen {
                    line: e.seq + 1,
                    phase: phases.saturating_sub(1),
                    op: pstr(&e, "op").to_string(),
                    target: e.payload.get("target").cloned().unwrap_or(Value::Null),
                    event_id: e.event_id.clone(),
                };
                found.entry(e.event_id).or_insert(call);
            }
            _ => {}
        }
    }
    Ok(found)
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

#[cfg(test)]
mod tests {
    //! Receipts against their calls, when the call is remembered and when it is found by a
    //! second read of the log.
    use super::*;
    use wfhost_evidence::{Actor, EventDraft, EventLog};

    const FLOW: &str = "flow-walk-receipts";

    /// A log of one phase, P00: a side effect (exec on "t", cause of the receipt when
    /// `receipt_names` is 0), three reads on "u" (1..=3), then a receipt naming record
    /// `receipt_names` of [call, read, read, read, consent] (no receipt for `None`).
    fn flow(receipt_names: Option<usize>) -> (tempfile::TempDir, Vec<Envelope>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = EventLog::create(&dir.path().join(super::super::EVENTS), FLOW).expect("log");
        let host = || Actor::new("host", "wfhost");
        let mut add = |d: EventDraft| log.append(d).expect("append");
        add(EventDraft::new("flow.started", host(), "host", "start", json!({"flow_id": FLOW, "phases": ["P00"], "flags": {}})));
        add(EventDraft::new("capability.granted", host(), "host", "grant", json!({"capability_id": "cap-1", "scope": {}})).with_capability("cap-1"));
        let consent = add(EventDraft::new("consent.given", Actor::new("policy", "--yes"), "host", "consent", json!({"action": "exec"})));
        add(EventDraft::new("phase.started", host(), "host", "P00/started", json!({"phase": "P00"})));
        let call = |n: usize, class: &str, target: &str| {
            EventDraft::new("gateway.call", Actor::new("plugin", "executor"), "host", format!("P00/exec/{n}"), json!({"op": "exec", "target": target, "class": class, "ok": true}))
                .with_capability("cap-1")
        };
        let mut named = vec![add(call(0, "WRITE_EXTERNAL_SIDE_EFFECT", "t")).event_id];
        for n in 1..=3 {
            named.push(add(call(n, "READ", "u")).event_id);
        }
        named.push(consent.event_id);
        if let Some(i) = receipt_names {
            add(EventDraft::new("receipt.side_effect", host(), "host", "P00/receipt", json!({"op": "exec", "target": "t"}))
                .with_capability("cap-1")
                .caused_by(&named[i]));
        }
        add(EventDraft::new("plugin.log", host(), "host", "P00/log", json!({"level": "info", "message": "after"})));
        drop(log);
        let events = wfhost_evidence::read(&dir.path().join(super::super::EVENTS)).expect("read").events;
        (dir, events)
    }

    /// Walk the records with a window of `window` remembered calls; what finish says.
    fn walk(receipt_names: Option<usize>, window: usize) -> (Result<(), VerifyFailure>, usize) {
        let (dir, events) = flow(receipt_names);
        let mut w = Walk::new(Constitution::get().expect("constitution"));
        w.recent_window = window;
        for e in events {
            w.step(e).expect("each record obeys the rules");
        }
        let unresolved = w.unresolved.len();
        (w.finish(dir.path()), unresolved)
    }

    #[test]
    fn a_receipt_is_checked_against_its_call_remembered_or_read_again() {
        for window in [1, RECENT_CALLS] {
            // The receipt names its call: accepted whether the call was remembered or not.
            let (result, unresolved) = walk(Some(0), window);
            assert_eq!(result, Ok(()), "window {window}");
            // The side effect is pending until its receipt, so it is always at hand.
            assert_eq!(unresolved, 0);
            // The receipt names another call: line 6 is exec on "u", in P00.
            let (result, unresolved) = walk(Some(1), window);
            assert_eq!(unresolved, usize::from(window == 1), "window {window}");
            let f = result.expect_err("a receipt of another call");
            assert_eq!((f.kind, f.line, f.field.as_deref()), (FailureKind::Capability, Some(9), Some("causation_id")), "{f}");
            assert!(f.problem.contains("names line 6 as its call, which is exec on \"u\" in another place of the log"), "{f}");
            // The receipt names a record that is not a call.
            let f = walk(Some(4), window).0.expect_err("a receipt of a consent");
            assert!(f.problem.contains("whose causation_id names no gateway.call in P00"), "{f}");
        }
        // No receipt for the side effect that took place.
        let f = walk(None, 2).0.expect_err("a side effect without receipt");
        assert_eq!((f.line, f.field.as_deref()), (Some(5), Some("payload.op")), "{f}");
        assert!(f.problem.contains("exec in P00 is a WRITE_EXTERNAL_SIDE_EFFECT that took place, and no receipt.side_effect names it"), "{f}");
    }
}
