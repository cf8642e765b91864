"""The failure-injection knobs of `lium_api.md` §8.2: their shapes, checks and consumption.

A knob comes from two places: the config file (per executor, `executors[i].knobs`, in force for
every matching event, or for the first `count` of them) and the admin route
`POST /_admin/inject` (for the next `count` matching events, default 1, optionally limited to one
executor, one pod, one method or one path). `normalize` turns either spelling into one params
dict or raises `KnobError` naming the knob and the field. `KnobBook.take` is asked at each event
("a rent arrives", "a pod is created", "any API request", ...) and hands back the params of the
first injection that matches, else the executor's configured knob, consuming one use.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


class KnobError(ValueError):
    """A knob spelled wrongly: the message names the knob, the field and what is accepted."""


# Where each knob is consulted. "pod" knobs are bound to a pod when it is created (or, with a
# pod_id, to an existing pod at once); the others are taken per request.
EVENTS = {
    "rent_refusal": "rent",            # a new rent request (not a replay)
    "rent_lost_answer": "rent_commit",  # a rent that created a pod
    "listing_lag_s": "pod",
    "creation_failure": "pod",
    "vanish": "pod",
    "slow_ready": "pod",
    "ssh_late_s": "pod",
    "reboot_moves": "pod",
    "http_5xx": "api",                 # any API request (admin routes excluded)
    "rate_limit": "api",
    "delete_slow_s": "delete",         # a DELETE /pods/{id} that starts a deletion
    "delete_404_again": "delete_repeat",  # a DELETE /pods/{id} while its deletion is in flight
    "schedule_fail": "schedule",       # POST/DELETE /pods/{id}/schedule-removal
}

RENT_REFUSALS = (
    "cant_rent", "not_available", "pending", "paused", "insufficient_balance", "budget_exceeded", "unauthorized",
)


def _num(knob: str, name: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise KnobError(f"knob {knob}: {name} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _count(knob: str, value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise KnobError(f"knob {knob}: count must be an integer >= 1 (or absent for 'always'), got {value!r}")
    return value


def _choice(knob: str, name: str, value: Any, allowed) -> Any:
    if value not in allowed:
        raise KnobError(f"knob {knob}: {name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value


# The field a bare scalar stands for ("ssh_late_s": 3 means {"seconds": 3}).
_SCALAR_FIELD = {
    "rent_refusal": "kind", "rent_lost_answer": "mode", "listing_lag_s": "seconds", "creation_failure": "after_s",
    "vanish": "after_s", "slow_ready": "seconds", "ssh_late_s": "seconds", "reboot_moves": "enabled",
    "http_5xx": "count", "rate_limit": "count", "delete_slow_s": "seconds", "delete_404_again": "enabled",
    "schedule_fail": "count",
}

_FIELDS = {
    "rent_refusal": {"kind", "count"},
    "rent_lost_answer": {"mode", "sleep_s", "status", "count"},
    "listing_lag_s": {"seconds", "count"},
    "creation_failure": {"after_s", "error", "count"},
    "vanish": {"after_s", "mode", "when", "count"},
    "slow_ready": {"seconds", "count"},
    "ssh_late_s": {"seconds", "mode", "count"},
    "reboot_moves": {"enabled", "count"},
    "http_5xx": {"count", "status", "method", "path"},
    "rate_limit": {"count", "retry_after", "method", "path"},
    "delete_slow_s": {"seconds", "status", "count"},
    "delete_404_again": {"enabled", "count"},
    "schedule_fail": {"count", "status"},
}

DEFAULT_CREATION_ERROR = (
    "Container creation failed due to ssh connection timeout on the node (failure_step: ssh_connect)"
)


def normalize(knob: str, value: Any) -> Dict[str, Any]:
    """One knob's params as a dict with every field filled; `KnobError` on any wrong spelling."""
    if knob not in EVENTS:
        raise KnobError(f"unknown knob {knob!r}; known knobs: {', '.join(sorted(EVENTS))}")
    if not isinstance(value, dict):
        value = {_SCALAR_FIELD[knob]: value}
    unknown = set(value) - _FIELDS[knob]
    if unknown:
        raise KnobError(
            f"knob {knob}: unknown field(s) {', '.join(sorted(unknown))}; accepted: {', '.join(sorted(_FIELDS[knob]))}"
        )
    p: Dict[str, Any] = {"count": _count(knob, value.get("count"))}
    if knob == "rent_refusal":
        p["kind"] = _choice(knob, "kind", value.get("kind", "cant_rent"), RENT_REFUSALS)
    elif knob == "rent_lost_answer":
        p["mode"] = _choice(knob, "mode", value.get("mode", "drop"), ("drop", "sleep", "5xx"))
        p["sleep_s"] = _num(knob, "sleep_s", value.get("sleep_s", 35.0))
        p["status"] = int(_num(knob, "status", value.get("status", 502), minimum=500))
    elif knob in ("listing_lag_s", "slow_ready"):
        p["seconds"] = _num(knob, "seconds", value.get("seconds", 5.0))
    elif knob == "creation_failure":
        p["after_s"] = _num(knob, "after_s", value.get("after_s", 0.0))
        err = value.get("error", DEFAULT_CREATION_ERROR)
        if not isinstance(err, str) or not err:
            raise KnobError(f"knob {knob}: error must be a non-empty string")
        p["error"] = err
    elif knob == "vanish":
        p["after_s"] = _num(knob, "after_s", value.get("after_s", 0.0))
        p["mode"] = _choice(knob, "mode", value.get("mode", "deleting"), ("deleting", "broken"))
        p["when"] = _choice(knob, "when", value.get("when", "running"), ("running", "pending"))
    elif knob == "ssh_late_s":
        p["seconds"] = _num(knob, "seconds", value.get("seconds", 5.0))
        p["mode"] = _choice(knob, "mode", value.get("mode", "refuse"), ("refuse", "silent"))
    elif knob in ("reboot_moves", "delete_404_again"):
        p["enabled"] = _choice(knob, "enabled", value.get("enabled", True), (True, False))
    elif knob in ("http_5xx", "schedule_fail"):
        p["status"] = int(_num(knob, "status", value.get("status", 500 if knob == "schedule_fail" else 503), minimum=500))
        if p["status"] > 599:
            raise KnobError(f"knob {knob}: status must be 500-599, got {p['status']}")
    elif knob == "rate_limit":
        p["retry_after"] = _num(knob, "retry_after", value.get("retry_after", 1.0))
    elif knob == "delete_slow_s":
        p["seconds"] = _num(knob, "seconds", value.get("seconds", 5.0))
        p["status"] = _choice(knob, "status", value.get("status", "keep"), ("keep", "DELETING"))
    if knob in ("http_5xx", "rate_limit"):
        for name in ("method", "path"):
            v = value.get(name)
            if v is not None and (not isinstance(v, str) or not v):
                raise KnobError(f"knob {knob}: {name} must be a non-empty string when given")
            p[name] = v.upper() if (name == "method" and v) else v
    return p


@dataclass
class Injection:
    """One `POST /_admin/inject`: a knob for the next `remaining` matching events."""

    id: int
    knob: str
    params: Dict[str, Any]
    remaining: int
    executor_id: Optional[str] = None
    pod_id: Optional[str] = None
    used: int = 0

    def view(self) -> Dict[str, Any]:
        return {"id": self.id, "knob": self.knob, "params": self.params, "remaining": self.remaining,
                "used": self.used, "executor_id": self.executor_id, "pod_id": self.pod_id}


@dataclass
class KnobBook:
    """Injections waiting for their events, and the knobs each executor is configured with."""

    executor_knobs: Dict[str, Dict[str, Dict[str, Any]]]
    injections: List[Injection] = field(default_factory=list)
    _config_uses: Dict[tuple, int] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, knob: str, params: Dict[str, Any], *, executor_id: Optional[str], pod_id: Optional[str]) -> Injection:
        with self._lock:
            inj = Injection(next(self._ids), knob, params, params.get("count") or 1, executor_id, pod_id)
            self.injections.append(inj)
            return inj

    def clear(self) -> int:
        with self._lock:
            n = len(self.injections)
            self.injections.clear()
            return n

    @staticmethod
    def _matches(params: Dict[str, Any], method: Optional[str], path: Optional[str]) -> bool:
        if params.get("method") and method and params["method"] != method.upper():
            return False
        if params.get("path") and (path is None or params["path"] not in path):
            return False
        return True

    def take(
        self,
        knob: str,
        *,
        executor_id: Optional[str] = None,
        pod_id: Optional[str] = None,
        method: Optional[str] = None,
        path: Optional[str] = None,
    ) -> Optional[Dict[str, Any]]:
        """The params of the knob in force for this event, consuming one use; None when none is."""
        with self._lock:
            for inj in self.injections:
                if inj.knob != knob or inj.remaining <= 0:
                    continue
                if inj.executor_id and inj.executor_id != executor_id:
                    continue
                if inj.pod_id and inj.pod_id != pod_id:
                    continue
                if not self._matches(inj.params, method, path):
                    continue
                inj.remaining -= 1
                inj.used += 1
                if inj.remaining <= 0:
                    self.injections.remove(inj)
                return inj.params
            params = self.executor_knobs.get(executor_id or "", {}).get(knob)
            if params is None or not self._matches(params, method, path):
                return None
            key = (executor_id, knob)
            if params.get("count") is not None:
                if self._config_uses.get(key, 0) >= params["count"]:
                    return None
            self._config_uses[key] = self._config_uses.get(key, 0) + 1
            return params
