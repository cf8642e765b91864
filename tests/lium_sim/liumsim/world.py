"""The simulated account: executors, templates, SSH keys, pods, idempotency keys, the request log.

`World` holds all state behind one lock. The HTTP layer (`api`) calls one method per route; each
returns `(status, body)` or raises `ApiError(status, body, headers)`, with the bodies of
`lium_api.md` §2 and §5. A timer thread (`_loop`) moves pods through their states at their due
times:

    PENDING --ready_after_s/slow_ready--> (sshd started, banner seen) --> RUNNING
    PENDING --creation_failure--> CREATION_FAILED --failed_visible_s--> purged
    RUNNING --vanish--> DELETING (hidden) or BROKEN;  RUNNING --reboot--> REBOOT_PENDING --> RUNNING
    any --DELETE / schedule-removal time / termination_hours--> [still listed for delete_slow_s]
        --> DELETING (hidden from GET /pods, sshd killed) --delete_delay_s--> purged (dir removed)

Starting and killing sshd (`podhost.PodHost`) happens outside the lock, on worker threads, so a
slow sshd never stalls the API. Server-side times given through the API (`termination_hours`,
`removal_scheduled_at`) run `time_scale` times faster than the wall clock; delays from the config
and the knobs are real seconds. Purged pods stay in memory for `/_admin/pods` and
`GET /pods/{id}/events`.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import knobs as knobmod
from .config import Config
from .podhost import PodHost, free_port

PHASES = ("queued", "preparing node", "connecting to node", "pulling image", "creating volume",
          "starting container", "configuring ssh")
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9\-_.:]{1,255}$")
PUBLIC_KEY_RE = re.compile(r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\r\n]*)?$")


class ApiError(Exception):
    """An HTTP error answer: status, JSON body, extra headers."""

    def __init__(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None):
        super().__init__(f"{status}: {body}")
        self.status, self.body, self.headers = status, body, headers or {}


def envelope(status: int, code: str, message: Any, hint: Optional[str] = None) -> Dict[str, Any]:
    """The platform's error envelope (`lium_api.md` §5); `api` fills `error.request_id`."""
    text = message if isinstance(message, str) else (message.get("message") if isinstance(message, dict) else str(message))
    return {"success": False, "error": {"code": code, "message": text, "hint": hint, "request_id": None},
            "message": message, "status_code": status}


def not_found() -> ApiError:
    return ApiError(404, {"detail": "Not Found"})


def validation_error(loc: List[Any], msg: str, kind: str, value: Any = None) -> ApiError:
    """FastAPI's 422 body."""
    return ApiError(422, {"detail": [{"type": kind, "loc": loc, "msg": msg, "input": value}]})


def wall() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """Naive UTC ISO string, as the API sends timestamps."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


class Pod:
    """One rented pod and every timer that can move it."""

    def __init__(self, pid: str, executor: Dict[str, Any], name: str, body: Dict[str, Any], template, gpus: int):
        self.id = pid
        self.executor = executor
        self.name = name
        self.body = body
        self.template = template
        self.gpu_count = gpus
        self.price = round(executor["price_per_gpu"] * gpus, 6)
        self.status = "PENDING"
        self.created_wall = wall()
        self.updated_wall = self.created_wall
        self.created = time.monotonic()
        self.knobs: Dict[str, Dict[str, Any]] = {}
        self.ready_due = self.created
        self.visible_from = self.created
        self.fail_due: Optional[float] = None
        self.vanish_due: Optional[float] = None
        self.removal_scheduled_at: Optional[str] = None
        self.removal_due: Optional[float] = None
        self.termination_hours: Optional[int] = body.get("termination_hours")
        self.ttl_due: Optional[float] = None
        self.delete_started: Optional[float] = None
        self.delete_listed_until: Optional[float] = None
        self.delete_listed_status: Optional[str] = None
        self.hidden = False
        self.purge_due: Optional[float] = None
        self.purged = False
        self.host: Optional[PodHost] = None
        self.starting = False
        self.ssh_host: Optional[str] = None
        self.ssh_port: Optional[int] = None
        self.sshd_due: Optional[float] = None
        self.reboot_due: Optional[float] = None
        self.running_since: Optional[float] = None
        self.running_total = 0.0
        self.events: List[Dict[str, Any]] = []
        self.history: List[Dict[str, Any]] = []


class World:
    """All simulated state; see the module header."""

    def __init__(self, cfg: Config, state_dir: Path):
        self.cfg = cfg
        self.pods_dir = state_dir / "pods"
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.wake = threading.Condition(self.lock)
        self.started_wall = wall()
        self.started = time.monotonic()
        self.executors = {e["id"]: e for e in cfg.executors}
        self.templates = {t["id"]: t for t in cfg.templates}
        self.ssh_keys: List[Dict[str, Any]] = []
        self.pods: Dict[str, Pod] = {}
        self.idem: Dict[str, Dict[str, Any]] = {}
        self.book = knobmod.KnobBook(cfg.executor_knobs)
        self.balance_adjust = 0.0
        self.requests: List[Dict[str, Any]] = []
        self.request_seq = 0
        self.pods_polls: List[float] = []
        self.closing = False
        self.workers: List[threading.Thread] = []
        self.timer = threading.Thread(target=self._loop, name="lium-sim-timer", daemon=True)
        self.timer.start()

    # ---- small helpers -----------------------------------------------------------------------

    def scaled(self, seconds: float) -> float:
        """Real seconds for an API-given duration (termination_hours, removal time)."""
        return seconds / self.cfg.time_scale

    def _event(self, pod: Pod, sub: str, to_status: Optional[str], *, reason=None, detail=None, error=None,
               from_status=None) -> None:
        pod.events.append({
            "created_at": iso(wall()), "event_type": sub.split(".")[0], "sub_event_type": sub,
            "from_status": from_status, "to_status": to_status, "reason": reason, "detail": detail, "error": error,
        })

    def _set_status(self, pod: Pod, status: str, note: str = "") -> None:
        now = time.monotonic()
        if pod.status == "RUNNING" and status != "RUNNING" and pod.running_since is not None:
            pod.running_total += now - pod.running_since
            pod.running_since = None
        if status == "RUNNING" and pod.running_since is None:
            pod.running_since = now
        pod.status = status
        pod.updated_wall = wall()
        pod.history.append({"at": iso(pod.updated_wall), "t": round(now - self.started, 3), "status": status,
                            "note": note})
        self.wake.notify_all()

    def balance(self) -> float:
        now = time.monotonic()
        spent = 0.0
        for pod in self.pods.values():
            secs = pod.running_total + ((now - pod.running_since) if pod.running_since is not None else 0.0)
            spent += pod.price * secs * self.cfg.time_scale / 3600.0
        return round(self.cfg.balance + self.balance_adjust - spent, 6)

    def free_gpus(self, ex: Dict[str, Any]) -> int:
        used = sum(p.gpu_count for p in self.pods.values() if p.executor["id"] == ex["id"] and not p.purged)
        return max(0, ex["gpu_count"] - used)

    def listed(self, pod: Pod, now: Optional[float] = None) -> bool:
        now = time.monotonic() if now is None else now
        return not pod.purged and not pod.hidden and now >= pod.visible_from

    def _spawn(self, target: Callable, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self.workers = [w for w in self.workers if w.is_alive()] + [t]
        t.start()

    # ---- rows ----------------------------------------------------------------------------------

    def executor_row(self, ex: Dict[str, Any]) -> Dict[str, Any]:
        n = ex["gpu_count"]
        row = {
            "id": ex["id"], "machine_name": ex["machine_name"], "price_per_gpu": ex["price_per_gpu"],
            "gpu_count": n, "available_gpu_count": self.free_gpus(ex),
            "min_gpu_count_for_rental": ex["min_gpu_count_for_rental"], "executor_ip_address": "127.0.0.1",
            "status": "online", "location": ex["location"],
            "effective_download_speed_mbps": ex["effective_download_speed_mbps"],
            "effective_upload_speed_mbps": ex["effective_upload_speed_mbps"],
            "max_cuda_version": ex["max_cuda_version"], "tier": ex["tier"], "nvlink": False if n > 1 else None,
            "interconnect": None, "gpu_power_limited": False, "gpu_power_limit_w": None,
            "gpu_power_limit_default_w": None, "frequent_rent_failures": False,
            "last_verified_at": iso(self.started_wall), "reliability_score": ex["reliability_score"],
            "specs": {
                "gpu": {"count": n, "driver": ex["driver"],
                        "details": [{"name": ex["machine_name"], "capacity": ex["gpu_capacity_mib"]} for _ in range(n)]},
                "cpu": {"count": ex["cpu_count"], "model": "AMD EPYC 9354 32-Core Processor"},
                "ram": {"total": ex["ram_kib"], "free": ex["ram_kib"]},
                "hard_disk": {"total": ex["disk_kib"], "free": ex["disk_kib"]},
                "available_port_count": ex["available_port_count"], "sysbox_runtime": False,
            },
        }
        row.update(ex["extra"])
        return row

    def pod_row(self, pod: Pod, detail: bool = False) -> Dict[str, Any]:
        ex = pod.executor
        status = pod.delete_listed_status if (pod.delete_started and not pod.hidden and pod.delete_listed_status) else pod.status
        ssh_cmd = f"ssh root@{pod.ssh_host} -p {pod.ssh_port}" if (status == "RUNNING" and pod.ssh_port) else None
        row = {
            "id": pod.id, "executor_id": ex["id"], "pod_name": pod.name, "status": status,
            "ssh_connect_cmd": ssh_cmd, "ports_mapping": {"22": pod.ssh_port} if ssh_cmd else {},
            "gpu_name": ex["machine_name"].replace("NVIDIA ", "").split()[0] if ex["machine_name"] else None,
            "gpu_count": str(pod.gpu_count), "cpu_name": "EPYC", "cpu_count": ex["cpu_count"],
            "ram_total": ex["ram_kib"] // 1024, "price": pod.price,
            "created_at": iso(pod.created_wall), "updated_at": iso(pod.updated_wall),
            "removal_scheduled_at": pod.removal_scheduled_at, "termination_hours": pod.termination_hours,
            "jupyter_installation_status": None, "jupyter_url": None,
            "enable_volume_encryption": bool(pod.body.get("enable_volume_encryption")),
            "volume_encryption_status": None, "cluster_id": None, "cluster_node_index": None,
            "created_by_api_key_id": None, "workspace_id": None, "template": pod.template,
            "executor": {
                "id": ex["id"], "machine_name": ex["machine_name"], "price_per_gpu": ex["price_per_gpu"],
                "executor_ip_address": "127.0.0.1", "gpu_count": ex["gpu_count"],
                "specs": {"gpu": {"count": ex["gpu_count"], "driver": ex["driver"],
                                  "details": [{"name": ex["machine_name"], "capacity": ex["gpu_capacity_mib"]}]}},
                "active": True, "location": ex["location"],
            },
            "volume": None, "ssh_keys": [], "is_favorite": False,
        }
        if status in ("PENDING", "REBOOT_PENDING"):
            due = pod.reboot_due if status == "REBOOT_PENDING" else pod.ready_due
            left = max(0.0, (due or time.monotonic()) - time.monotonic())
            total = max(1e-9, (due or pod.created) - pod.created)
            done = 1.0 - min(1.0, left / total) if total > 1e-6 else 1.0
            row["estimated_ready_seconds"] = int(round(left))
            row["eta_basis"] = "fleet_default"
            row["phase"] = PHASES[min(len(PHASES) - 1, int(done * len(PHASES)))]
        if detail:
            row["last_event"] = pod.events[-1] if pod.events else None
            row["executor"]["disk_health_ok"] = True
        return row

    # ---- public listings -----------------------------------------------------------------------

    def list_executors(self, query: Dict[str, str]) -> List[Dict[str, Any]]:
        names = [n.strip().lower() for n in query.get("machine_names", "").split(",") if n.strip()]

        def num(key: str) -> Optional[int]:
            try:
                return int(query[key]) if key in query else None
            except ValueError:
                raise validation_error(["query", key], "Input should be a valid integer", "int_parsing", query[key])

        gte, lte = num("gpu_count_gte"), num("gpu_count_lte")
        with self.lock:
            rows = []
            for ex in self.executors.values():
                if self.free_gpus(ex) <= 0:
                    continue  # a fully rented node is not listed
                if names and not any(n in ex["machine_name"].lower() for n in names):
                    continue
                if (gte is not None and ex["gpu_count"] < gte) or (lte is not None and ex["gpu_count"] > lte):
                    continue
                rows.append(self.executor_row(ex))
            return rows

    def machines(self) -> List[Dict[str, str]]:
        return [{"name": n} for n in sorted({e["machine_name"] for e in self.executors.values()})]

    def template(self, tid: str) -> Dict[str, Any]:
        t = self.templates.get(tid)
        if t is None:
            raise not_found()
        return t

    def default_images(self) -> List[Dict[str, str]]:
        return [{"docker_image": t["docker_image"], "docker_image_tag": t["docker_image_tag"]}
                for t in self.templates.values() if "pytorch" in t["docker_image"].lower()][:1]

    def deployment_estimate(self, query: Dict[str, str]) -> Dict[str, Any]:
        for key in ("executor_id", "template_id"):
            if key not in query:
                raise validation_error(["query", key], "Field required", "missing")
        est = max(1, int(round(self.cfg.ready_after_s))) if self.cfg.ready_after_s else 20
        return {"estimated_seconds": est, "is_slow_machine": False, "warning_message": None,
                "is_cached_template": True, "docker_image_size": None}

    def me(self) -> Dict[str, Any]:
        with self.lock:
            me = {"id": "5f0c6a1e-2b7d-4c3a-9e8f-1a2b3c4d5e6f", "name": "Sim User", "email": "sim@example.invalid",
                  "balance": self.balance(), "stripe_customer_id": None, "is_verified": True}
            me.update(self.cfg.user)
            me["balance"] = self.balance()
            return me

    def version(self) -> Dict[str, Any]:
        return {"started_at": iso(self.started_wall), "uptime_seconds": int(time.monotonic() - self.started),
                "features": list(self.cfg.features)}

    def list_ssh_keys(self) -> List[Dict[str, Any]]:
        with self.lock:
            return list(self.ssh_keys)

    def add_ssh_key(self, body: Any) -> Dict[str, Any]:
        if not isinstance(body, dict):
            raise validation_error(["body"], "Input should be a valid dictionary", "dict_type", body)
        name, key = body.get("name"), body.get("public_key")
        if not isinstance(name, str) or not name:
            raise validation_error(["body", "name"], "Field required", "missing")
        if not isinstance(key, str) or not PUBLIC_KEY_RE.match(key.strip()):
            raise ApiError(400, {"detail": "Invalid SSH public key"})
        with self.lock:
            if len(self.ssh_keys) >= 50:
                raise ApiError(400, {"detail": "You can have at most 50 SSH keys"})
            row = {"id": str(uuid.uuid4()), "name": name, "public_key": key.strip(), "created_at": iso(wall()),
                   "user_id": self.me()["id"], "updated_at": None}
            self.ssh_keys.append(row)
            return row

    # ---- rent ----------------------------------------------------------------------------------

    def _check_rent_body(self, body: Any) -> Tuple[List[str], Optional[int], Optional[int]]:
        if not isinstance(body, dict):
            raise validation_error(["body"], "Input should be a valid dictionary", "dict_type", body)
        name = body.get("pod_name")
        if not isinstance(name, str) or not name.strip():
            raise validation_error(["body", "pod_name"], "Field required", "missing", name)
        keys = body.get("user_public_key")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise validation_error(["body", "user_public_key"], "Input should be a non-empty list of strings",
                                   "list_type", keys)
        for k in keys:
            if not PUBLIC_KEY_RE.match(k.strip()):
                raise ApiError(400, {"detail": f"Invalid SSH public key: {k[:40]!r}"})
        hours = body.get("termination_hours")
        if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 720):
            raise validation_error(["body", "termination_hours"], "Input should be an integer from 1 to 720",
                                   "int_range", hours)
        gpus = body.get("gpu_count")
        if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1):
            raise validation_error(["body", "gpu_count"], "Input should be an integer >= 1", "int_type", gpus)
        if (body.get("template_id") is None) == (body.get("dockerfile_content") is None):
            raise ApiError(400, {"detail": "Provide exactly one of template_id or dockerfile_content"})
        return keys, hours, gpus

    def rent_begin(self, executor_id: str, body: Any, idem_key: Optional[str]) -> Dict[str, Any]:
        """Everything up to and including the commit. Returns `{"replay": (status, body)}` for a stored
        answer, or `{"status", "body", "pod", "lost"}` for a fresh one (`lost`: the rent_lost_answer
        params to apply before answering). `rent_finish` must follow a fresh one."""
        if idem_key is not None and not IDEMPOTENCY_KEY_RE.match(idem_key):
            raise ApiError(422, envelope(422, "invalid_idempotency_key",
                                         "Idempotency-Key must be 1-255 characters of A-Z a-z 0-9 - _ . :"))
        keys, hours, gpus = self._check_rent_body(body)
        digest = hashlib.sha256(json.dumps([executor_id, body], sort_keys=True).encode()).hexdigest()
        with self.lock:
            if idem_key is not None:
                rec = self.idem.get(idem_key)
                if rec is not None:
                    if rec["digest"] != digest:
                        raise ApiError(422, envelope(422, "idempotency_key_reused",
                                                     "This Idempotency-Key was used with a different request"))
                    if rec["state"] == "in_flight":
                        raise ApiError(409, envelope(409, "idempotency_in_progress",
                                                     "A request with this Idempotency-Key is still being processed",
                                                     hint="Retry after a few seconds with the same key"))
                    return {"replay": (rec["status"], rec["body"])}
                self.idem[idem_key] = {"digest": digest, "state": "in_flight", "at": iso(wall())}
            try:
                out = self._rent_decide(executor_id, body, keys, hours, gpus)
            except (OSError, subprocess.SubprocessError) as exc:  # the pod's directory or host key
                self.idem.pop(idem_key, None)
                raise ApiError(500, {"detail": f"lium-sim could not prepare the pod: {exc}"})
            except ApiError as err:
                if err.status < 500:  # a refusal is the stored outcome; a 5xx leaves the key free
                    self._idem_store(idem_key, err.status, err.body)
                else:
                    self.idem.pop(idem_key, None)
                raise
            self.wake.notify_all()
            return out

    def _idem_store(self, key: Optional[str], status: int, body: Any) -> None:
        if key is not None and key in self.idem:
            self.idem[key].update(state="done", status=status, body=body)

    def rent_finish(self, idem_key: Optional[str], status: int, body: Any) -> None:
        with self.lock:
            self._idem_store(idem_key, status, body)

    def _refusal(self, kind: str, ex: Dict[str, Any]) -> ApiError:
        price = ex["price_per_gpu"] * max(1, self.free_gpus(ex))
        if kind == "cant_rent":
            return ApiError(400, {"detail": "Can't rent node. Try again later."})
        if kind == "not_available":
            return ApiError(400, {"detail": "node is not available"})
        if kind == "pending":
            return ApiError(400, {"detail": "A rental is already pending on this node"})
        if kind == "paused":
            return ApiError(409, {"detail": "Provider has paused new rentals for this node."})
        if kind == "insufficient_balance":
            minutes = self.cfg.min_balance_minutes
            need = price * minutes / 60.0
            msg = (f"Insufficient balance. This node costs ${price:.2f}/hour, so renting it requires at least "
                   f"${need:.2f} ({minutes:g} minutes of runtime). Your balance is ${self.balance():.2f}.")
            return ApiError(403, envelope(403, "insufficient_balance", msg, hint="Top up your balance"))
        if kind == "budget_exceeded":
            return ApiError(402, {"success": False,
                                  "error": {"code": "API_KEY_BUDGET_EXCEEDED", "message": "API key budget exceeded",
                                            "hint": None, "request_id": None},
                                  "message": {"window": "daily", "budget_usd": 10.0, "spent_usd": 10.0,
                                              "api_key_id": None, "message": "API key budget exceeded"},
                                  "status_code": 402})
        return ApiError(401, envelope(401, "invalid_api_key", "Invalid or expired token",
                                      hint="Check LIUM_API_KEY"))

    def _rent_decide(self, executor_id, body, keys, hours, gpus) -> Dict[str, Any]:
        if self.closing:
            raise ApiError(503, {"detail": "Service Unavailable"})
        ex = self.executors.get(executor_id)
        if ex is None:
            raise ApiError(404, {"detail": "Executor not found"})
        template = None
        if body.get("template_id") is not None:
            template = self.templates.get(str(body["template_id"]))
            if template is None:
                raise ApiError(404, {"detail": "Template not found"})
        refusal = self.book.take("rent_refusal", executor_id=executor_id)
        if refusal:
            raise self._refusal(refusal["kind"], ex)
        broken = [p for p in self.pods.values() if p.executor["id"] == executor_id and p.status == "BROKEN"
                  and not p.purged and not p.hidden]
        if broken:
            raise ApiError(400, {"detail": f"Pod {broken[0].id} on this node is BROKEN; delete it before renting "
                                           "this node again"})
        free = self.free_gpus(ex)
        want = gpus if gpus is not None else free
        if free <= 0 or want > free:
            raise self._refusal("cant_rent", ex)
        if ex["min_gpu_count_for_rental"] is None and want != ex["gpu_count"]:
            raise ApiError(400, {"detail": f"This node rents whole only: request all {ex['gpu_count']} GPUs"})
        price = ex["price_per_gpu"] * want
        if self.balance() < price * self.cfg.min_balance_minutes / 60.0:
            raise self._refusal("insufficient_balance", ex)

        pod = Pod(str(uuid.uuid4()), ex, body["pod_name"], body, template, want)
        self._bind_pod_knobs(pod)
        if hours is not None:
            pod.ttl_due = pod.created + self.scaled(hours * 3600.0)
        pod.host = PodHost(pod.id, self.pods_dir, keys)
        self.pods[pod.id] = pod
        self._event(pod, "pod-rent.requested", "PENDING", detail=f"executor {ex['id']}")
        pod.history.append({"at": iso(pod.created_wall), "t": round(pod.created - self.started, 3),
                            "status": "PENDING", "note": "rented"})
        answer = {"success": True, "pod_id": pod.id}
        lost = self.book.take("rent_lost_answer", executor_id=executor_id)
        return {"status": 200, "body": answer, "pod": pod.id, "lost": lost}

    def _bind_pod_knobs(self, pod: Pod) -> None:
        eid = pod.executor["id"]
        for name, event in knobmod.EVENTS.items():
            if event == "pod":
                params = self.book.take(name, executor_id=eid)
                if params is not None:
                    self._apply_pod_knob(pod, name, params)

    def _apply_pod_knob(self, pod: Pod, name: str, p: Dict[str, Any]) -> None:
        now = time.monotonic()
        pod.knobs[name] = p
        if name == "listing_lag_s":
            pod.visible_from = now + p["seconds"]
        elif name == "slow_ready":
            pod.ready_due = max(pod.ready_due, pod.created + p["seconds"])
        elif name == "creation_failure":
            pod.fail_due = now + p["after_s"] if pod.status == "PENDING" and pod.starting is False else None
        elif name == "vanish":
            if p["when"] == "pending":
                pod.vanish_due = now + p["after_s"]
            elif pod.running_since is not None:
                pod.vanish_due = now + p["after_s"]
        self.wake.notify_all()

    # ---- pods ----------------------------------------------------------------------------------

    def _live(self, pod_id: str) -> Pod:
        pod = self.pods.get(pod_id)
        if pod is None or not self.listed(pod):
            raise not_found()
        return pod

    def list_pods(self) -> List[Dict[str, Any]]:
        with self.lock:
            now = time.monotonic()
            return [self.pod_row(p) for p in self.pods.values() if self.listed(p, now)]

    def get_pod(self, pod_id: str) -> Dict[str, Any]:
        with self.lock:
            return self.pod_row(self._live(pod_id), detail=True)

    def pod_events(self, pod_id: str) -> List[Dict[str, Any]]:
        with self.lock:
            pod = self.pods.get(pod_id)
            if pod is None:
                raise not_found()
            return list(pod.events)

    def delete_pod(self, pod_id: str, body: Any) -> Dict[str, Any]:
        with self.lock:
            pod = self.pods.get(pod_id)
            if pod is None or pod.purged:
                raise not_found()
            if pod.delete_started is not None:
                if self.book.take("delete_404_again", executor_id=pod.executor["id"], pod_id=pod.id):
                    raise not_found()
                return {"success": True, "message": "Pod deletion already in progress"}
            slow = self.book.take("delete_slow_s", executor_id=pod.executor["id"], pod_id=pod.id)
            feedback = body if isinstance(body, dict) else None
            self._begin_delete(pod, "pod-delete.success", reason="unrent" if feedback else None, slow=slow)
            return {"success": True, "message": "Pod deletion started"}

    def _begin_delete(self, pod: Pod, sub: str, *, reason=None, detail=None, slow=None) -> None:
        now = time.monotonic()
        pod.delete_started = now
        self._event(pod, sub, "DELETING", from_status=pod.status, reason=reason, detail=detail)
        if slow and slow["seconds"] > 0:
            pod.delete_listed_until = now + slow["seconds"]
            pod.delete_listed_status = "DELETING" if slow["status"] == "DELETING" else None
            pod.history.append({"at": iso(wall()), "t": round(now - self.started, 3), "status": pod.status,
                                "note": f"delete accepted; still listed for {slow['seconds']:g} s"})
            self.wake.notify_all()
        else:
            self._hide(pod, "deleting")

    def _hide(self, pod: Pod, note: str) -> None:
        """DELETING, gone from GET /pods; sshd killed now, the row purged after delete_delay_s."""
        self._set_status(pod, "DELETING", note)
        pod.hidden = True
        pod.delete_listed_until = None
        pod.purge_due = time.monotonic() + self.cfg.delete_delay_s
        host = pod.host
        if host is not None:
            self._spawn(host.stop)

    def schedule_removal(self, pod_id: str, body: Any) -> Dict[str, Any]:
        if not isinstance(body, dict) or "removal_scheduled_at" not in body:
            raise validation_error(["body", "removal_scheduled_at"], "Field required", "missing")
        raw = body["removal_scheduled_at"]
        try:
            when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise validation_error(["body", "removal_scheduled_at"], "Input should be a valid datetime",
                                   "datetime_parsing", raw)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        with self.lock:
            pod = self._live(pod_id)
            self._mutable(pod)
            fail = self.book.take("schedule_fail", executor_id=pod.executor["id"], pod_id=pod.id)
            if fail:
                raise ApiError(fail["status"], {"detail": "Internal Server Error"})
            now_wall = wall()
            if when <= now_wall:
                raise ApiError(400, {"detail": "removal_scheduled_at must be in the future"})
            pod.removal_scheduled_at = iso(when)
            pod.removal_due = time.monotonic() + self.scaled((when - now_wall).total_seconds())
            pod.updated_wall = now_wall
            self.wake.notify_all()
            return {"success": True, "pod_id": pod.id, "removal_scheduled_at": pod.removal_scheduled_at}

    def cancel_removal(self, pod_id: str) -> Dict[str, Any]:
        with self.lock:
            pod = self._live(pod_id)
            self._mutable(pod)
            fail = self.book.take("schedule_fail", executor_id=pod.executor["id"], pod_id=pod.id)
            if fail:
                raise ApiError(fail["status"], {"detail": "Internal Server Error"})
            if pod.removal_scheduled_at is None:
                raise ApiError(400, {"detail": "Pod has no scheduled removal"})
            pod.removal_scheduled_at, pod.removal_due = None, None
            return {"success": True, "pod_id": pod.id}

    def _mutable(self, pod: Pod) -> None:
        if pod.status == "BROKEN":
            raise ApiError(400, {"detail": "Pod is BROKEN: only deletion is possible"})
        if pod.delete_started is not None:
            raise ApiError(400, {"detail": "Pod is being deleted"})

    def reboot(self, pod_id: str) -> Dict[str, Any]:
        with self.lock:
            pod = self._live(pod_id)
            self._mutable(pod)
            if pod.status != "RUNNING":
                raise ApiError(400, {"detail": f"Pod is {pod.status}; only a RUNNING pod can be rebooted"})
            self._event(pod, "pod-reboot.success", "REBOOT_PENDING", from_status=pod.status)
            self._set_status(pod, "REBOOT_PENDING", "reboot")
            pod.reboot_due = time.monotonic() + self.cfg.reboot_s
            host = pod.host
            if host is not None:
                self._spawn(host.stop)
            return self.pod_row(pod)

    def logs(self, pod_id: str) -> str:
        with self.lock:
            pod = self._live(pod_id)
            if pod.status != "RUNNING":
                raise ApiError(404, {"detail": "Pod container not deployed yet"})
            return f"lium-sim: pod {pod.id} ({pod.name}) RUNNING; sshd on {pod.ssh_host}:{pod.ssh_port}\n"

    # ---- timers --------------------------------------------------------------------------------

    def _loop(self) -> None:
        with self.lock:
            while not self.closing:
                nxt = self._tick()
                timeout = 0.25 if nxt is None else min(0.25, max(0.005, nxt - time.monotonic()))
                self.wake.wait(timeout)

    def _tick(self) -> Optional[float]:
        """Apply every due transition; return the next due time."""
        now = time.monotonic()
        dues: List[float] = []

        def due(t: Optional[float]) -> bool:
            if t is None:
                return False
            if t <= now:
                return True
            dues.append(t)
            return False

        for pod in list(self.pods.values()):
            if pod.purged:
                continue
            if pod.purge_due is not None and due(pod.purge_due):
                self._purge(pod)
                continue
            if pod.hidden:
                continue
            if pod.delete_listed_until is not None and due(pod.delete_listed_until):
                self._hide(pod, "deleting (after delete_slow_s)")
                continue
            if pod.delete_started is None:
                if due(pod.removal_due):
                    self._begin_delete(pod, "worker-pod-delete.success", reason="scheduled_termination",
                                       detail="removal_scheduled_at")
                    continue
                if due(pod.ttl_due):
                    self._begin_delete(pod, "worker-pod-delete.success", reason="scheduled_termination",
                                       detail="termination_hours")
                    continue
            if pod.status in ("PENDING", "RUNNING") and pod.delete_started is None:
                if pod.vanish_due is None and "vanish" in pod.knobs and pod.running_since is not None:
                    pod.vanish_due = pod.running_since + pod.knobs["vanish"]["after_s"]
                if due(pod.vanish_due):
                    self._vanish(pod)
                    continue
            if pod.status == "PENDING" and not pod.starting:
                if pod.fail_due is None and "creation_failure" in pod.knobs:
                    pod.fail_due = pod.created + pod.knobs["creation_failure"]["after_s"]
                if due(pod.fail_due):
                    self._creation_failed(pod, pod.knobs["creation_failure"]["error"])
                    continue
                if pod.fail_due is None and due(max(pod.ready_due, pod.created + self.cfg.ready_after_s)):
                    self._make_ready(pod)
            if pod.status == "RUNNING" and pod.sshd_due is not None and due(pod.sshd_due):
                pod.sshd_due = None
                self._spawn(self._start_late_sshd, pod.id)
            if pod.status == "REBOOT_PENDING" and pod.reboot_due is not None and not pod.starting and due(pod.reboot_due):
                pod.reboot_due = None
                pod.starting = True
                self._spawn(self._reboot_up, pod.id)
        return min(dues) if dues else None

    def _make_ready(self, pod: Pod) -> None:
        late = pod.knobs.get("ssh_late_s")
        host = pod.host
        if late and late["seconds"] > 0 and host is not None:
            host.port = host.port or free_port(host.host)
            pod.ssh_host, pod.ssh_port = host.host, host.port
            if late["mode"] == "silent":
                try:
                    host.hold_silent()
                except OSError as exc:
                    self._creation_failed(pod, f"Container creation failed: port {host.port} is taken ({exc})")
                    return
            pod.sshd_due = time.monotonic() + late["seconds"]
            self._event(pod, "pod-create.success", "RUNNING", from_status="PENDING")
            self._set_status(pod, "RUNNING", f"RUNNING; sshd {late['mode']} for {late['seconds']:g} s")
            return
        pod.starting = True
        self._spawn(self._start_sshd, pod.id)

    def _start_sshd(self, pod_id: str) -> None:
        with self.lock:
            pod = self.pods.get(pod_id)
            host = pod.host if pod else None
        if host is None:
            return
        try:
            host.start()
            error = None
        except Exception as exc:  # any failure of the pod's sshd is the pod's failure, never a stuck pod
            error = str(exc)
        with self.lock:
            pod.starting = False
            if self.closing or pod.purged or pod.hidden or pod.status != "PENDING":
                self._spawn(host.stop)
                return
            if error:
                self._creation_failed(pod, f"Container creation failed due to sshd start failure: {error} "
                                           "(failure_step: ssh_connect)")
                return
            pod.ssh_host, pod.ssh_port = host.host, host.port
            self._event(pod, "pod-create.success", "RUNNING", from_status="PENDING")
            self._set_status(pod, "RUNNING", f"sshd on {host.host}:{host.port}")

    def _start_late_sshd(self, pod_id: str) -> None:
        with self.lock:
            pod = self.pods.get(pod_id)
            host = pod.host if pod else None
        if host is None:
            return
        host.release_silent()
        try:
            host.start(keep_port=True)
            error = None
        except Exception as exc:  # reported in the pod's events, never a stuck pod
            error = str(exc)
        with self.lock:
            if self.closing or pod.purged or pod.hidden or pod.status != "RUNNING":
                self._spawn(host.stop)
                return
            if error:
                self._event(pod, "pod-create.failed", pod.status, error=f"sshd did not start: {error}")
                pod.history.append({"at": iso(wall()), "t": round(time.monotonic() - self.started, 3),
                                    "status": pod.status, "note": f"late sshd failed: {error[:200]}"})
            else:
                pod.history.append({"at": iso(wall()), "t": round(time.monotonic() - self.started, 3),
                                    "status": pod.status, "note": f"sshd up on {host.host}:{host.port}"})

    def _reboot_up(self, pod_id: str) -> None:
        with self.lock:
            pod = self.pods.get(pod_id)
            host = pod.host if pod else None
            moves = bool(pod and pod.knobs.get("reboot_moves", {}).get("enabled"))
        if host is None:
            return
        error = None
        try:
            host.new_host_key()
            if moves:
                last = int(host.host.rsplit(".", 1)[1])
                host.host = f"127.0.0.{2 + (last - 1) % 250}"
                host.port = None
            host.start(keep_port=not moves)
        except Exception as exc:  # any failure of the pod's sshd is the pod's failure, never a stuck pod
            error = str(exc)
        with self.lock:
            pod.starting = False
            if self.closing or pod.purged or pod.hidden or pod.status != "REBOOT_PENDING":
                self._spawn(host.stop)
                return
            if error:
                self._event(pod, "pod-reboot.failed", "REBOOT_FAILED", from_status="REBOOT_PENDING", error=error)
                self._set_status(pod, "REBOOT_FAILED", error[:200])
                return
            pod.ssh_host, pod.ssh_port = host.host, host.port
            self._event(pod, "pod-reboot.success", "RUNNING", from_status="REBOOT_PENDING")
            self._set_status(pod, "RUNNING", f"rebooted; sshd on {host.host}:{host.port}")

    def _creation_failed(self, pod: Pod, error: str) -> None:
        self._event(pod, "pod-create.failed", "CREATION_FAILED", from_status=pod.status, error=error)
        self._set_status(pod, "CREATION_FAILED", error[:200])
        pod.purge_due = time.monotonic() + self.cfg.failed_visible_s
        if pod.host is not None:
            self._spawn(pod.host.stop)

    def _vanish(self, pod: Pod) -> None:
        mode = pod.knobs["vanish"]["mode"]
        pod.vanish_due = None
        if mode == "broken":
            self._event(pod, "worker-pod-delete.success", "BROKEN", from_status=pod.status,
                        reason="provider_closed", detail="the provider force-closed the pod")
            self._set_status(pod, "BROKEN", "vanish: BROKEN")
            if pod.host is not None:
                self._spawn(pod.host.stop)
        else:
            self._event(pod, "worker-pod-delete.success", "DELETING", from_status=pod.status,
                        reason="executor_offline", detail="the node went offline")
            pod.delete_started = time.monotonic()
            self._hide(pod, "vanish: DELETING")

    def _purge(self, pod: Pod) -> None:
        pod.purged = True
        pod.purge_due = None
        if pod.status == "RUNNING":
            self._set_status(pod, "DELETING", "purged")
        pod.history.append({"at": iso(wall()), "t": round(time.monotonic() - self.started, 3),
                            "status": pod.status, "note": "purged"})
        if pod.host is not None:
            self._spawn(pod.host.remove)
        self.wake.notify_all()

    # ---- admin ---------------------------------------------------------------------------------

    def inject(self, spec: Any) -> Dict[str, Any]:
        if not isinstance(spec, dict) or not isinstance(spec.get("knob"), str):
            raise ApiError(400, {"detail": "body must be an object with a 'knob' name and its fields"})
        spec = dict(spec)
        name = spec.pop("knob")
        executor_id = spec.pop("executor_id", None)
        pod_id = spec.pop("pod_id", None)
        value = spec.pop("value", None) if "value" in spec else spec
        try:
            params = knobmod.normalize(name, value if value != {} else {})
        except knobmod.KnobError as exc:
            raise ApiError(400, {"detail": str(exc)})
        with self.lock:
            if executor_id is not None and executor_id not in self.executors:
                raise ApiError(400, {"detail": f"unknown executor_id {executor_id}"})
            if knobmod.EVENTS[name] == "pod" and pod_id is not None:
                pod = self.pods.get(pod_id)
                if pod is None or pod.purged:
                    raise ApiError(400, {"detail": f"no live pod {pod_id}"})
                if name in ("creation_failure", "slow_ready", "ssh_late_s") and (pod.status != "PENDING" or pod.starting):
                    raise ApiError(400, {"detail": f"knob {name} needs a PENDING pod that has not started its sshd; "
                                                   f"pod {pod_id} is {pod.status}"})
                if name == "vanish" and pod.status not in ("PENDING", "RUNNING"):
                    raise ApiError(400, {"detail": f"knob vanish needs a PENDING or RUNNING pod; pod is {pod.status}"})
                if name == "vanish":
                    pod.vanish_due = None
                self._apply_pod_knob(pod, name, params)
                if name == "vanish" and pod.vanish_due is None:
                    pod.vanish_due = time.monotonic() + params["after_s"]
                return {"applied_to": pod_id, "knob": name, "params": params}
            inj = self.book.inject(name, params, executor_id=executor_id, pod_id=pod_id)
            return inj.view()

    def pods_view(self) -> List[Dict[str, Any]]:
        with self.lock:
            now = time.monotonic()
            out = []
            for p in self.pods.values():
                host = p.host
                out.append({
                    "id": p.id, "name": p.name, "executor_id": p.executor["id"], "status": p.status,
                    "listed": self.listed(p, now), "hidden": p.hidden, "purged": p.purged,
                    "deleted": p.delete_started is not None, "gpu_count": p.gpu_count, "price": p.price,
                    "created_at": iso(p.created_wall), "ssh_host": p.ssh_host, "ssh_port": p.ssh_port,
                    "sshd_pid": host.pid() if host else None, "sshd_running": host.running() if host else False,
                    "dir": str(host.dir) if host else None, "host_key": host.host_key_line() if host and not p.purged
                    and (host.dir / "ssh_host_ed25519_key.pub").exists() else None,
                    "removal_scheduled_at": p.removal_scheduled_at, "termination_hours": p.termination_hours,
                    "removal_in_s": None if p.removal_due is None else round(p.removal_due - now, 3),
                    "ttl_in_s": None if p.ttl_due is None else round(p.ttl_due - now, 3),
                    "knobs": p.knobs, "rent_body": p.body, "history": list(p.history), "events": list(p.events),
                })
            return out

    def state_view(self) -> Dict[str, Any]:
        with self.lock:
            return {"balance": self.balance(), "time_scale": self.cfg.time_scale,
                    "uptime_s": round(time.monotonic() - self.started, 3),
                    "executors": [dict(self.executor_row(e), knobs=self.cfg.executor_knobs.get(e["id"], {}))
                                  for e in self.executors.values()],
                    "injections": [i.view() for i in self.book.injections],
                    "idempotency_keys": {k: {"state": v["state"], "status": v.get("status")} for k, v in self.idem.items()}}

    # ---- shutdown ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the timers, kill every pod's sshd, remove every pod directory."""
        with self.lock:
            self.closing = True
            self.wake.notify_all()
            hosts = [p.host for p in self.pods.values() if p.host is not None]
        self.timer.join(timeout=5)
        for host in hosts:
            host.remove()
        for w in list(self.workers):
            w.join(timeout=20)
        for host in hosts:  # a start that finished while we waited
            host.remove()
