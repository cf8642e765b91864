"""The simulator's routes, bodies and knobs, checked over HTTP (urllib) and real ssh.

Each test starts its own simulator process (conftest `sim_factory`); teardown checks that it
lists no live pod the test did not keep, stops cleanly on SIGTERM, and leaves no process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from conftest import API_KEY, E1, E2, SIM, TEMPLATE, http, procs_naming, wait_for

PHASES = {"queued", "preparing node", "connecting to node", "pulling image", "creating volume",
          "starting container", "configuring ssh"}


def port_state(host: str, port: int, wait: float = 0.5) -> str:
    """'refused', 'silent' (accepts, no banner within `wait`) or 'banner'."""
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.settimeout(wait)
            try:
                data = s.recv(64)
            except socket.timeout:
                return "silent"
            except ConnectionResetError:
                return "reset"
            return "banner" if data.startswith(b"SSH-") else f"other:{data!r}"
    except ConnectionRefusedError:
        return "refused"


def endpoint(row):
    _, target, _, port = row["ssh_connect_cmd"].split()
    return target.split("@")[1], int(port)


# ---- process, auth, error bodies -------------------------------------------------------------


def test_ready_line_and_sigterm_leaves_nothing(sim_factory):
    s = sim_factory()
    assert s.info["url"].startswith("http://127.0.0.1:") and s.info["base_url"] == s.info["url"] + "/api"
    assert s.info["admin"] == s.info["url"] + "/_admin" and s.info["pid"] == s.proc.pid
    row = s.rent_running(E1)
    sshd_pid = s.pod(row["id"])["sshd_pid"]
    assert sshd_pid and s.leftovers(), "a RUNNING pod has an sshd naming the state dir"
    host, port = endpoint(row)
    assert s.stop() == 0
    assert s.leftovers() == []
    assert port_state(host, port) == "refused"
    assert not (s.state / "pods").exists() or not any((s.state / "pods").iterdir())


def test_startup_and_rent_to_running_latency(sim_factory, capsys):
    """With ready_after_s 0 a pod is listed RUNNING only once its sshd answers, and quickly."""
    s = sim_factory()
    assert s.start_s < 10, f"start-up took {s.start_s:.2f} s"
    figures = []
    for _ in range(3):
        t0 = time.monotonic()
        pid = s.rent(E1).body["pod_id"]
        row = wait_for(lambda: (lambda r: r if r and r["status"] == "RUNNING" else None)(s.row(pid)), 10,
                       "RUNNING", interval=0.01)
        figures.append(time.monotonic() - t0)
        assert port_state(*endpoint(row)) == "banner", "RUNNING is listed only once sshd answers"
        s.delete_and_wait_purged(pid)
    assert max(figures) < 5, figures
    with capsys.disabled():
        print(f"\n[lium-sim] start {s.start_s * 1000:.0f} ms; rent->RUNNING "
              + ", ".join(f"{f * 1000:.0f}" for f in figures) + " ms")


def test_sigkill_of_the_simulator_takes_its_pods_down(sim_factory):
    s = sim_factory()
    row = s.rent_running(E1)
    host, port = endpoint(row)
    s.proc.kill()
    s.proc.wait(timeout=10)
    s.stopped = True
    wait_for(lambda: not s.leftovers(), 10, "pods to die with the simulator")
    # The last of the pod's processes may still hold its listening socket for a moment (an
    # accepted connection is then reset): the port must be closed within the bound.
    wait_for(lambda: port_state(host, port) == "refused", 10, "the pod's port to close")
    assert (s.state / "pods" / row["id"]).is_dir(), "a killed simulator cannot clean its directories"
    # the next simulator on the same state dir removes what the killed one left
    nxt = subprocess.Popen([sys.executable, str(SIM), "--state-dir", str(s.state)], stdout=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert json.loads(nxt.stdout.readline())["state_dir"] == str(s.state)
        assert not (s.state / "pods" / row["id"]).exists()
    finally:
        nxt.send_signal(signal.SIGTERM)
        assert nxt.wait(timeout=30) == 0


def test_auth_envelope_and_public_routes(sim):
    for key in (None, "sk_wrong"):
        r = sim.api("GET", "/pods", key=key)
        assert r.status == 401
        assert r.body["success"] is False and r.body["status_code"] == 401
        assert r.body["error"]["code"] == "invalid_api_key"
        assert r.body["error"]["message"] == r.body["message"] == "Invalid or expired token"
        assert r.body["error"]["request_id"] == r.headers["X-Request-Id"]
    for path in ("/executors", "/templates", "/version", "/machines"):
        assert sim.api("GET", path, key=None).status == 200, path
    for path in ("/users/me", "/ssh-keys", "/executors/default-docker-image"):
        assert sim.api("GET", path, key=None).status == 401, path
    log = sim.requests()
    assert [e["auth"] for e in log[:2]] == ["absent", "mismatch"]
    assert API_KEY not in json.dumps(log) and "sk_wrong" not in json.dumps(log)
    assert sim.api("GET", "/pods").status == 200
    assert sim.requests()[-1]["auth"] == "match"
    assert sim.requests()[-1]["key_locations"] == ["header:x-api-key"]


def test_request_log_reports_the_key_seen_outside_its_header(sim):
    r = sim.api("GET", f"/pods?token={API_KEY}", headers={"Authorization": f"Bearer {API_KEY}", "X-Echo": API_KEY})
    assert r.status == 200
    sim.api("POST", "/ssh-keys", {"name": API_KEY, "public_key": sim.pubkey()})
    log = sim.requests()
    assert set(log[0]["key_locations"]) == {"header:x-api-key", "header:authorization", "header:x-echo", "query"}
    assert log[1]["key_locations"] == ["header:x-api-key", "body"]
    assert API_KEY not in json.dumps(log), "the log never holds the key's value"
    sent = {k.lower(): v for k, v in log[0]["headers"].items()}
    assert sent["x-api-key"] == "<redacted>" and sent["authorization"] == "Bearer <api-key>"


def test_not_found_422_and_405_bodies(sim):
    assert sim.api("GET", "/nope").body == {"detail": "Not Found"}
    assert sim.api("GET", "/nope").status == 404
    assert http("GET", sim.url + "/pods", headers={"X-API-KEY": API_KEY}).status == 404  # no /api prefix
    r = sim.api("GET", f"/pods/{uuid.uuid4()}")
    assert (r.status, r.body) == (404, {"detail": "Not Found"})
    r = sim.api("GET", "/pods/not-a-uuid")
    assert r.status == 422 and r.body["detail"][0]["loc"] == ["path", "pod_id"]
    r = sim.api("DELETE", "/pods/123")
    assert r.status == 422
    r = sim.api("GET", "/templates/pytorch")
    assert r.status == 422 and r.body["detail"][0]["loc"] == ["path", "template_id"]
    r = sim.api("GET", f"/templates/{uuid.uuid4()}")
    assert (r.status, r.body) == (404, {"detail": "Not Found"})
    assert sim.api("GET", f"/templates/{TEMPLATE}").body["supports_volume_encryption"] is False
    r = sim.api("PUT", "/pods")
    assert r.status == 405 and r.body == {"detail": "Method Not Allowed"}
    r = sim.api("POST", "/ssh-keys", headers={"Content-Type": "application/json"})
    assert r.status == 422
    req = urllib.request.Request(sim.base + "/ssh-keys", data=b"{oops", method="POST",
                                 headers={"X-API-KEY": API_KEY, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(req, timeout=10)
    assert bad.value.code == 422 and json.loads(bad.value.read())["detail"][0]["type"] == "json_invalid"


def test_misc_routes(sim):
    me = sim.api("GET", "/users/me").body
    assert me["balance"] == 50.0 and "workspace" not in me and me["id"] and me["email"]
    v = sim.api("GET", "/version").body
    assert v["features"] == [] and "started_at" in v and isinstance(v["uptime_seconds"], int)
    assert {"name": "NVIDIA H100 80GB HBM3"} in sim.api("GET", "/machines").body
    imgs = sim.api("GET", "/executors/default-docker-image?gpu_model=x&driver_version=y").body
    tpl = sim.api("GET", "/templates").body[0]
    assert imgs == [{"docker_image": tpl["docker_image"], "docker_image_tag": tpl["docker_image_tag"]}]
    est = sim.api("GET", f"/executors/deployment-estimate?executor_id={E1}&template_id={TEMPLATE}").body
    assert est["estimated_seconds"] > 0 and est["is_slow_machine"] is False
    assert sim.api("GET", "/executors/deployment-estimate").status == 422
    assert sim.api("GET", "/ssh-keys").body == []
    added = sim.api("POST", "/ssh-keys", {"name": "cli-root@h", "public_key": sim.pubkey()}).body
    assert {"id", "name", "public_key", "created_at"} <= set(added) and added["public_key"] == sim.pubkey()
    assert sim.api("GET", "/ssh-keys").body[0]["id"] == added["id"]
    assert sim.api("POST", "/ssh-keys", {"name": "x", "public_key": "not a key"}).status == 400


def test_executor_listing_filters_and_fully_rented_nodes(sim):
    rows = sim.api("GET", "/executors?view=summary&unknown=1").body
    assert [r["id"] for r in rows] == [E1, E2]
    r1 = rows[0]
    assert r1["available_gpu_count"] == 1 and r1["price_per_gpu"] == 2.4 and r1["specs"]["gpu"]["count"] == 1
    assert r1["specs"]["gpu"]["details"][0]["name"] == "NVIDIA H100 80GB HBM3" and "huid" not in r1
    assert [r["id"] for r in sim.api("GET", "/executors?machine_names=RTX%204090").body] == [E2]
    assert [r["id"] for r in sim.api("GET", "/executors?machine_names=A100,H100").body] == [E1]
    assert [r["id"] for r in sim.api("GET", "/executors?gpu_count_gte=2").body] == [E2]
    assert [r["id"] for r in sim.api("GET", "/executors?gpu_count_lte=1").body] == [E1]
    assert sim.api("GET", "/executors?gpu_count_gte=x").status == 422
    pod = sim.rent(E1).body["pod_id"]
    assert [r["id"] for r in sim.api("GET", "/executors").body] == [E2], "a fully rented node is not listed"
    r = sim.rent(E1)
    assert (r.status, r.body) == (400, {"detail": "Can't rent node. Try again later."})
    half = sim.rent(E2, gpu_count=1).body["pod_id"]
    assert [r["available_gpu_count"] for r in sim.api("GET", "/executors").body] == [1]
    sim.delete_and_wait_purged(pod)
    sim.delete_and_wait_purged(half)
    assert [r["id"] for r in sim.api("GET", "/executors").body] == [E1, E2]


# ---- rent, pods, real sshd -------------------------------------------------------------------


def test_rent_row_shape_ssh_and_private_mnt(sim):
    r = sim.rent(E1, name="alpha", termination_hours=3)
    assert r.status == 200 and r.body == {"success": True, "pod_id": r.body["pod_id"]}
    a = sim.wait_status(r.body["pod_id"], "RUNNING")
    b = sim.rent_running(E2, name="beta")
    for row in (a, b):
        assert row["ssh_connect_cmd"] == f"ssh root@127.0.0.1 -p {row['ports_mapping']['22']}"
        assert isinstance(row["gpu_count"], str)
        assert datetime.fromisoformat(row["created_at"]).tzinfo is None
    assert a["gpu_count"] == "1" and a["price"] == 2.4 and a["termination_hours"] == 3
    assert b["gpu_count"] == "2" and b["price"] == pytest.approx(0.8)
    assert a["executor"]["id"] == E1 and a["template"]["id"] == TEMPLATE and a["pod_name"] == "alpha"
    detail = sim.api("GET", f"/pods/{a['id']}").body
    assert detail["last_event"]["to_status"] == "RUNNING" and detail["id"] == a["id"]

    out = sim.ssh(a, 'echo "$LIUM_SIM_POD_ID"; id -un; echo secret-a > /mnt/owner; ls /mnt')
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [a["id"], "root", "owner"]
    out = sim.ssh(b, 'echo "$LIUM_SIM_POD_ID"; ls -A /mnt | wc -l; echo b > /mnt/owner; cat /mnt/owner')
    assert out.stdout.split() == [b["id"], "0", "b"], "pod b must not see pod a's /mnt"
    assert sim.ssh(a, "cat /mnt/owner").stdout.strip() == "secret-a"
    assert (sim.state / "pods" / a["id"] / "mnt" / "owner").read_text().strip() == "secret-a"
    assert not os.path.exists("/mnt/owner"), "the host's /mnt is untouched"
    inside = sim.ssh(a, "awk '$5 == \"/mnt\"' /proc/self/mountinfo").stdout
    assert inside.strip(), "/mnt is a mount inside the pod"
    with open("/proc/self/mountinfo") as fh:
        assert str(sim.state) not in fh.read(), "the pod's bind mount is private to its namespace"
    assert "sshd" in sim.ssh(a, "cat /proc/1/comm").stdout, "sshd is PID 1 of the pod's namespace"
    pa, pb = sim.pod(a["id"]), sim.pod(b["id"])
    assert pa["host_key"] != pb["host_key"] and pa["host_key"].startswith("ssh-ed25519 ")

    other = sim.root / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    denied = sim.ssh(a, "true", key=other)
    assert denied.returncode == 255 and "Permission denied" in denied.stderr

    host, port = endpoint(a)
    d = sim.api("DELETE", f"/pods/{a['id']}")
    assert (d.status, d.body) == (200, {"success": True, "message": "Pod deletion started"})
    assert sim.row(a["id"]) is None, "DELETING is hidden from GET /pods at once"
    assert sim.api("GET", f"/pods/{a['id']}").status == 404
    wait_for(lambda: port_state(host, port) == "refused", 5, "the pod's sshd to be killed")
    wait_for(lambda: sim.pod(a["id"])["purged"], 5, "purge")
    assert not (sim.state / "pods" / a["id"]).exists()
    assert sim.api("DELETE", f"/pods/{a['id']}").body == {"detail": "Not Found"}
    events = sim.api("GET", f"/pods/{a['id']}/events").body
    assert [e["sub_event_type"] for e in events] == ["pod-rent.requested", "pod-create.success", "pod-delete.success"]
    assert events[-1]["to_status"] == "DELETING"
    hist = [h["status"] for h in sim.pod(a["id"])["history"]]
    assert hist[0] == "PENDING" and "RUNNING" in hist and hist[-1] == "DELETING"
    sim.delete_and_wait_purged(b["id"])
    assert sim.api("GET", f"/pods/{uuid.uuid4()}/events").status == 404


def test_logins_die_with_the_pod(sim):
    row = sim.rent_running(E1)
    out = sim.ssh(row, "setsid sleep 777 </dev/null >/dev/null 2>&1 & echo started")
    assert out.stdout.strip() == "started"
    assert procs_naming("sleep 777")
    sim.delete_and_wait_purged(row["id"])
    wait_for(lambda: not procs_naming("sleep 777"), 5, "the pod's processes to be killed")


def test_rent_body_validation_creates_nothing(sim):
    cases = [
        (dict(pub=[]), 422), (dict(pub=["garbage"]), 400), (dict(pub=["ssh-ed25519 AAAA x\nssh-rsa AAAA y"]), 400),
        (dict(dockerfile_content="FROM x"), 400), (dict(template_id=None), 400),
        (dict(template_id=str(uuid.uuid4())), 404), (dict(termination_hours=0), 422),
        (dict(termination_hours=721), 422), (dict(termination_hours=True), 422), (dict(gpu_count=0), 422),
        (dict(pod_name=""), 422),
    ]
    for kw, status in cases:
        if "pod_name" in kw:
            r = sim.api("POST", f"/executors/{E1}/rent", {"pod_name": "", "template_id": TEMPLATE,
                                                          "user_public_key": [sim.pubkey()]})
        else:
            r = sim.rent(E1, **kw)
        assert r.status == status, (kw, r)
    r = sim.rent(str(uuid.uuid4()))
    assert (r.status, r.body) == (404, {"detail": "Executor not found"})
    assert sim.rent("node-1").status == 422
    r = sim.api("POST", f"/executors/{E1}/rent", {"pod_name": "x"}, headers={"Idempotency-Key": "bad key!"})
    assert r.status == 422
    assert sim.pods() == []


def test_insufficient_balance_without_a_knob(sim):
    sim.admin("POST", "/balance", {"balance": 0.5})  # 15 min of the $2.40 node is $0.60
    r = sim.rent(E1)
    assert r.status == 403 and r.body["error"]["code"] == "insufficient_balance"
    assert "requires at least $0.60" in r.body["error"]["message"] and "Your balance is $0.50." in r.body["error"]["message"]
    pod = sim.rent(E2, gpu_count=1)  # $0.40/h: 15 min is $0.10
    assert pod.status == 200
    sim.delete_and_wait_purged(pod.body["pod_id"])
    assert len(sim.pods()) == 1


def test_balance_is_billed_while_running(sim_factory):
    s = sim_factory(time_scale=3600.0)  # one real second bills one hour
    row = s.rent_running(E1)
    b0 = s.api("GET", "/users/me").body["balance"]
    time.sleep(1.0)
    b1 = s.api("GET", "/users/me").body["balance"]
    assert 2.4 * 0.8 < b0 - b1 < 2.4 * 3, (b0, b1)
    s.delete_and_wait_purged(row["id"])
    b2 = s.api("GET", "/users/me").body["balance"]
    time.sleep(0.3)
    assert s.api("GET", "/users/me").body["balance"] == b2, "a deleted pod bills nothing"


# ---- idempotency and lost answers ------------------------------------------------------------


def test_idempotency_replay_conflict_and_reuse(sim):
    key = str(uuid.uuid4())
    first = sim.rent(E2, name="idem", idem=key, gpu_count=1)
    again = sim.rent(E2, name="idem", idem=key, gpu_count=1)
    assert first.status == again.status == 200 and first.body == again.body
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert len(sim.pods()) == 1
    other = sim.rent(E2, name="other", idem=key, gpu_count=1)
    assert other.status == 422 and other.body["error"]["code"] == "idempotency_key_reused"
    assert len(sim.pods()) == 1
    sim.inject("rent_refusal", kind="paused")
    k2 = str(uuid.uuid4())
    refused = sim.rent(E2, name="r", idem=k2, gpu_count=1)
    assert (refused.status, refused.body) == (409, {"detail": "Provider has paused new rentals for this node."})
    replay = sim.rent(E2, name="r", idem=k2, gpu_count=1)
    assert replay.status == 409 and replay.headers["Idempotent-Replayed"] == "true", "a stored refusal is replayed"
    assert [e.get("replayed") for e in sim.requests() if "/rent" in e["path"]] == [False, True, False, False, True]
    sim.delete_and_wait_purged(first.body["pod_id"])


def test_idempotency_in_progress_while_the_answer_is_late(sim):
    sim.inject("rent_lost_answer", mode="sleep", sleep_s=2.0)
    key = str(uuid.uuid4())
    slow: dict = {}
    t = threading.Thread(target=lambda: slow.setdefault("r", sim.rent(E1, name="late", idem=key)))
    t.start()
    wait_for(lambda: sim.pods(), 5, "the pod to be committed before the answer")
    busy = sim.rent(E1, name="late", idem=key)
    assert busy.status == 409 and busy.body["error"]["code"] == "idempotency_in_progress"
    t.join(timeout=10)
    assert slow["r"].status == 200
    done = sim.rent(E1, name="late", idem=key)
    assert done.body == slow["r"].body and done.headers["Idempotent-Replayed"] == "true"
    assert len(sim.pods()) == 1
    sim.delete_and_wait_purged(slow["r"].body["pod_id"])


@pytest.mark.parametrize("mode", ["drop", "5xx"])
def test_rent_lost_answer_commits_one_pod(sim, mode):
    sim.inject("rent_lost_answer", mode=mode, status=502)
    key = str(uuid.uuid4())
    if mode == "drop":
        with pytest.raises((ConnectionError, OSError)):
            sim.rent(E1, name="lost", idem=key)
    else:
        r = sim.rent(E1, name="lost", idem=key)
        assert (r.status, r.body) == (502, {"detail": "Bad Gateway"})
    listed = [p for p in sim.listed() if p["pod_name"] == "lost"]
    assert len(listed) == 1, "the pod was committed although the answer was lost"
    replay = sim.rent(E1, name="lost", idem=key)
    assert replay.status == 200 and replay.body["pod_id"] == listed[0]["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(sim.pods()) == 1
    assert sim.requests()[0]["status"] == ("dropped" if mode == "drop" else 502)
    sim.delete_and_wait_purged(listed[0]["id"])


# ---- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,status,check", [
    ("cant_rent", 400, lambda b: b == {"detail": "Can't rent node. Try again later."}),
    ("not_available", 400, lambda b: b == {"detail": "node is not available"}),
    ("pending", 400, lambda b: b == {"detail": "A rental is already pending on this node"}),
    ("paused", 409, lambda b: b == {"detail": "Provider has paused new rentals for this node."}),
    ("insufficient_balance", 403, lambda b: b["error"]["code"] == "insufficient_balance"
     and "This node costs $2.40/hour, so renting it requires at least $0.60" in b["error"]["message"]),
    ("budget_exceeded", 402, lambda b: b["error"]["code"] == "API_KEY_BUDGET_EXCEEDED" and b["status_code"] == 402),
    ("unauthorized", 401, lambda b: b["error"]["code"] == "invalid_api_key"),
])
def test_rent_refusal_kinds(sim, kind, status, check):
    sim.inject("rent_refusal", kind=kind, executor_id=E1)
    elsewhere = sim.rent(E2, gpu_count=1)
    assert elsewhere.status == 200, "an injection for E1 leaves E2 alone"
    r = sim.rent(E1)
    assert r.status == status and check(r.body), r
    assert [p["executor_id"] for p in sim.pods()] == [E2]
    ok = sim.rent(E1)
    assert ok.status == 200, "the injection is used up by one rent"
    for pid in (elsewhere.body["pod_id"], ok.body["pod_id"]):
        sim.delete_and_wait_purged(pid)


def test_rent_refusal_from_config_for_the_first_n(sim_factory):
    s = sim_factory(knobs={E1: {"rent_refusal": {"kind": "pending", "count": 2}}})
    for _ in range(2):
        assert s.rent(E1).body == {"detail": "A rental is already pending on this node"}
    other = s.rent(E2, gpu_count=1)
    assert other.status == 200, "the knob is per executor"
    third = s.rent(E1)
    assert third.status == 200
    for pid in (other.body["pod_id"], third.body["pod_id"]):
        s.delete_and_wait_purged(pid)


# ---- lifecycle knobs ----------------------------------------------------------------------------


def test_listing_lag(sim):
    sim.inject("listing_lag_s", seconds=1.5)
    t0 = time.monotonic()
    pid = sim.rent(E1).body["pod_id"]
    assert sim.row(pid) is None and sim.api("GET", f"/pods/{pid}").status == 404
    row = wait_for(lambda: sim.row(pid), 5, "the pod to be listed")
    assert 1.3 <= time.monotonic() - t0 < 4
    assert row["id"] == pid
    sim.delete_and_wait_purged(pid)


def test_creation_failure_is_listed_then_purged_with_events(sim):
    sim.inject("creation_failure", after_s=0.3)
    pid = sim.rent(E1).body["pod_id"]
    row = sim.wait_status(pid, "CREATION_FAILED", timeout=5)
    assert row["ssh_connect_cmd"] is None and row["ports_mapping"] == {}
    assert sim.pod(pid)["sshd_pid"] is None, "a failed pod never had an sshd"
    wait_for(lambda: sim.row(pid) is None, 5, "the failed row to be purged (failed_visible_s 1.0)")
    events = sim.api("GET", f"/pods/{pid}/events").body
    assert events[-1]["to_status"] == "CREATION_FAILED" and "(failure_step: ssh_connect)" in events[-1]["error"]
    assert sim.pod(pid)["purged"]
    assert [r["id"] for r in sim.api("GET", "/executors").body][0] == E1, "the node is free again"


@pytest.mark.parametrize("mode", ["deleting", "broken"])
def test_vanish_of_a_running_pod(sim, mode):
    row = sim.rent_running(E1)
    host, port = endpoint(row)
    assert port_state(host, port) == "banner"
    sim.inject("vanish", pod_id=row["id"], mode=mode)
    if mode == "deleting":
        wait_for(lambda: sim.row(row["id"]) is None, 5, "the pod to vanish")
        assert sim.api("GET", f"/pods/{row['id']}/events").body[-1]["reason"] == "executor_offline"
    else:
        broken = sim.wait_status(row["id"], "BROKEN", timeout=5)
        assert broken["ssh_connect_cmd"] is None
        later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
        assert sim.api("POST", f"/pods/{row['id']}/schedule-removal", {"removal_scheduled_at": later}).status == 400
        assert sim.api("POST", f"/pods/{row['id']}/reboot").status == 400
        refused = sim.rent(E1)
        assert refused.status == 400
        refused = sim.api("POST", f"/executors/{E1}/rent", {"pod_name": "x", "template_id": TEMPLATE,
                                                            "user_public_key": [sim.pubkey()]})
        assert refused.status == 400 and row["id"] in str(refused.body), "the refusal names the broken pod"
        assert sim.api("DELETE", f"/pods/{row['id']}").status == 200, "DELETE works on a BROKEN pod"
    wait_for(lambda: port_state(host, port) == "refused", 5, "sshd killed")
    wait_for(lambda: sim.pod(row["id"])["purged"], 5, "purge")


def test_vanish_while_pending_from_config(sim_factory):
    s = sim_factory(knobs={E1: {"vanish": {"after_s": 0.5, "when": "pending"}, "slow_ready": 5}})
    pid = s.rent(E1).body["pod_id"]
    assert s.row(pid)["status"] == "PENDING"
    wait_for(lambda: s.row(pid) is None, 5, "the pending pod to vanish")
    assert s.pod(pid)["status"] == "DELETING"


def test_slow_ready_counts_down_with_phases(sim):
    sim.inject("slow_ready", seconds=2.0)
    t0 = time.monotonic()
    pid = sim.rent(E1).body["pod_id"]
    first = sim.row(pid)
    assert first["status"] == "PENDING" and first["ssh_connect_cmd"] is None
    assert first["phase"] in PHASES and first["estimated_ready_seconds"] in (1, 2)
    time.sleep(1.2)
    second = sim.row(pid)
    assert second["estimated_ready_seconds"] < first["estimated_ready_seconds"] or second["estimated_ready_seconds"] == 0
    assert second["phase"] in PHASES
    row = sim.wait_status(pid, "RUNNING", timeout=10)
    assert time.monotonic() - t0 >= 1.9 and "phase" not in row
    sim.delete_and_wait_purged(pid)


@pytest.mark.parametrize("mode", ["refuse", "silent"])
def test_ssh_late(sim, mode):
    sim.inject("ssh_late_s", seconds=1.5, mode=mode)
    pid = sim.rent(E1).body["pod_id"]
    row = sim.wait_status(pid, "RUNNING", timeout=5)
    host, port = endpoint(row)
    assert port_state(host, port) == ("refused" if mode == "refuse" else "silent")
    wait_for(lambda: port_state(host, port) == "banner", 10, "sshd to come up late")
    assert sim.ssh(row, "echo $LIUM_SIM_POD_ID").stdout.strip() == pid
    sim.delete_and_wait_purged(pid)


@pytest.mark.parametrize("moves", [False, True])
def test_reboot_new_host_key_and_maybe_new_endpoint(sim, moves):
    if moves:
        sim.inject("reboot_moves")
    row = sim.rent_running(E1)
    key0 = sim.pod(row["id"])["host_key"]
    r = sim.api("POST", f"/pods/{row['id']}/reboot")
    assert r.status == 200 and r.body["status"] == "REBOOT_PENDING" and r.body["ssh_connect_cmd"] is None
    after = sim.wait_status(row["id"], "RUNNING", timeout=15)
    assert sim.pod(row["id"])["host_key"] != key0
    h0, p0 = endpoint(row)
    h1, p1 = endpoint(after)
    if moves:
        assert h1 != h0 and h1.startswith("127.0.0.") and p1 != p0
        assert port_state(h0, p0) == "refused"
    else:
        assert (h1, p1) == (h0, p0)
    assert sim.ssh(after, "echo $LIUM_SIM_POD_ID").stdout.strip() == row["id"]
    sim.delete_and_wait_purged(row["id"])


# ---- request knobs ------------------------------------------------------------------------------


def test_http_5xx_burst_then_recovery(sim):
    sim.inject("http_5xx", count=2, status=502, path="/pods")
    assert [sim.api("GET", "/pods").status for _ in range(3)] == [502, 502, 200]
    sim.inject("http_5xx", status=500, method="DELETE")
    assert sim.api("GET", "/users/me").status == 200, "filtered by method"
    log = sim.requests()
    assert [e["injected"] for e in log[:3]] == [["http_5xx"], ["http_5xx"], []]


def test_http_5xx_from_config_for_one_executor(sim_factory):
    s = sim_factory(knobs={E1: {"http_5xx": {"count": 1, "status": 503}}})
    assert s.api("GET", "/pods").status == 200, "a request not about E1 is untouched"
    r = s.rent(E1)
    assert (r.status, r.body) == (503, {"detail": "Service Unavailable"})
    assert s.pods() == [], "a 5xx before the handler rents nothing"
    pid = s.rent(E1).body["pod_id"]
    s.delete_and_wait_purged(pid)


def test_rate_limit_injected_and_pods_per_minute(sim_factory):
    s = sim_factory(pods_per_minute=3)
    s.inject("rate_limit", retry_after=7)
    r = s.api("GET", "/users/me")
    assert r.status == 429 and r.headers["Retry-After"] == "7"
    assert [s.api("GET", "/pods").status for _ in range(3)] == [200, 200, 200]
    r = s.api("GET", "/pods")
    assert r.status == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert s.api("GET", "/users/me").status == 200, "the per-minute cap is on GET /pods only"


def test_delete_slow_and_repeat_delete(sim):
    row = sim.rent_running(E1)
    sim.inject("delete_slow_s", seconds=1.2)
    t0 = time.monotonic()
    assert sim.api("DELETE", f"/pods/{row['id']}").body["message"] == "Pod deletion started"
    assert sim.row(row["id"])["status"] == "RUNNING", "still listed after the DELETE"
    again = sim.api("DELETE", f"/pods/{row['id']}")
    assert again.status == 200 and "in progress" in again.body["message"]
    wait_for(lambda: sim.row(row["id"]) is None, 5, "the slow delete to finish")
    assert time.monotonic() - t0 >= 1.1
    wait_for(lambda: sim.pod(row["id"])["purged"], 5, "purge")
    assert sim.api("DELETE", f"/pods/{row['id']}").status == 404

    row = sim.rent_running(E1)
    sim.inject("delete_slow_s", seconds=1.0, status="DELETING")
    sim.inject("delete_404_again", pod_id=row["id"])
    sim.api("DELETE", f"/pods/{row['id']}")
    assert sim.row(row["id"])["status"] == "DELETING", "listed as DELETING during the slow delete"
    assert sim.api("DELETE", f"/pods/{row['id']}").body == {"detail": "Not Found"}
    wait_for(lambda: sim.pod(row["id"])["purged"], 5, "purge")


def test_schedule_removal_deletes_at_its_time(sim_factory):
    s = sim_factory(time_scale=3600.0)  # an hour passes in a real second
    row = s.rent_running(E1)
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    r = s.api("POST", f"/pods/{row['id']}/schedule-removal", {"removal_scheduled_at": past})
    assert r.status == 400
    assert s.api("POST", f"/pods/{row['id']}/schedule-removal", {"when": "x"}).status == 422
    at = datetime.now(timezone.utc) + timedelta(hours=5)
    s.inject("schedule_fail", status=503)
    assert s.api("POST", f"/pods/{row['id']}/schedule-removal", {"removal_scheduled_at": at.isoformat()}).status == 503
    assert s.row(row["id"])["removal_scheduled_at"] is None
    ok = s.api("POST", f"/pods/{row['id']}/schedule-removal", {"removal_scheduled_at": at.isoformat()})
    assert ok.status == 200
    assert s.row(row["id"])["removal_scheduled_at"] == at.replace(tzinfo=None).isoformat(timespec="seconds")
    assert s.api("DELETE", f"/pods/{row['id']}/schedule-removal").status == 200
    assert s.row(row["id"])["removal_scheduled_at"] is None
    assert s.api("DELETE", f"/pods/{row['id']}/schedule-removal").status == 400
    t0 = time.monotonic()
    at = datetime.now(timezone.utc) + timedelta(hours=2)
    s.api("POST", f"/pods/{row['id']}/schedule-removal", {"removal_scheduled_at": at.isoformat().replace("+00:00", "Z")})
    host, port = endpoint(row)
    wait_for(lambda: s.row(row["id"]) is None, 6, "the scheduled removal")
    assert 1.7 <= time.monotonic() - t0 < 5
    ev = s.api("GET", f"/pods/{row['id']}/events").body[-1]
    assert (ev["reason"], ev["detail"]) == ("scheduled_termination", "removal_scheduled_at")
    wait_for(lambda: port_state(host, port) == "refused", 5, "sshd killed")
    wait_for(lambda: s.pod(row["id"])["purged"], 5, "purge")


def test_termination_hours_deletes_the_pod(sim_factory):
    s = sim_factory(time_scale=3600.0)
    t0 = time.monotonic()
    pid = s.rent(E1, termination_hours=2).body["pod_id"]
    row = s.wait_status(pid, "RUNNING")
    assert row["termination_hours"] == 2
    wait_for(lambda: s.row(pid) is None, 6, "the TTL removal")
    assert 1.8 <= time.monotonic() - t0 < 5
    ev = s.api("GET", f"/pods/{pid}/events").body[-1]
    assert (ev["sub_event_type"], ev["reason"], ev["detail"]) == (
        "worker-pod-delete.success", "scheduled_termination", "termination_hours")
    wait_for(lambda: s.pod(pid)["purged"], 5, "purge")


# ---- admin and config ---------------------------------------------------------------------------


def test_admin_inject_errors_and_views(sim):
    for body, needle in [({"knob": "nope"}, "unknown knob"), ({"knob": "http_5xx", "count": 0}, "count"),
                         ({"knob": "vanish", "mode": "gone"}, "mode"), ({"knob": "ssh_late_s", "colour": 1}, "colour"),
                         ({"knob": "vanish", "pod_id": str(uuid.uuid4())}, "no live pod"),
                         ({"knob": "http_5xx", "executor_id": str(uuid.uuid4())}, "unknown executor_id")]:
        r = http("POST", sim.url + "/_admin/inject", body)
        assert r.status == 400 and needle in r.body["detail"], (body, r)
    inj = sim.inject("http_5xx", count=2)
    assert sim.admin("GET", "/injections")[0]["id"] == inj["id"]
    assert sim.admin("DELETE", "/injections") == {"cleared": 1}
    state = sim.admin("GET", "/state")
    assert state["balance"] == 50.0 and [e["id"] for e in state["executors"]] == [E1, E2]
    sim.api("GET", "/pods")
    assert sim.admin("DELETE", "/requests")["cleared"] >= 1 and sim.requests() == []
    assert http("GET", sim.url + "/_admin/nope").status == 404


@pytest.mark.parametrize("config,needle", [
    ({"executors": [{"id": "x"}]}, "config.executors[0].id must be a UUID"),
    ({"executors": [{"knobs": {"vanish": {"mode": "boom"}}}]}, "knob vanish: mode must be one of"),
    ({"executors": [{"knobs": {"explode": 1}}]}, "unknown knob 'explode'"),
    ({"ready_after": 1}, "unknown key(s) ready_after"),
    ({"user": {"workspace": {}}}, "workspace"),
    ({"time_scale": 0}, "time_scale"),
])
def test_bad_config_exits_2_naming_the_entry(tmp_path, config, needle):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    r = subprocess.run([sys.executable, str(SIM), "--state-dir", str(tmp_path / "st"), "--config", str(path)],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and needle in r.stderr and r.stdout == "", r.stderr


def test_state_dir_in_use_is_refused(sim_factory, tmp_path):
    s = sim_factory()
    r = subprocess.run([sys.executable, str(SIM), "--state-dir", str(s.state)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "used by a running simulator" in r.stderr
    assert s.api("GET", "/pods").status == 200
    r = subprocess.run([sys.executable, str(SIM), "--state-dir", str(tmp_path / "x"), "--config", str(tmp_path / "no.json")],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "cannot read config file" in r.stderr
