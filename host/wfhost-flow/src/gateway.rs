//! The capability gateway: the host side of every call a phase executor makes.
//!
//! An executor never reaches a transport directly. Each gateway call is checked here against
//! the flow's capabilities — the bound target (Law 3), the phase it is made in (only P10 may
//! provision, only P90 with `--teardown delete` may delete), consent for external side effects
//! (Law 4) and the phase's remaining time budget — then forwarded to the transport component,
//! and recorded: a `gateway.call` or `gateway.refused` event, plus a `receipt.side_effect`
//! naming the approving actor for anything with external effect. A refused call is also a
//! finding for the deterministic validator's `target_unchanged` check.

use crate::fetch::{self, Budget};
use crate::grants::{Grant, GrantKind, Held};
use crate::plugins::FetchError;
use cap_std::fs::Dir;
use wfhost_constitution::keys;
use crate::output::Output;
use crate::plugins::TransportPlugin;
use crate::sink::Sink;
use wfhost_audit::records::{self, GatewayCallEntry};
use wfhost_evidence::Actor;
use crate::types::{ActionClass, Artifact, CommandResult, ExecRequest, ExecSpec, GatewayError, PodIdentity, PodState, PodReport};
use wfhost_runtime::TransportError;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wfhost_constitution::Phase;

/// State shared by the engine and the gateway handed to executors.
pub struct GatewayShared {
    flow_id: String,
    flow_dir: PathBuf,
    pod_logs: PathBuf,
    sink: Sink,
    out: Output,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    bound: Option<String>,
    phase: String,
    deadline: Option<Instant>,
    deadline_hit: bool,
    calls: Vec<GatewayCallEntry>,
    drift: Vec<String>,
    refused: Vec<String>,
    provisioned: Option<PodIdentity>,
    deleted: bool,
    phase_target: Option<String>,
    /// Time this phase spent inside commands on the target (their own duration).
    process_ms: u64,
    /// The grants in force, by kind.
    grants: std::collections::BTreeMap<GrantKind, Held>,
    /// Most bytes one fetch brings back (WF_FETCH_MAX_BYTES).
    fetch_max_bytes: u64,
    /// Every file a fetch wrote, by host path: its sha256 and size, as hashed while written
    /// (the court checks artifacts against these instead of hashing them again).
    fetched: std::collections::BTreeMap<PathBuf, (String, u64)>,
    /// Bytes fetched by this flow, for the fetch progress.
    fetched_bytes: u64,
}

impl GatewayShared {
    /// A gateway for one flow. `pod_logs` is `artifacts/pod_logs` (fetch destination root);
    /// fetched files are recorded relative to `flow_dir`.
    pub fn new(flow_id: String, flow_dir: PathBuf, pod_logs: PathBuf, sink: Sink, out: Output) -> GatewayShared {
        let state = State { fetch_max_bytes: keys::WF_FETCH_MAX_BYTES.default_value(), ..State::default() };
        GatewayShared { flow_id, flow_dir, pod_logs, sink, out, state: Mutex::new(state) }
    }

    /// Set the byte cap of one fetch (the config's WF_FETCH_MAX_BYTES).
    pub fn set_fetch_max_bytes(&self, max: u64) {
        self.state().fetch_max_bytes = max;
    }

    /// The sha256 and size a fetch recorded for the file at `path` when it wrote it.
    pub fn fetched(&self, path: &Path) -> Option<(String, u64)> {
        self.state().fetched.get(path).cloned()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update; the data is still the
        // best record we have.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reset per-phase records and start the phase's clock.
    pub fn begin_phase(&self, phase: &Phase, bound: Option<String>, budget: Duration) {
        let mut s = self.state();
        s.phase = phase.id.to_string();
        s.bound = bound.or(s.bound.take());
        s.deadline = deadline_after(Instant::now(), budget);
        s.deadline_hit = false;
        s.calls.clear();
        s.drift.clear();
        s.refused.clear();
        s.phase_target = None;
        s.process_ms = 0;
    }

    /// Milliseconds this phase spent inside commands on the target.
    pub fn process_ms(&self) -> u64 {
        self.state().process_ms
    }

    /// Lock the target (P20). From now on every call must name it.
    pub fn bind(&self, target: &str) {
        self.state().bound = Some(target.to_string());
    }

    /// Issue a grant; recorded as a `capability.granted` event. Returns its id.
    pub fn grant(&self, grant: Grant) -> String {
        let kind = grant.kind.as_str();
        let id = format!("cap:{}:{kind}", self.flow_id);
        self.sink.event_full(
            "capability.granted",
            &format!("capability/{kind}"),
            json!({"capability_id": id, "kind": kind, "scope": grant.scope}),
            grant.actor.clone(),
            Some(&id),
        );
        self.state().grants.insert(grant.kind, Held { id: id.clone(), grant, used: 0 });
        id
    }

    /// Revoke a grant before the flow ends (its purpose is spent: the pod was created, or
    /// deleted); recorded as `capability.revoked`. No-op when it is not in force.
    pub fn revoke(&self, kind: GrantKind, reason: &str) {
        let Some(held) = self.state().grants.remove(&kind) else { return };
        self.end(&held.id, kind.as_str(), "revoked", reason);
    }

    /// Expire every grant in force (end of flow).
    pub fn expire_all(&self, reason: &str) {
        let grants = std::mem::take(&mut self.state().grants);
        for (kind, held) in grants {
            self.end(&held.id, kind.as_str(), "expired", reason);
        }
    }

    /// Check that `op` may run now under its grant and count the call: the grant's capability
    /// id and what approved it, or the refusal.
    fn authorize(&self, op: &str) -> Result<(String, &'static str), GatewayError> {
        // Fail closed: once evidence cannot be written, nothing more is done that it would
        // have to record.
        if let Some(e) = self.sink.error() {
            return Err(GatewayError::Refused(format!("{op} refused: the flow can no longer record its decisions ({e})")));
        }
        if let Some(signal) = wfhost_runtime::interrupt::received() {
            return Err(GatewayError::Refused(format!("{op} refused: wfhost received {signal} and is stopping the flow")));
        }
        let mut s = self.state();
        let phase = s.phase.clone();
        let kind = GrantKind::of_op(op);
        let Some(held) = s.grants.get_mut(&kind) else {
            return Err(GatewayError::Refused(kind.refusal(op, &phase)));
        };
        held.allows(op, &phase).map_err(GatewayError::Refused)?;
        held.used += 1;
        Ok((held.id.clone(), held.grant.approved_by))
    }

    /// Authorise a transport's HTTP side effect (POST, PUT, PATCH, DELETE) now: it is part of
    /// creating or deleting the pod, so it runs under the provision grant in its phase (P10) or
    /// the delete grant in its phase (P90). Returns that grant's capability id and what approved
    /// it, or why it is refused.
    pub(crate) fn authorize_http(&self, method: &str) -> Result<(String, &'static str), String> {
        let s = self.state();
        let phase = s.phase.clone();
        s.grants
            .iter()
            .filter(|(kind, _)| matches!(kind, GrantKind::Provision | GrantKind::Delete))
            .find(|(_, held)| held.grant.scope.phase.as_deref() == Some(phase.as_str()))
            .map(|(_, held)| (held.id.clone(), held.grant.approved_by))
            .ok_or_else(|| {
                format!(
                    "an HTTP {method} is an external side effect: it runs only under the flow's provision grant (P10, with consent) or delete grant (P90, --teardown delete), and none is in force in {}",
                    if phase.is_empty() { "P00".to_string() } else { phase }
                )
            })
    }

    /// Record one gateway call (`gateway.call`, or `gateway.refused` when `refused`) made by
    /// `actor` under capability `cap`, and count it for the phase's outcome; the record's
    /// `event_id`. A refusal is also a finding for the deterministic `target_unchanged` check.
    pub(crate) fn record_call(&self, entry: GatewayCallEntry, refused: bool, cap: Option<&str>, actor: Actor) -> Option<String> {
        let phase = self.state().phase.clone();
        self.state().calls.push(entry.clone());
        let kind = if refused { "gateway.refused" } else { "gateway.call" };
        if refused {
            self.state().refused.push(truncate(&format!("{}: {}", entry.op, entry.detail), 300));
        }
        let n = self.state().calls.len();
        self.sink.event_full(kind, &format!("{phase}/{}/{n}", entry.op), records::to_value(&entry), actor, cap)
    }

    /// The receipt of an external side effect that took place: appended after the call's
    /// record (`call`) and caused by it (ops.md O5).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn receipt(&self, call: Option<String>, op: &str, target: &str, key: &str, approved_by: &str, result: &str, cap: Option<&str>) {
        let phase = self.state().phase.clone();
        let n = self.state().calls.len();
        self.sink.append("receipt.side_effect", &format!("{phase}/{op}/{n}/{key}"), json!({
            "op": op, "target": target, "idempotency_key": key, "approved_by": approved_by, "phase": phase,
            "call_event_id": call, "result": truncate(result, 500),
        }), Actor::new("host", "wfhost"), cap, call.as_deref());
    }

    /// An idempotency key for `op` on `target` in this flow, derived from `extra`.
    pub(crate) fn idem_key(&self, op: &str, target: &str, extra: &str) -> String {
        wfhost_evidence::hash::sha256_hex(format!("{}\0{op}\0{target}\0{extra}", self.flow_id).as_bytes())[..32].to_string()
    }

    /// The bound target.
    pub(crate) fn bound(&self) -> Option<String> {
        self.state().bound.clone()
    }

    /// Record the end of capability `id` (`how`: revoked or expired).
    fn end(&self, id: &str, kind: &str, how: &str, reason: &str) {
        self.sink.event_full(
            &format!("capability.{how}"),
            &format!("capability/{kind}/{how}"),
            json!({"capability_id": id, "kind": kind, "reason": reason}),
            Actor::new("host", "wfhost"),
            Some(id),
        );
    }

    fn cap(&self, kind: GrantKind) -> Option<String> {
        self.state().grants.get(&kind).map(|h| h.id.clone())
    }

    /// Whether a call of this phase ran into the phase's deadline.
    pub fn deadline_hit(&self) -> bool {
        self.state().deadline_hit
    }

    /// Calls that named another target in this phase.
    pub fn drift(&self) -> Vec<String> {
        self.state().drift.clone()
    }

    /// Every call of this phase, for the outcome file.
    /// Calls refused in this phase, with the gateway's reason.
    pub fn refused(&self) -> Vec<String> {
        self.state().refused.clone()
    }

    /// Every call of this phase, as recorded.
    pub fn calls(&self) -> Vec<GatewayCallEntry> {
        self.state().calls.clone()
    }

    /// The pod P10 created, if any.
    pub fn provisioned(&self) -> Option<PodIdentity> {
        self.state().provisioned.clone()
    }

    /// Whether P90 deleted the pod.
    pub fn deleted(&self) -> bool {
        self.state().deleted
    }

    /// The target this phase's calls named (the bound one unless it drifted).
    pub fn phase_target(&self) -> Option<String> {
        self.state().phase_target.clone()
    }
}

/// The gateway one executor call sees.
pub struct FlowGateway {
    shared: Arc<GatewayShared>,
    transport: TransportPlugin,
}

impl FlowGateway {
    /// Wrap the shared state for one executor call; the transport's host side records its own
    /// HTTP calls into the same state from now on.
    pub fn new(shared: Arc<GatewayShared>, transport: TransportPlugin) -> Arc<FlowGateway> {
        transport.attach(&shared);
        Arc::new(FlowGateway { shared, transport })
    }

    /// The flow's transport.
    pub fn transport(&self) -> &TransportPlugin {
        &self.transport
    }

    /// Record a call (or its refusal) and return the record's `event_id`.
    fn record(&self, op: &str, target: Option<&str>, class: ActionClass, started: Instant, result: Result<&str, &GatewayError>) -> Option<String> {
        self.record_as(Actor::new("plugin", "executor"), op, target, class, started, result)
    }

    /// [`FlowGateway::record`] of a call `actor` made.
    fn record_as(&self, actor: Actor, op: &str, target: Option<&str>, class: ActionClass, started: Instant, result: Result<&str, &GatewayError>) -> Option<String> {
        let ms = started.elapsed().as_millis() as u64;
        let (ok, detail, refused) = match result {
            Ok(d) => (true, d.to_string(), false),
            Err(GatewayError::Refused(m)) => (false, m.clone(), true),
            Err(e) => (false, gateway_error_text(e), false),
        };
        let entry = GatewayCallEntry {
            op: op.to_string(),
            target: target.map(str::to_string),
            class: class_str(class).to_string(),
            ok,
            duration_ms: ms,
            detail: truncate(&detail, 2000),
        };
        let cap = self.shared.cap(GrantKind::of_op(op));
        // A call made without its capability is by definition refused; record it as such.
        self.shared.record_call(entry, refused || cap.is_none(), cap.as_deref(), actor)
    }

    /// The receipt of an external side effect that took place under `op`'s grant.
    fn receipt(&self, call: Option<String>, op: &str, target: &str, key: &str, approved_by: &str, result: &str) {
        let cap = self.shared.cap(GrantKind::of_op(op));
        self.shared.receipt(call, op, target, key, approved_by, result, cap.as_deref());
    }

    /// Check `target` is the bound one (record drift otherwise) and that `op` runs under a
    /// grant in force; returns what approved it.
    fn scope(&self, op: &str, target: &str) -> Result<&'static str, GatewayError> {
        self.bound(op, target)?;
        self.shared.authorize(op).map(|(_, approved)| approved)
    }

    fn bound(&self, op: &str, target: &str) -> Result<(), GatewayError> {
        let mut s = self.shared.state();
        match &s.bound {
            Some(b) if b == target => {
                s.phase_target.get_or_insert_with(|| target.to_string());
                Ok(())
            }
            Some(b) => {
                let msg = format!("{op} on {target:?} refused: this flow is bound to {b:?} (Law 3)");
                s.drift.push(format!("{op} on {target}"));
                s.phase_target = Some(target.to_string());
                Err(GatewayError::Refused(msg))
            }
            None => Err(GatewayError::Refused(format!("{op} on {target:?} refused: no target is bound yet"))),
        }
    }

    fn remaining(&self) -> Result<Duration, GatewayError> {
        let mut s = self.shared.state();
        let left = s.deadline.map(|d| d.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(3600));
        if left.is_zero() {
            s.deadline_hit = true;
            return Err(GatewayError::Timeout("the phase's time budget is used up".into()));
        }
        Ok(left)
    }

    fn idem_key(&self, op: &str, target: &str, extra: &str) -> String {
        self.shared.idem_key(op, target, extra)
    }

    /// The bound target.
    pub fn gw_bound_target(&self) -> Option<String> {
        self.shared.state().bound.clone()
    }

    /// Create a pod (P10 only, with consent).
    pub fn gw_provision(&self, name_hint: String) -> Result<PodIdentity, GatewayError> {
        let t0 = Instant::now();
        let r = self.shared.authorize("provision").and_then(|(_, approved)| {
            if !wfhost_config::is_safe_segment(&name_hint) {
                return Err(GatewayError::Refused(format!("provision refused: name hint {name_hint:?} is not a safe name")));
            }
            let key = self.idem_key("provision", "", &name_hint);
            // Creating a pod may include waiting for it (a rented pod that must come up): the
            // call may take what is left of the phase's budget, and no more.
            let left = self.remaining()?;
            self.transport.provision(&name_hint, &key, left).map_err(gw_err).map(|pod| (pod, key, approved))
        });
        let call = self.record("provision", r.as_ref().ok().map(|p| p.0.target.as_str()), ActionClass::WriteExternalSideEffect, t0, r.as_ref().map(|p| p.0.target.as_str()));
        let (pod, key, approved) = r?;
        self.receipt(call, "provision", &pod.target, &key, approved, &format!("created {}", pod.target));
        self.shared.state().provisioned = Some(pod.clone());
        Ok(pod)
    }

    /// Pod status.
    pub fn gw_pod_status(&self, target: String) -> Result<PodReport, GatewayError> {
        let t0 = Instant::now();
        let r = self.scope("pod-status", &target).and_then(|_| self.transport.status(&target).map_err(gw_err));
        self.record("pod-status", Some(&target), ActionClass::Read, t0, r.as_ref().map(|s| pod_state_str(s.state)));
        r
    }

    /// Resolve a remote path.
    pub fn gw_resolve_path(&self, target: String, path: String) -> Result<String, GatewayError> {
        let t0 = Instant::now();
        let r = self.scope("resolve-path", &target).and_then(|_| self.transport.resolve_path(&target, &path).map_err(gw_err));
        self.record("resolve-path", Some(&target), ActionClass::Read, t0, r.as_ref().map(String::as_str));
        r
    }

    /// Run a command on the target.
    pub fn gw_exec(&self, req: ExecRequest) -> Result<CommandResult, GatewayError> {
        let t0 = Instant::now();
        let target = req.target.clone();
        let class = req.class;
        let r = self.scope("exec", &target).and_then(|_| {
            let left = self.remaining()?;
            let asked = Duration::from_millis(req.timeout_ms.max(1));
            let timeout = asked.min(left);
            let spec = ExecSpec { command: req.command.clone(), cwd: req.cwd.clone(), env: req.env.clone(), timeout_ms: timeout.as_millis() as u64 };
            let r = self.transport.exec(&target, spec).map_err(gw_err);
            if let Ok(res) = &r {
                self.shared.state().process_ms += res.duration_ms;
                if res.timed_out && timeout < asked {
                    self.shared.state().deadline_hit = true;
                }
            }
            r
        });
        let detail = match &r {
            Ok(res) => format!("exit {:?} in {} ms: {}", res.exit_code, res.duration_ms, first_line(&req.command)),
            Err(_) => first_line(&req.command),
        };
        let call = self.record("exec", Some(&target), class, t0, r.as_ref().map(|_| detail.as_str()));
        // The command ran (whatever its exit code): its side effect, if any, took place.
        if class == ActionClass::WriteExternalSideEffect && r.is_ok() {
            let key = req.idempotency_key.clone().unwrap_or_else(|| self.idem_key("exec", &target, &req.command));
            self.receipt(call, "exec", &target, &key, "policy:bound-target", &detail);
        }
        r
    }

    /// Write a file on the target.
    pub fn gw_put_file(&self, target: String, path: String, contents: Vec<u8>, mode: u32) -> Result<(), GatewayError> {
        let t0 = Instant::now();
        let digest = wfhost_evidence::hash::sha256_hex(&contents);
        let size = contents.len();
        let r = self.scope("put-file", &target).and_then(|_| self.transport.put_file(&target, &path, contents, mode).map_err(gw_err));
        let call = self.record("put-file", Some(&target), ActionClass::WriteExternalSideEffect, t0, r.as_ref().map(|_| path.as_str()));
        if r.is_ok() {
            let key = self.idem_key("put-file", &target, &format!("{path}\0{digest}"));
            self.receipt(call, "put-file", &target, &key, "policy:bound-target", &format!("wrote {path} ({size} bytes, sha256 {digest})"));
        }
        r
    }

    /// Write the runs' secrets file on the target for the host (WF_RUN_SECRETS): checked and
    /// recorded as every put-file is, except that neither the record nor the receipt carries a
    /// digest of the contents (they hold secret values); each handle delivered leaves a
    /// `secret.issued` record naming it, never its value.
    pub fn host_put_secrets(&self, target: &str, path: &str, contents: Vec<u8>, handles: &[String]) -> Result<(), GatewayError> {
        let t0 = Instant::now();
        let r = self.scope("put-file", target).and_then(|_| self.transport.put_file(target, path, contents, 0o600).map_err(gw_err));
        let detail = format!("{path} (secrets {}, mode 600)", handles.join(", "));
        let call = self.record_as(Actor::new("host", "wfhost"), "put-file", Some(target), ActionClass::WriteExternalSideEffect, t0, r.as_ref().map(|_| detail.as_str()));
        r?;
        let key = self.idem_key("put-file", target, path);
        self.receipt(call, "put-file", target, &key, "policy:bound-target", &format!("wrote {detail}"));
        let phase = self.shared.state().phase.clone();
        for handle in handles {
            self.shared.sink.event("secret.issued", &format!("secret/{handle}"), json!({
                "handle": handle,
                "audience": format!("the runs on {target}, environment variable {handle} (read from {path})"),
                "scope": "the sweep's runs",
                "requester": format!("host:{phase}"),
                "expires": "when P90 or the runner's end removes the file",
            }));
        }
        Ok(())
    }

    /// Read a file on the target.
    pub fn gw_get_file(&self, target: String, path: String, max_bytes: u64) -> Result<Vec<u8>, GatewayError> {
        let t0 = Instant::now();
        let r = self.scope("get-file", &target).and_then(|_| self.transport.get_file(&target, &path, max_bytes).map_err(gw_err));
        self.record("get-file", Some(&target), ActionClass::Read, t0, r.as_ref().map(|_| path.as_str()));
        r
    }

    /// Copy a remote directory back under `artifacts/pod_logs/<target>/<local_rel>/`.
    pub fn gw_fetch_dir(&self, target: String, remote_dir: String, local_rel: String) -> Result<Vec<Artifact>, GatewayError> {
        let t0 = Instant::now();
        let r = self.scope("fetch-dir", &target).and_then(|_| self.fetch(&target, &remote_dir, &local_rel));
        let detail = format!("{remote_dir} -> {local_rel}");
        self.record("fetch-dir", Some(&target), ActionClass::WriteInternal, t0, r.as_ref().map(|_| detail.as_str()));
        r
    }

    fn fetch(&self, target: &str, remote_dir: &str, local_rel: &str) -> Result<Vec<Artifact>, GatewayError> {
        let rel = Path::new(local_rel);
        if local_rel.is_empty()
            || rel.is_absolute()
            || !rel.components().all(|c| matches!(c, std::path::Component::Normal(s) if wfhost_config::is_safe_segment(&s.to_string_lossy())))
        {
            return Err(GatewayError::Refused(format!("fetch-dir local path {local_rel:?} must be relative safe segments")));
        }
        let left = self.remaining()?;
        let failed = |what: &str, e: &dyn std::fmt::Display| GatewayError::Failed(format!("{what}: {e}"));
        // Everything below pod_logs goes through a capability directory opened on it.
        std::fs::create_dir_all(&self.shared.pod_logs).map_err(|e| failed(&format!("cannot create {}", self.shared.pod_logs.display()), &e))?;
        let root = Dir::open_ambient_dir(&self.shared.pod_logs, cap_std::ambient_authority())
            .map_err(|e| failed(&format!("cannot open {}", self.shared.pod_logs.display()), &e))?;
        let dest_rel = Path::new(&crate::target_dir_name(target)).join(rel);
        let partial_rel = dest_rel.with_extension(format!("partial-{}", &self.shared.flow_id));
        let _ = root.remove_dir_all(&partial_rel);
        root.create_dir_all(&partial_rel).map_err(|e| failed(&format!("cannot create {}", partial_rel.display()), &e))?;
        let partial = root.open_dir(&partial_rel).map_err(|e| failed(&format!("cannot open {}", partial_rel.display()), &e))?;
        let max_bytes = self.shared.state().fetch_max_bytes;
        let budget = Budget { max_bytes, deadline: Some(Instant::now() + left) };
        let fetched = self.transport.fetch_into(target, remote_dir, &partial, &budget);
        drop(partial);
        let (unpacked, stderr) = match fetched {
            Ok(done) => done,
            Err(e) => {
                let _ = root.remove_dir_all(&partial_rel);
                return Err(self.fetch_error(e, remote_dir, max_bytes));
            }
        };
        // Swap in: the previous copy stays until the new one is complete.
        let old_rel = dest_rel.with_extension(format!("old-{}", &self.shared.flow_id));
        if root.symlink_metadata(&dest_rel).is_ok() {
            root.rename(&dest_rel, &root, &old_rel).map_err(|e| failed(&format!("cannot move aside {}", dest_rel.display()), &e))?;
        }
        root.rename(&partial_rel, &root, &dest_rel).map_err(|e| failed(&format!("cannot move {} into place", partial_rel.display()), &e))?;
        let _ = root.remove_dir_all(&old_rel);
        let dest = self.shared.pod_logs.join(&dest_rel);
        let recorded_dir = relative_to(&dest, &self.shared.flow_dir);
        let mut out = Vec::with_capacity(unpacked.files.len());
        for f in unpacked.files {
            let path = dest.join(&f.name);
            self.shared.sink.event("artifact.written", &format!("fetch/{local_rel}/{}", f.name), json!({
                "name": f.name, "path": format!("{recorded_dir}/{}", f.name), "sha256": f.sha256, "size": f.size, "target": target,
            }));
            {
                let mut state = self.shared.state();
                state.fetched.insert(path.clone(), (f.sha256.clone(), f.size));
                state.fetched_bytes += f.size;
            }
            out.push(Artifact { name: f.name, path: path.display().to_string(), sha256: Some(f.sha256) });
        }
        // Sockets never reach the archive: the remote tar names each one it left out.
        let mut skipped = unpacked.skipped;
        skipped.extend(fetch::sockets_left_out(&stderr));
        if !skipped.is_empty() || !unpacked.modes_dropped.is_empty() {
            self.shared.sink.event("artifact.skipped", &format!("fetch/{local_rel}/skipped"), json!({
                "target": target, "remote_dir": remote_dir, "path": recorded_dir,
                "skipped": skipped, "modes_dropped": unpacked.modes_dropped,
            }));
        }
        Ok(out)
    }

    /// A failed fetch as the gateway's error, saying what to do.
    fn fetch_error(&self, e: FetchError, remote_dir: &str, max_bytes: u64) -> GatewayError {
        let key = keys::WF_FETCH_MAX_BYTES;
        match e {
            FetchError::Transport(t) => gw_err(t),
            FetchError::Process(m) => GatewayError::Failed(format!("fetch of {remote_dir}: the streaming program could not run: {m}")),
            FetchError::Unpack(fetch::UnpackError::OutOfTime { .. }) => {
                self.shared.state().deadline_hit = true;
                GatewayError::Timeout(format!("fetch of {remote_dir}: the phase's time budget ran out; nothing of this fetch was kept"))
            }
            FetchError::Unpack(u @ fetch::UnpackError::TooLarge { .. }) => GatewayError::Failed(format!(
                "fetch of {remote_dir} stopped: {u}, over {}={max_bytes}; nothing of this fetch was kept. Raise {} (at most {}) or fetch one run with --fetch run:<id>",
                key.name(),
                key.name(),
                key.max()
            )),
            FetchError::Unpack(u) => GatewayError::Failed(format!("fetch of {remote_dir}: {u}; nothing of this fetch was kept")),
        }
    }

    /// Delete the pod (P90 with `--teardown delete` only).
    pub fn gw_delete_pod(&self, target: String) -> Result<(), GatewayError> {
        let t0 = Instant::now();
        let r = self
            .scope("delete-pod", &target)
            .and_then(|approved| self.transport.delete(&target).map_err(gw_err).map(|()| approved));
        // The receipt says whether the pod is gone: the transport is asked once more (a read,
        // recorded as pod-status after the receipt, which must follow its call); a pod it still
        // reports is named, not hidden.
        let t1 = Instant::now();
        let after = r.as_ref().ok().map(|_| self.scope("pod-status", &target).and_then(|_| self.transport.status(&target).map_err(gw_err)));
        let call = self.record("delete-pod", Some(&target), ActionClass::WriteExternalSideEffect, t0, r.as_ref().map(|_| "deleted"));
        let approved = r?;
        let key = self.idem_key("delete", &target, "");
        let gone = matches!(&after, Some(Err(GatewayError::Vanished(_)))) || matches!(&after, Some(Ok(r)) if matches!(r.state, PodState::Missing));
        let result = match &after {
            _ if gone => "deleted; confirmed gone: the transport no longer finds it".to_string(),
            Some(Ok(report)) => format!("deleted; the transport still reports it {}", pod_state_str(report.state)),
            Some(Err(e)) => format!("deleted; not confirmed: {}", gateway_error_text(e)),
            None => "deleted".to_string(),
        };
        self.receipt(call, "delete-pod", &target, &key, approved, &result);
        if let Some(after) = &after {
            self.record("pod-status", Some(&target), ActionClass::Read, t1, after.as_ref().map(|s| pod_state_str(s.state)));
        }
        self.shared.state().deleted = true;
        Ok(())
    }

    /// A structured progress message from the executor (a `debug` log line starting with
    /// `wfhost-progress `): shown as a bar on a terminal, never recorded. Anything else at debug
    /// level is dropped as before.
    pub fn gw_debug(&self, message: &str) {
        if let Some(mut p) = crate::output::Progress::parse(message) {
            if let crate::output::Progress::Fetch { bytes, .. } = &mut p {
                *bytes = self.shared.state().fetched_bytes;
            }
            self.shared.out.progress(&p);
        }
    }

    /// A log line from the executor.
    pub fn gw_log(&self, level: &str, message: &str) {
        let phase = self.shared.state().phase.clone();
        self.shared.out.note(&format!("{phase}: {}", truncate(message, 500)));
        if level == "warn" || level == "error" {
            self.shared.sink.event("plugin.log", &format!("{phase}/log"), json!({"level": level, "message": truncate(message, 2000)}));
        }
    }
}

/// `path` relative to `base` (both resolved through the file system), for evidence that stays
/// valid when the working directory moves; the absolute path when they share no root.
pub fn relative_to(path: &Path, base: &Path) -> String {
    let (Ok(p), Ok(b)) = (std::fs::canonicalize(path), std::fs::canonicalize(base)) else {
        return path.display().to_string();
    };
    let (pc, bc): (Vec<_>, Vec<_>) = (p.components().collect(), b.components().collect());
    let common = pc.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return p.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..bc.len() {
        rel.push("..");
    }
    for c in &pc[common..] {
        rel.push(c.as_os_str());
    }
    rel.display().to_string()
}

/// Map a transport error to the gateway's error.
pub fn gw_err(e: TransportError) -> GatewayError {
    match e {
        TransportError::Unreachable(m) => GatewayError::Unreachable(m),
        TransportError::Vanished(m) => GatewayError::Vanished(m),
        TransportError::Timeout(m) => GatewayError::Timeout(m),
        TransportError::Failed(m) => GatewayError::Failed(m),
        TransportError::Invalid(m) => GatewayError::Failed(format!("invalid request: {m}")),
        TransportError::Plugin(f) => GatewayError::Failed(format!("transport plugin failed: {f}")),
    }
}

/// A gateway error as `kind: message`.
pub fn gateway_error_text(e: &GatewayError) -> String {
    match e {
        GatewayError::Refused(m) => format!("refused: {m}"),
        GatewayError::Unreachable(m) => format!("unreachable: {m}"),
        GatewayError::Vanished(m) => format!("vanished: {m}"),
        GatewayError::Timeout(m) => format!("timeout: {m}"),
        GatewayError::Failed(m) => format!("failed: {m}"),
    }
}

/// A pod state as evidence and messages write it: `ready`, `starting`, `stopped`, `missing`.
pub fn pod_state_str(s: PodState) -> &'static str {
    match s {
        PodState::Ready => "ready",
        PodState::Starting => "starting",
        PodState::Stopped => "stopped",
        PodState::Missing => "missing",
    }
}

pub(crate) fn class_str(c: ActionClass) -> &'static str {
    match c {
        ActionClass::Read => "READ",
        ActionClass::WriteInternal => "WRITE_INTERNAL",
        ActionClass::WriteExternalSideEffect => "WRITE_EXTERNAL_SIDE_EFFECT",
    }
}

/// The first line of a command, at most 200 bytes (cut at a character boundary).
fn first_line(s: &str) -> String {
    truncate(s.lines().next().unwrap_or(""), 200)
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `now + budget`, saturating: a budget longer than a century is a deadline a century away
/// (one that never comes), never an overflow panic, whatever the config or a plugin asked for.
fn deadline_after(now: Instant, budget: Duration) -> Option<Instant> {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(budget.min(CENTURY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_shortened_at_a_character_boundary() {
        // Byte 200 falls inside a two-byte character: slicing there would panic.
        let command = format!("{}é and more\nsecond line", "x".repeat(199));
        let shown = first_line(&command);
        assert!(shown.starts_with(&"x".repeat(199)), "{shown}");
        assert!(!shown.contains("second"), "{shown}");
        assert!(shown.len() <= 200 + '…'.len_utf8(), "{}", shown.len());
        assert_eq!(first_line("short"), "short");
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn a_huge_budget_is_a_far_deadline_not_a_panic() {
        let now = Instant::now();
        for budget in [Duration::MAX, Duration::from_secs(u64::MAX), Duration::from_secs(18_446_744_073_709_551)] {
            let d = deadline_after(now, budget).expect("a century ahead is representable");
            assert!(d > now + Duration::from_secs(365 * 24 * 3600));
        }
        assert_eq!(deadline_after(now, Duration::from_secs(5)), Some(now + Duration::from_secs(5)));
    }
}
