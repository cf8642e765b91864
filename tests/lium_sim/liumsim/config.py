"""The simulator's config file: read, check, fill defaults.

`load(path)` reads one JSON object and returns a `Config`; every wrong key or value raises
`ConfigError` with the JSON path of the offending entry and what is accepted, so a typo never
silently turns a knob off. The README (`tests/lium_sim/README.md`) documents every key; the
defaults below are what a config of `{}` gets: one 1-GPU H100 node, one PyTorch template, a
balance of $100, pods RUNNING as soon as their sshd answers.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import knobs as knobmod


class ConfigError(ValueError):
    """The config file is wrong; the message names the entry and what to write instead."""


DEFAULT_TEMPLATE_ID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
DEFAULT_EXECUTOR_ID = "aa11bb22-cc33-4d44-8e55-66778899aabb"

TOP_KEYS = {
    "api_key", "user", "balance", "time_scale", "features", "ready_after_s", "delete_delay_s",
    "failed_visible_s", "reboot_s", "pods_per_minute", "min_balance_minutes", "templates", "executors",
}
EXECUTOR_KEYS = {
    "id", "machine_name", "gpu_count", "price_per_gpu", "min_gpu_count_for_rental", "location", "tier",
    "max_cuda_version", "effective_download_speed_mbps", "effective_upload_speed_mbps", "cpu_count",
    "ram_kib", "disk_kib", "driver", "gpu_capacity_mib", "available_port_count", "reliability_score",
    "knobs", "extra",
}
TEMPLATE_KEYS = {
    "id", "name", "docker_image", "docker_image_tag", "category", "status", "supports_volume_encryption",
    "user_id", "volumes", "internal_ports",
}


@dataclass
class Config:
    api_key: str = "sk_sim_local_test_key"
    user: Dict[str, Any] = field(default_factory=dict)
    balance: float = 100.0
    time_scale: float = 1.0
    features: List[str] = field(default_factory=list)
    ready_after_s: float = 0.0
    delete_delay_s: float = 0.5
    failed_visible_s: float = 180.0
    reboot_s: float = 1.0
    pods_per_minute: Optional[int] = None
    min_balance_minutes: float = 15.0
    templates: List[Dict[str, Any]] = field(default_factory=list)
    executors: List[Dict[str, Any]] = field(default_factory=list)
    executor_knobs: Dict[str, Dict[str, Dict[str, Any]]] = field(default_factory=dict)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
        return isinstance(value, str)
    except ValueError:
        return False


def _number(where: str, value: Any, *, minimum: float = 0.0, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{where} must be a number >= {minimum:g}, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    return value


def _check_keys(where: str, obj: Any, allowed: set) -> Dict[str, Any]:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where} must be a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; accepted: {', '.join(sorted(allowed))}")
    return obj


def _template(where: str, raw: Any) -> Dict[str, Any]:
    raw = _check_keys(where, raw, TEMPLATE_KEYS)
    tid = raw.get("id")
    if not _is_uuid(tid):
        raise ConfigError(f"{where}.id must be a UUID string, got {tid!r}")
    return {
        "id": tid,
        "name": raw.get("name", "PyTorch"),
        "docker_image": raw.get("docker_image", "lium/pytorch"),
        "docker_image_tag": raw.get("docker_image_tag", "2.4.0-py3.11-cuda12.4"),
        "category": raw.get("category", "PYTORCH"),
        "status": raw.get("status", "VERIFY_SUCCESS"),
        "user_id": raw.get("user_id"),
        "supports_volume_encryption": bool(raw.get("supports_volume_encryption", False)),
        "volumes": raw.get("volumes", ["/workspace"]),
        "internal_ports": raw.get("internal_ports", [22]),
        "is_private": False,
    }


def _executor(where: str, raw: Any, index: int) -> Dict[str, Any]:
    raw = _check_keys(where, raw, EXECUTOR_KEYS)
    eid = raw.get("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"lium-sim-executor-{index}")) if index else DEFAULT_EXECUTOR_ID)
    if not _is_uuid(eid):
        raise ConfigError(f"{where}.id must be a UUID string, got {eid!r}")
    machine = raw.get("machine_name", "NVIDIA H100 80GB HBM3")
    if not isinstance(machine, str) or not machine.strip():
        raise ConfigError(f"{where}.machine_name must be a non-empty string")
    gpus = int(_number(f"{where}.gpu_count", raw.get("gpu_count", 1), minimum=1, integer=True))
    min_rent = raw.get("min_gpu_count_for_rental", 1)
    if min_rent is not None:
        min_rent = int(_number(f"{where}.min_gpu_count_for_rental", min_rent, minimum=1, integer=True))
    tier = raw.get("tier", "secure")
    if tier not in ("secure", "spot"):
        raise ConfigError(f"{where}.tier must be 'secure' or 'spot', got {tier!r}")
    location = raw.get("location", {"country": "Germany", "country_code": "DE", "city": "Frankfurt"})
    if not isinstance(location, dict):
        raise ConfigError(f"{where}.location must be an object like {{\"country\": ..., \"country_code\": ...}}")
    extra = raw.get("extra", {})
    if not isinstance(extra, dict):
        raise ConfigError(f"{where}.extra must be an object (fields copied into the row as they are)")
    return {
        "id": eid,
        "machine_name": machine,
        "gpu_count": gpus,
        "price_per_gpu": float(_number(f"{where}.price_per_gpu", raw.get("price_per_gpu", 2.4))),
        "min_gpu_count_for_rental": min_rent,
        "location": location,
        "tier": tier,
        "max_cuda_version": float(_number(f"{where}.max_cuda_version", raw.get("max_cuda_version", 12.8))),
        "effective_download_speed_mbps": float(_number(f"{where}.effective_download_speed_mbps", raw.get("effective_download_speed_mbps", 1000.0))),
        "effective_upload_speed_mbps": float(_number(f"{where}.effective_upload_speed_mbps", raw.get("effective_upload_speed_mbps", 1000.0))),
        "cpu_count": int(_number(f"{where}.cpu_count", raw.get("cpu_count", 16), minimum=1, integer=True)),
        "ram_kib": int(_number(f"{where}.ram_kib", raw.get("ram_kib", 131072000), minimum=1, integer=True)),
        "disk_kib": int(_number(f"{where}.disk_kib", raw.get("disk_kib", 1048576000), minimum=1, integer=True)),
        "driver": str(raw.get("driver", "570.124.06")),
        "gpu_capacity_mib": int(_number(f"{where}.gpu_capacity_mib", raw.get("gpu_capacity_mib", 81559), minimum=1, integer=True)),
        "available_port_count": int(_number(f"{where}.available_port_count", raw.get("available_port_count", 10), integer=True)),
        "reliability_score": float(_number(f"{where}.reliability_score", raw.get("reliability_score", 0.99))),
        "extra": extra,
    }


def parse(data: Any) -> Config:
    """A checked `Config` from the parsed JSON document."""
    data = _check_keys("config", data, TOP_KEYS)
    cfg = Config()
    if "api_key" in data:
        key = data["api_key"]
        if not isinstance(key, str) or not key or any(c.isspace() for c in key):
            raise ConfigError("config.api_key must be a non-empty string without spaces")
        cfg.api_key = key
    user = data.get("user", {})
    if not isinstance(user, dict):
        raise ConfigError("config.user must be an object (fields merged into GET /users/me)")
    if "workspace" in user:
        raise ConfigError("config.user.workspace is not allowed: GET /users/me answers without a workspace key")
    cfg.user = user
    cfg.balance = float(_number("config.balance", data.get("balance", cfg.balance), minimum=-1e12))
    cfg.time_scale = float(_number("config.time_scale", data.get("time_scale", cfg.time_scale), minimum=1e-6))
    if cfg.time_scale <= 0:
        raise ConfigError("config.time_scale must be > 0")
    features = data.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise ConfigError("config.features must be a list of strings (GET /version's features)")
    cfg.features = features
    for name in ("ready_after_s", "delete_delay_s", "failed_visible_s", "reboot_s", "min_balance_minutes"):
        if name in data:
            setattr(cfg, name, float(_number(f"config.{name}", data[name])))
    if data.get("pods_per_minute") is not None:
        cfg.pods_per_minute = int(_number("config.pods_per_minute", data["pods_per_minute"], minimum=1, integer=True))

    templates = data.get("templates")
    if templates is None:
        templates = [{"id": DEFAULT_TEMPLATE_ID}]
    if not isinstance(templates, list) or not templates:
        raise ConfigError("config.templates must be a non-empty list (the CLI needs at least one template)")
    cfg.templates = [_template(f"config.templates[{i}]", t) for i, t in enumerate(templates)]

    executors = data.get("executors")
    if executors is None:
        executors = [{}]
    if not isinstance(executors, list):
        raise ConfigError("config.executors must be a list of executor objects")
    seen = set()
    for i, raw in enumerate(executors):
        ex = _executor(f"config.executors[{i}]", raw, i)
        if ex["id"] in seen:
            raise ConfigError(f"config.executors[{i}].id {ex['id']} is used twice")
        seen.add(ex["id"])
        knobs = (raw or {}).get("knobs", {})
        if not isinstance(knobs, dict):
            raise ConfigError(f"config.executors[{i}].knobs must be an object of knob name -> value")
        normalized = {}
        for name, value in knobs.items():
            try:
                normalized[name] = knobmod.normalize(name, value)
            except knobmod.KnobError as exc:
                raise ConfigError(f"config.executors[{i}].knobs: {exc}") from None
        cfg.executor_knobs[ex["id"]] = normalized
        cfg.executors.append(ex)
    return cfg


def load(path: Optional[str]) -> Config:
    """The config at `path` (None: all defaults)."""
    if path is None:
        return parse({})
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not JSON: {exc}") from None
    return parse(data)
