#!/usr/bin/env python3
"""Measure the simulator: start-up time, and rent -> RUNNING time with ready_after_s 0.

`python3 tests/lium_sim/bench.py [--starts N] [--rents M]` starts the simulator N times (wall
time from exec to its ready line), then on one simulator rents M pods one after another and
times, for each, the POST answer, the first GET /pods that shows RUNNING (polled every 10 ms),
and the first SSH banner on its port; each pod is deleted before the next. Prints one JSON
document with the median and max of each figure (milliseconds). Bounded: every wait has a limit.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import E1, Sim, base_config, wait_for  # noqa: E402


def summary(values):
    return {"median_ms": round(statistics.median(values) * 1000, 1), "max_ms": round(max(values) * 1000, 1),
            "n": len(values)}


def banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.settimeout(1)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--rents", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = root / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
        starts = []
        for i in range(args.starts):
            d = root / f"start{i}"
            d.mkdir()
            s = Sim(d, base_config(), key)
            starts.append(s.start_s)
            assert s.stop() == 0
        d = root / "rents"
        d.mkdir()
        s = Sim(d, base_config(), key)
        answer, running, ssh = [], [], []
        try:
            for _ in range(args.rents):
                t0 = time.monotonic()
                r = s.rent(E1)
                answer.append(time.monotonic() - t0)
                pid = r.body["pod_id"]
                row = wait_for(lambda: (lambda x: x if x and x["status"] == "RUNNING" else None)(s.row(pid)), 20,
                               "RUNNING", interval=0.01)
                running.append(time.monotonic() - t0)
                _, target, _, port = row["ssh_connect_cmd"].split()
                wait_for(lambda: banner(target.split("@")[1], int(port)), 10, "banner", interval=0.01)
                ssh.append(time.monotonic() - t0)
                s.delete_and_wait_purged(pid)
        finally:
            s.stop()
    print(json.dumps({"start_to_ready_line": summary(starts), "rent_answer": summary(answer),
                      "rent_to_running_listed": summary(running), "rent_to_ssh_banner": summary(ssh)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
