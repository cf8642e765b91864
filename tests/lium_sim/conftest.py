"""Fixtures for the simulator's tests: start a simulator process, talk to it, check it left nothing.

`sim_factory(config)` starts `lium_sim.py` as a real process on a free port with its own state
dir and returns a `Sim`: `api()` for the REST routes (urllib, any headers), `admin()` for the
admin routes, `wait_for()` for bounded polling, `ssh()` to log into a pod with the test key.
At teardown every simulator is checked: it lists no live pod the test did not `keep()`, it stops
on SIGTERM with exit 0 within 30 s, and no process naming its state dir (sshd, unshare) remains.
A skipped test is turned into a failure: a missing sshd or lium must be seen, not hidden.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
SIM = HERE / "lium_sim.py"
API_KEY = "sk_sim_test_9f8e7d6c5b4a"
E1 = "aa11bb22-cc33-4d44-8e55-66778899aabb"  # H100 x1
E2 = "bb22cc33-dd44-4e55-8f66-778899aabbcc"  # RTX 4090 x2, rents one GPU at a time
TEMPLATE = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"


def base_config(**over: Any) -> Dict[str, Any]:
    cfg: Dict[str, Any] = {
        "api_key": API_KEY,
        "balance": 50.0,
        "delete_delay_s": 0.3,
        "failed_visible_s": 1.0,
        "executors": [
            {"id": E1, "machine_name": "NVIDIA H100 80GB HBM3", "gpu_count": 1, "price_per_gpu": 2.4},
            {"id": E2, "machine_name": "NVIDIA GeForce RTX 4090", "gpu_count": 2, "price_per_gpu": 0.4,
             "location": {"country": "Canada", "country_code": "CA"}, "tier": "spot"},
        ],
    }
    for key, value in over.items():
        if key == "knobs":  # {executor_id: {knob: value}}
            for ex in cfg["executors"]:
                if ex["id"] in value:
                    ex["knobs"] = value[ex["id"]]
        else:
            cfg[key] = value
    return cfg


class Resp:
    def __init__(self, status: int, headers, raw: bytes):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = raw.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Resp({self.status}, {self.body!r})"


def http(method: str, url: str, body: Any = None, headers: Optional[Dict[str, str]] = None, timeout: float = 15) -> Resp:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def procs_naming(marker: str) -> List[str]:
    """`pid cmdline` of every process whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmd:
            found.append(f"{entry} {cmd.strip()}")
    return found


def wait_for(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


class Sim:
    def __init__(self, root: Path, config: Dict[str, Any], ssh_key: Path):
        self.root = root
        self.state = root / "state"
        self.config_path = root / "sim.json"
        self.config_path.write_text(json.dumps(config))
        self.config = config
        self.key = config.get("api_key", "sk_sim_local_test_key")
        self.ssh_key = ssh_key
        self.kept: set = set()
        self.stopped = False
        self.stderr_path = root / "sim.stderr"
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(SIM), "--port", "0", "--state-dir", str(self.state), "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(self.stderr_path, "wb"),
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"simulator did not print its ready line: {self.stderr_path.read_text()}")
        self.start_s = time.monotonic() - t0
        self.info = json.loads(line)
        self.url = self.info["url"]
        self.base = self.info["base_url"]

    # ---- HTTP ----------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, *, key: Optional[str] = "default",
            headers: Optional[Dict[str, str]] = None, timeout: float = 15) -> Resp:
        h = dict(headers or {})
        if key == "default":
            key = self.key
        if key is not None:
            h["X-API-KEY"] = key
        return http(method, self.base + path, body, h, timeout)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        r = http(method, f"{self.url}/_admin{path}", body)
        assert r.status == 200, f"admin {method} {path} -> {r}"
        return r.body

    def inject(self, knob: str, **fields: Any) -> Any:
        return self.admin("POST", "/inject", dict(fields, knob=knob))

    def pods(self) -> List[Dict[str, Any]]:
        return self.admin("GET", "/pods")

    def pod(self, pod_id: str) -> Dict[str, Any]:
        return next(p for p in self.pods() if p["id"] == pod_id)

    def requests(self, since: int = 0) -> List[Dict[str, Any]]:
        return self.admin("GET", f"/requests?since={since}")

    def last_seq(self) -> int:
        rows = self.requests()
        return rows[-1]["seq"] if rows else 0

    def listed(self) -> List[Dict[str, Any]]:
        r = self.api("GET", "/pods")
        assert r.status == 200, r
        return r.body

    def rent(self, executor: str = E1, *, name: Optional[str] = None, idem: Optional[str] = None,
             pub: Optional[List[str]] = None, timeout: float = 15, **extra: Any) -> Resp:
        body = {
            "pod_name": name or f"t-{uuid.uuid4().hex[:8]}", "template_id": TEMPLATE, "dockerfile_content": None,
            "volume_id": None, "user_public_key": pub if pub is not None else [self.pubkey()],
            "initial_port_count": None, "enable_volume_encryption": False, "backup_log_id": None,
            "restore_path": None, "enable_backups": True,
        }
        body.update(extra)
        headers = {"Idempotency-Key": idem} if idem else None
        return self.api("POST", f"/executors/{executor}/rent", body, headers=headers, timeout=timeout)

    def pubkey(self) -> str:
        return Path(str(self.ssh_key) + ".pub").read_text().strip()

    def row(self, pod_id: str) -> Optional[Dict[str, Any]]:
        return next((p for p in self.listed() if p["id"] == pod_id), None)

    def wait_status(self, pod_id: str, status: str, timeout: float = 20) -> Dict[str, Any]:
        return wait_for(lambda: (lambda r: r if r and r["status"] == status else None)(self.row(pod_id)),
                        timeout, f"pod {pod_id} {status}")

    def rent_running(self, executor: str = E1, **kw: Any) -> Dict[str, Any]:
        r = self.rent(executor, **kw)
        assert r.status == 200, r
        return self.wait_status(r.body["pod_id"], "RUNNING")

    def delete_and_wait_purged(self, pod_id: str, timeout: float = 15) -> None:
        r = self.api("DELETE", f"/pods/{pod_id}")
        assert r.status in (200, 404), r
        wait_for(lambda: self.pod(pod_id)["purged"], timeout, f"pod {pod_id} purged")

    def keep(self, pod_id: str) -> None:
        self.kept.add(pod_id)

    # ---- ssh -----------------------------------------------------------------------------------

    def ssh(self, row_or_cmd: Any, command: str, timeout: float = 20, key: Optional[Path] = None) -> subprocess.CompletedProcess:
        cmd = row_or_cmd["ssh_connect_cmd"] if isinstance(row_or_cmd, dict) else row_or_cmd
        _, target, _, port = cmd.split()
        return subprocess.run(
            ["ssh", "-i", str(key or self.ssh_key), "-p", port, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-o", "ConnectTimeout=5", target, command],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        )

    # ---- teardown ------------------------------------------------------------------------------

    def live_unkept(self) -> List[Dict[str, Any]]:
        return [p for p in self.pods() if not p["purged"] and not p["deleted"] and p["id"] not in self.kept]

    def stop(self, timeout: float = 30) -> int:
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"simulator did not stop within {timeout} s of SIGTERM")

    def leftovers(self) -> List[str]:
        return procs_naming(str(self.state))


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory) -> Path:
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.fail("the OpenSSH client (ssh, ssh-keygen) is missing: apt-get install -y openssh-client")
    if not os.access("/usr/sbin/sshd", os.X_OK):
        pytest.fail("/usr/sbin/sshd is missing: apt-get install -y openssh-server (tests/lium_sim/run_tests.sh does it)")
    d = tmp_path_factory.mktemp("sshkey")
    key = d / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lium-sim-test", "-f", str(key)],
                   check=True, timeout=30)
    return key


@pytest.fixture
def sim_factory(tmp_path, ssh_key):
    sims: List[Sim] = []

    def make(config: Optional[Dict[str, Any]] = None, **over: Any) -> Sim:
        root = tmp_path / f"sim{len(sims)}"
        root.mkdir()
        s = Sim(root, config if config is not None else base_config(**over), ssh_key)
        sims.append(s)
        return s

    yield make
    problems = []
    for s in sims:
        if not s.stopped and s.proc.poll() is None:
            try:
                extra = s.live_unkept()
            except Exception as exc:  # the simulator is broken: report that, still stop it
                extra = [f"admin /pods failed: {exc}"]
            if extra:
                problems.append(f"live pods the test did not keep: {[(p['id'], p['status']) for p in extra] if isinstance(extra[0], dict) else extra}")
            rc = s.stop()
            if rc != 0:
                problems.append(f"simulator exited {rc} on SIGTERM: {s.stderr_path.read_text()[-2000:]}")
        try:
            wait_for(lambda: not s.leftovers(), 10, "no process naming the state dir", 0.1)
        except AssertionError:
            problems.append(f"processes left: {s.leftovers()}")
        if (s.state / "pods").exists() and any((s.state / "pods").iterdir()):
            problems.append(f"pod dirs left: {list((s.state / 'pods').iterdir())}")
    assert not problems, "; ".join(problems)


@pytest.fixture
def sim(sim_factory) -> Sim:
    return sim_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and call.when in ("setup", "call"):
        rep.outcome = "failed"
        rep.longrepr = f"skipped tests are failures here: {rep.longrepr}"
