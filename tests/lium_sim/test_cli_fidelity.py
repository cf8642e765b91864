"""The real `lium` CLI (lium.io 0.32.0 from PyPI) against the simulator.

Each test runs the installed `lium` the way `lium_api.md` §7 says a hermetic run works (a temp
HOME, LIUM_BASE_URL, LIUM_API_KEY, LIUM_SSH_KEY_PATH, no prompts, JSON errors) and checks its JSON
output, its exit code, and the exact calls it made (the simulator's request log) against the
0.32.0 call sequences of §8.3. `lium exec` goes over real ssh (paramiko) to the pod's sshd.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from conftest import API_KEY, E1, E2, TEMPLATE, procs_naming, wait_for

LIUM_VERSION = "0.32.0"


def lium_executable() -> str:
    here = Path(sys.executable).parent / "lium"
    found = str(here) if here.exists() else shutil.which("lium")
    if not found:
        pytest.fail(f"the lium CLI is missing: pip install lium.io=={LIUM_VERSION} (tests/lium_sim/run_tests.sh does it)")
    return found


@pytest.fixture(scope="session")
def lium_bin() -> str:
    exe = lium_executable()
    from importlib.metadata import version

    got = version("lium.io")
    if got != LIUM_VERSION:
        pytest.fail(f"lium.io {got} is installed; these tests pin {LIUM_VERSION}: pip install lium.io=={LIUM_VERSION}")
    return exe


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float):
        self.rc, self.out, self.err, self.seconds = proc.returncode, proc.stdout, proc.stderr, seconds

    def json(self) -> Any:
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError(f"no JSON on stdout ({e}); rc {self.rc} after {self.seconds:.1f} s; stdout {self.out[-1000:]!r}; stderr {self.err[-2000:]!r}") from None

    def envelope(self) -> Dict[str, Any]:
        """The one-line JSON failure envelope 0.32.0 prints on stderr."""
        docs = []
        for line in self.err.splitlines():
            if line.startswith("{"):
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and doc.get("ok") is False:
                    docs.append(doc)
        assert docs, f"no failure envelope on stderr (rc {self.rc}): {self.err[-2000:]}"
        assert self.out == "", "a failure prints nothing on stdout"
        return docs[-1]

    def __repr__(self) -> str:
        return f"Run(rc={self.rc}, out={self.out[-1500:]!r}, err={self.err[-1500:]!r})"


class Cli:
    def __init__(self, exe: str, sim, home: Path):
        self.exe, self.sim, self.home = exe, sim, home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "TERM": "dumb", "COLUMNS": "200", "LIUM_BASE_URL": sim.base, "LIUM_API_KEY": sim.key,
            "LIUM_SSH_KEY_PATH": str(sim.ssh_key), "LIUM_NONINTERACTIVE": "1", "LIUM_OUTPUT": "json",
            "LIUM_SELF_UPDATE_DISABLE": "1", "LIUM_SSH_PERSIST": "0", "LIUM_NO_POD_INDEX": "1",
        }

    def __call__(self, *args: str, timeout: float = 120, env: Optional[Dict[str, str]] = None) -> Run:
        t0 = time.monotonic()
        proc = subprocess.run([self.exe, *args], env=dict(self.env, **(env or {})), cwd=str(self.home),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        return Run(proc, time.monotonic() - t0)


@pytest.fixture
def cli(lium_bin, sim, tmp_path) -> Cli:
    return Cli(lium_bin, sim, tmp_path / "home")


def calls(sim, since: int = 0) -> List[Tuple[str, str]]:
    return [(e["method"], e["path"]) for e in sim.requests(since)]


def up_prefix(executor: str, *, register_key: bool) -> List[Tuple[str, str]]:
    """§8.3: `lium up <executor-uuid> -y --json` up to and including the rent."""
    seq = [
        ("GET", "/api/users/me"), ("GET", "/api/executors"),
        ("GET", "/api/executors"), ("GET", "/api/executors/default-docker-image"), ("GET", "/api/templates"),
        ("GET", "/api/executors/deployment-estimate"),
        ("GET", "/api/executors"), ("GET", f"/api/templates/{TEMPLATE}"),
    ]
    if register_key:
        seq += [("GET", "/api/ssh-keys"), ("POST", "/api/ssh-keys")]
    return seq + [("GET", "/api/pods"), ("POST", f"/api/executors/{executor}/rent")]


def assert_only_polls_after(seq: List[Tuple[str, str]], n: int) -> int:
    tail = seq[n:]
    assert tail and all(c == ("GET", "/api/pods") for c in tail), f"after the prefix only GET /pods polls: {tail}"
    return len(tail)


def only_pod(sim) -> Dict[str, Any]:
    pods = sim.pods()
    assert len(pods) == 1, f"exactly one pod expected: {[(p['id'], p['status']) for p in pods]}"
    return pods[0]


# ---- the happy path ------------------------------------------------------------------------------


def test_ps_up_exec_rm_cycle(sim, cli):
    ps = cli("ps", "--format", "json")
    assert (ps.rc, ps.json()) == (0, [])
    assert calls(sim) == [("GET", "/api/pods")]

    seq0 = sim.last_seq()
    up = cli("up", E1, "-y", "--json", "--ttl", "1h", timeout=180)
    assert up.rc == 0, up
    doc = up.json()
    pod = doc["pod"]
    assert pod["status"] == "RUNNING" and pod["gpu_count"] == 1 and pod["price_per_hour"] == 2.4
    assert re.fullmatch(r"ssh root@127\.0\.0\.1 -p \d+", pod["ssh_cmd"]) and pod["ports"] == {"22": int(pod["ssh_cmd"].split()[-1])}
    assert pod["ip"] == "127.0.0.1" and pod["template"] == "PyTorch" and pod["removal_scheduled_at"]
    assert "termination_time" in doc
    pid = pod["id"]
    assert only_pod(sim)["id"] == pid

    seq = calls(sim, seq0)
    prefix = up_prefix(E1, register_key=True)
    assert seq[:len(prefix)] == prefix, seq
    after_rent = seq[len(prefix):]
    assert after_rent[0] == ("GET", "/api/pods"), "the read-back after the rent"
    assert after_rent[1] == ("POST", f"/api/pods/{pid}/schedule-removal"), "--ttl schedules right after the rent"
    assert_only_polls_after(seq, len(prefix) + 2)
    log = sim.requests(seq0)
    assert "view=summary" in log[1]["query"]
    rent = next(e for e in log if e["method"] == "POST" and e["path"].endswith("/rent"))
    assert set(rent["body"]) == {"pod_name", "template_id", "dockerfile_content", "volume_id", "user_public_key",
                                 "initial_port_count", "enable_volume_encryption", "backup_log_id", "restore_path",
                                 "enable_backups"}
    assert rent["body"]["user_public_key"] == [sim.pubkey()] and rent["body"]["template_id"] == TEMPLATE
    idem = {k.lower(): v for k, v in rent["headers"].items()}["idempotency-key"]
    assert uuid.UUID(idem)
    assert all(e["key_locations"] == ["header:x-api-key"] for e in sim.requests()), "the key travels only in X-API-KEY"
    sched = sim.row(pid)["removal_scheduled_at"]
    assert sched == pod["removal_scheduled_at"]

    ps = cli("ps", "--format", "json")
    assert ps.rc == 0
    row = ps.json()[0]
    assert (row["id"], row["status"], row["ssh_cmd"], row["name"]) == (pid, "RUNNING", pod["ssh_cmd"], pod["name"])
    assert row["huid"] == pod["huid"] and row["gpu_type"] == "H100"

    seq0 = sim.last_seq()
    ex = cli("exec", pid, "--json", 'echo "pod=$LIUM_SIM_POD_ID"; echo oops >&2; echo data > /mnt/out; exit 3')
    assert ex.rc == 3, ex
    res = ex.json()
    assert res["ok"] is False and len(res["results"]) == 1
    r0 = res["results"][0]
    assert (r0["exit_code"], r0["stdout"], r0["stderr"], r0["pod"]) == (3, f"pod={pid}\n", "oops\n", pod["huid"])
    assert calls(sim, seq0) == [("GET", "/api/pods")], "exec lists pods once, then goes over ssh"
    assert (sim.state / "pods" / pid / "mnt" / "out").read_text() == "data\n"
    ok = cli("exec", pid, "--json", "cat /mnt/out")
    assert ok.rc == 0 and ok.json()["ok"] is True and ok.json()["results"][0]["stdout"] == "data\n"

    seq0 = sim.last_seq()
    rm = cli("rm", pid, "-y", "--format", "json")
    assert rm.rc == 0, rm
    out = rm.json()
    assert out["failed"] == [] and [r["id"] for r in out["removed"]] == [pid]
    assert calls(sim, seq0) == [("GET", "/api/users/me"), ("GET", "/api/pods"), ("DELETE", f"/api/pods/{pid}")]
    assert sim.row(pid) is None
    wait_for(lambda: sim.pod(pid)["purged"], 5, "purge")
    gone = cli("ps", pid, "--format", "json")
    assert gone.rc == 5 and gone.envelope()["error"]["exit_code"] == 5


def test_second_up_skips_key_registration_and_no_ttl_means_no_schedule(sim, cli):
    first = cli("up", E1, "-y", "--json", timeout=180)
    assert first.rc == 0, first
    seq0 = sim.last_seq()
    second = cli("up", E2, "-y", "--json", timeout=180)
    assert second.rc == 0, second
    pod = second.json()["pod"]
    assert pod["gpu_count"] == 2 and "termination_time" not in second.json() and pod["removal_scheduled_at"] is None
    seq = calls(sim, seq0)
    prefix = up_prefix(E2, register_key=False)
    assert seq[:len(prefix)] == prefix, "the key is cached in ~/.lium: no /ssh-keys calls"
    assert_only_polls_after(seq, len(prefix))
    ids = {first.json()["pod"]["id"], pod["id"]}
    assert {p["id"] for p in sim.listed()} == ids
    for pid in ids:
        assert cli("rm", pid, "-y", "--format", "json").rc == 0
    wait_for(lambda: all(p["purged"] for p in sim.pods()), 5, "purge")


def test_exec_pods_have_private_mnt(sim, cli):
    a = cli("up", E1, "-y", "--json", timeout=180).json()["pod"]["id"]
    b = cli("up", E2, "-y", "--json", timeout=180).json()["pod"]["id"]
    assert cli("exec", a, "--json", "echo a > /mnt/mine").rc == 0
    seen = cli("exec", b, "--json", "ls -A /mnt; echo b > /mnt/mine; cat /mnt/mine").json()["results"][0]["stdout"]
    assert seen == "b\n", "pod b sees nothing of pod a's /mnt"
    assert cli("exec", a, "--json", "cat /mnt/mine").json()["results"][0]["stdout"] == "a\n"
    for pid in (a, b):
        assert cli("rm", pid, "-y", "--format", "json").rc == 0


# ---- failures the CLI must report --------------------------------------------------------------


def test_up_creation_failure_names_the_pod_and_the_cause(sim_factory, lium_bin, tmp_path):
    sim = sim_factory(failed_visible_s=60.0, knobs={E1: {"creation_failure": {"after_s": 0.5}}})
    cli = Cli(lium_bin, sim, tmp_path / "home")
    up = cli("up", E1, "-y", "--json", timeout=180)
    assert up.rc == 3 and up.out == "", up
    env = up.envelope()
    pid = only_pod(sim)["id"]
    assert env["error"]["code"] == "pod_start_failed" and env["data"]["pod_id"] == pid
    assert "CREATION_FAILED" in env["error"]["message"] and "failure_step: ssh_connect" in env["error"]["message"]
    assert ("GET", f"/api/pods/{pid}/events") in calls(sim), "the CLI reads the cause from the events"
    assert sim.row(pid)["status"] == "CREATION_FAILED", "a failed pod stays listed for failed_visible_s"
    rm = cli("rm", pid, "-y", "--format", "json")
    assert rm.rc == 0 and rm.json()["removed"][0]["id"] == pid
    wait_for(lambda: sim.pod(pid)["purged"], 5, "purge")


def test_up_pod_vanishing_while_pending(sim_factory, lium_bin, tmp_path):
    sim = sim_factory(knobs={E1: {"slow_ready": 30, "vanish": {"after_s": 2.5, "when": "pending"}}})
    cli = Cli(lium_bin, sim, tmp_path / "home")
    up = cli("up", E1, "-y", "--json", timeout=180)
    assert up.rc == 3, up
    env = up.envelope()
    assert env["error"]["code"] == "pod_start_failed" and "disappeared while starting" in env["error"]["message"]
    assert only_pod(sim)["status"] == "DELETING"


@pytest.mark.parametrize("kind,code,rc", [
    ("cant_rent", "rent_rejected", 3), ("paused", "rent_rejected", 3), ("insufficient_balance", "insufficient_balance", 6),
    ("budget_exceeded", "API_KEY_BUDGET_EXCEEDED", 6),
])
def test_up_rent_refused_rents_nothing(sim, cli, kind, code, rc):
    sim.inject("rent_refusal", kind=kind)
    up = cli("up", E1, "-y", "--json", timeout=180)
    assert up.rc == rc and up.out == "", up
    assert up.envelope()["error"]["code"] == code
    assert sim.pods() == []
    rents = [c for c in calls(sim) if c[0] == "POST" and c[1].endswith("/rent")]
    assert len(rents) == 1, "a refused rent is not sent again"


@pytest.mark.parametrize("mode", ["drop", "5xx"])
def test_up_recovers_a_lost_rent_answer_by_name(sim, cli, mode):
    sim.inject("rent_lost_answer", mode=mode)
    up = cli("up", E1, "-y", "--json", timeout=180)
    assert up.rc == 0, up
    pid = only_pod(sim)["id"]
    assert up.json()["pod"]["id"] == pid, "the CLI found the pod its lost rent created"
    rents = [c for c in calls(sim) if c[0] == "POST" and c[1].endswith("/rent")]
    assert len(rents) == 1, "found by name: no second POST"
    assert cli("rm", pid, "-y", "--format", "json").rc == 0


def test_up_listing_lag_within_the_grace(sim, cli):
    sim.inject("listing_lag_s", seconds=5)
    up = cli("up", E1, "-y", "--json", timeout=180)
    assert up.rc == 0, up
    assert up.json()["pod"]["status"] == "RUNNING" and up.seconds >= 4.5
    assert cli("rm", up.json()["pod"]["id"], "-y", "--format", "json").rc == 0


def test_up_ttl_schedule_failure_is_retried(sim, cli):
    sim.inject("schedule_fail", count=3, status=503)
    up = cli("up", E1, "-y", "--json", "--ttl", "2h", timeout=180)
    assert up.rc == 0, up
    pid = up.json()["pod"]["id"]
    posts = [c for c in calls(sim) if c == ("POST", f"/api/pods/{pid}/schedule-removal")]
    assert len(posts) == 4, "3 attempts at the rent (retry=True), one more once ready"
    assert sim.row(pid)["removal_scheduled_at"] is not None
    assert cli("rm", pid, "-y", "--format", "json").rc == 0


def test_ps_rides_out_429_and_5xx_but_not_forever(sim, cli):
    sim.inject("rate_limit", retry_after=0, path="/pods")
    sim.inject("http_5xx", count=1, status=502, path="/pods")
    ps = cli("ps", "--format", "json")
    assert (ps.rc, ps.json()) == (0, [])
    assert [e["status"] for e in sim.requests()] == [429, 502, 200]
    seq0 = sim.last_seq()
    sim.inject("http_5xx", count=3, status=503, path="/pods")
    ps = cli("ps", "--format", "json")
    assert ps.rc == 3 and ps.envelope()["error"]["code"] == "server_error"
    assert len(sim.requests(seq0)) == 3, "three attempts for a GET, then give up"


def test_rm_is_not_retried_on_5xx_and_refuses_without_yes(sim, cli):
    up = cli("up", E1, "-y", "--json", timeout=180)
    pid = up.json()["pod"]["id"]
    no = cli("rm", pid, "--format", "json")
    assert no.rc == 2 and no.envelope()["error"]["code"] == "confirmation_required"
    assert sim.row(pid)["status"] == "RUNNING"
    seq0 = sim.last_seq()
    sim.inject("http_5xx", count=1, status=500, method="DELETE")
    bad = cli("rm", pid, "-y", "--format", "json")
    assert bad.rc != 0, bad
    deletes = [c for c in calls(sim, seq0) if c[0] == "DELETE"]
    assert deletes == [("DELETE", f"/api/pods/{pid}")], "a DELETE is sent once"
    assert sim.row(pid)["status"] == "RUNNING"
    good = cli("rm", pid, "-y", "--format", "json")
    assert good.rc == 0 and good.json()["removed"][0]["id"] == pid


def test_wrong_key_exit_3_and_nothing_leaks(sim, cli):
    ps = cli("ps", "--format", "json", env={"LIUM_API_KEY": "sk_not_the_key_123456"})
    assert ps.rc == 3 and ps.out == ""
    assert ps.envelope()["error"]["code"] == "invalid_api_key"
    assert [e["auth"] for e in sim.requests()] == ["mismatch"]
    assert API_KEY not in json.dumps(sim.requests())


def test_exec_while_sshd_is_late_then_over_an_openssh_master(sim, cli):
    """`up --json` returns at RUNNING, before any SSH probe (§3.3): an exec that comes too early
    fails the way the CLI fails against a real pod whose sshd is not up yet."""
    sim.inject("ssh_late_s", seconds=4, mode="refuse")
    up = cli("up", E1, "-y", "--json", timeout=180)
    assert up.rc == 0, up
    pid = up.json()["pod"]["id"]
    early = cli("exec", pid, "--json", "echo hi")
    assert early.rc == 1 and "Unable to connect" in early.envelope()["error"]["message"], early
    master_env = {"LIUM_SSH_PERSIST": "60"}
    early_mux = cli("exec", pid, "--json", "echo hi", env=master_env)
    assert early_mux.rc == 4 and early_mux.envelope()["error"]["code"] == "ssh_connection_failed", early_mux
    wait_for(lambda: sim.pod(pid)["history"][-1]["note"].startswith("sshd up"), 10, "the late sshd")
    first = cli("exec", pid, "--json", "echo one", env=master_env)
    assert first.rc == 0 and first.json()["results"][0]["stdout"] == "one\n", first
    assert any("ssh-mux" in p for p in procs_naming(str(cli.home))), "an OpenSSH ControlMaster keeps the connection"
    second = cli("exec", pid, "--json", "echo two", env=master_env)
    assert second.json()["results"][0]["stdout"] == "two\n"
    assert cli("rm", pid, "-y", "--format", "json").rc == 0
    wait_for(lambda: not procs_naming(str(cli.home)), 10, "the master to end with the pod")


def test_up_rides_out_429_while_waiting(sim, cli):
    sim.inject("slow_ready", seconds=3)
    sim.inject("rate_limit", count=2, retry_after=1, path="/pods", method="GET")
    up = cli("up", E1, "-y", "--json", timeout=180)
    assert up.rc == 0, up
    assert [e["status"] for e in sim.requests() if e["path"] == "/api/pods"].count(429) == 2
    assert cli("rm", up.json()["pod"]["id"], "-y", "--format", "json").rc == 0


def test_up_survives_a_rent_answer_later_than_its_30_s_timeout(sim, cli):
    """`rent_lost_answer` `sleep`: the pod is committed, the answer comes after the SDK's 30 s
    read timeout; 0.32.0 then finds the pod by name instead of renting twice."""
    sim.inject("rent_lost_answer", mode="sleep", sleep_s=33)
    up = cli("up", E1, "-y", "--json", timeout=200)
    assert up.rc == 0, up
    pid = only_pod(sim)["id"]
    assert up.json()["pod"]["id"] == pid and up.seconds >= 30
    rents = [e for e in sim.requests() if e["path"].endswith("/rent")]
    assert len(rents) == 1
    assert cli("rm", pid, "-y", "--format", "json").rc == 0
