#!/usr/bin/env python3
"""Measure whole wfhost flows on the lium transport against the simulator.

`python3 tests/lium_sim/flow_bench.py [--wfhost PATH] [--flows N] [--delays 0,2]` starts, for
each ready delay D (the simulator's `ready_after_s`: a pod stays PENDING that long before its
sshd starts), one simulator, runs one unmeasured warm-up flow (it fills the component cache),
then N flows of the real `wfhost` binary (default `target/debug/wfhost`), each
`flow --provision auto --yes --wait true --fetch all --teardown delete` in a fresh sandbox built
from `examples/quickstart` (its sweep, bootstrap script and run template; the experiment is
committed into a git repo of the sandbox) with the lium settings the end-to-end tests use
(`Sim::configure` in tests/e2e/lium.rs): WF_TRANSPORT=lium, LIUM_BASE_URL, LIUM_API_KEY, a fresh
WF_SSH_IDENTITY, WF_POD_READY_TIMEOUT_SECS=30.

Per flow: the wall time, P10's duration (`phase/phase.P10.json` `duration_ms`), P10 minus D
(the overhead of renting and waiting beyond the pod's own start), the API requests by route
(`/_admin/requests`, the pod and node ids replaced by `{id}`), the readiness reads
(`GET /pods/{id}`) and the `GET /pods` listings (the service allows 60 a minute). Prints one
JSON document: every flow, and the median and max of each figure per delay.

Bounded: each flow is killed after `--flow-timeout` seconds (default 300), the simulator's
start after 20 s and its stop after 30 s; wfhost's stdin is closed. Needs what the simulator
needs (root, sshd, unshare, setpriv), git and ssh-keygen.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import Sim, base_config, http  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"
FLOW = ["flow", "--provision", "auto", "--yes", "--wait", "true", "--fetch", "all", "--teardown", "delete"]
NOTEWORTHY = ("was not ready within", "refused the rent", "could not be scheduled", "was lost")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def stats(values: List[float]) -> Dict[str, Any]:
    return {"median": round(statistics.median(values), 1), "max": round(max(values), 1), "n": len(values)}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@wfhost.invalid", "-c", "init.defaultBranch=main",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=60)


def sandbox(root: Path, base_url: str, api_key: str) -> Path:
    """A quickstart sandbox on the lium transport: its experiment committed into `repo/` at the
    paths its run template names, its config pointed at the simulator."""
    s = root
    shutil.copytree(QUICKSTART, s)
    repo = s / "repo"
    shutil.copytree(QUICKSTART / "experiment", repo / "examples" / "quickstart" / "experiment")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "experiment")
    key = s / "id_lium"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "wfhost-lium-bench", "-f", str(key)],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    env = s / "infra_scripts" / "workflow.env"
    lines = []
    for line in env.read_text().splitlines():
        if line.startswith("WF_TRANSPORT="):
            line = "WF_TRANSPORT=lium"
        elif line.startswith("REPO_URL="):
            line = "REPO_URL=repo"
        lines.append(line)
    lines += [f"LIUM_BASE_URL={base_url}", f"LIUM_API_KEY={api_key}", "WF_SSH_IDENTITY=id_lium",
              "WF_POD_READY_TIMEOUT_SECS=30", ""]
    env.write_text("\n".join(lines))
    return s


def route(r: Dict[str, Any]) -> str:
    return f"{r['method']} {UUID.sub('{id}', r['path']).removeprefix('/api')}"


def one_flow(wfhost: str, sim: Sim, work: Path, cache: Path, timeout: float) -> Dict[str, Any]:
    s = sandbox(work, sim.base, sim.key)
    sim.admin("DELETE", "/requests")
    env = {k: v for k, v in os.environ.items() if k not in ("LIUM_YES", "LIUM_TARGET", "WORKFLOW_CONFIG", "WF_ALLOW_OVERRIDE")}
    env["WFHOST_CACHE_DIR"] = str(cache)
    t0 = time.monotonic()
    r = subprocess.run([wfhost, *FLOW], cwd=s, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    wall_ms = (time.monotonic() - t0) * 1000
    if r.returncode != 0:
        raise SystemExit(f"flow failed (exit {r.returncode}) in {s}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
    flows = sorted(glob.glob(str(s / "artifacts/pod_logs/_flows/*/phase/phase.P10.json")))
    if len(flows) != 1:
        raise SystemExit(f"expected one flow directory with phase.P10.json under {s}, found {flows}")
    p10_ms = json.loads(Path(flows[0]).read_text())["duration_ms"]
    requests = sim.admin("GET", "/requests")
    by_route: Dict[str, int] = {}
    for q in requests:
        by_route[route(q)] = by_route.get(route(q), 0) + 1
    live = [p for p in sim.pods() if p["listed"]]
    if live:
        raise SystemExit(f"the simulator still lists pods after a flow: {live}")
    # What made P10 slower than it should be (a pod replaced, a node refusing, a safety net
    # that failed), as the transport said it.
    notes = [line for line in r.stderr.splitlines() if any(w in line for w in NOTEWORTHY)]
    return {"wall_ms": round(wall_ms, 1), "p10_ms": p10_ms, "api_calls": len(requests), "by_route": dict(sorted(by_route.items())),
            "readiness_reads": by_route.get("GET /pods/{id}", 0), "pods_listings": by_route.get("GET /pods", 0),
            "rents": by_route.get("POST /executors/{id}/rent", 0), "notes": notes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wfhost", default=str(REPO / "target" / "debug" / "wfhost"))
    ap.add_argument("--flows", type=int, default=5)
    ap.add_argument("--delays", default="0,2", help="ready_after_s values, comma-separated")
    ap.add_argument("--flow-timeout", type=float, default=300)
    args = ap.parse_args()
    wfhost = os.path.abspath(args.wfhost)
    if not os.access(wfhost, os.X_OK):
        raise SystemExit(f"{wfhost} is not an executable wfhost; build it (cargo build) or pass --wfhost")
    out: Dict[str, Any] = {"wfhost": wfhost, "flows_per_delay": args.flows, "command": " ".join(["wfhost", *FLOW]), "delays": []}
    with tempfile.TemporaryDirectory(prefix="wfhost-flow-bench-") as tmp:
        root = Path(tmp)
        cache = root / "cache"
        for delay in [float(d) for d in args.delays.split(",")]:
            d = root / f"sim-{delay:g}"
            d.mkdir()
            sim = Sim(d, base_config(ready_after_s=delay, delete_delay_s=0.2, balance=100.0), d / "unused_key")
            try:
                one_flow(wfhost, sim, root / f"warmup-{delay:g}", cache, args.flow_timeout)
                flows = [one_flow(wfhost, sim, root / f"flow-{delay:g}-{i}", cache, args.flow_timeout) for i in range(args.flows)]
            finally:
                code = sim.stop()
            if code != 0:
                raise SystemExit(f"the simulator exited {code}: {(d / 'sim.stderr').read_text()[-2000:]}")
            for f in flows:
                f["p10_overhead_ms"] = round(f["p10_ms"] - delay * 1000, 1)
            routes = sorted({r for f in flows for r in f["by_route"]})
            out["delays"].append({
                "ready_after_s": delay,
                "wall_ms": stats([f["wall_ms"] for f in flows]),
                "p10_ms": stats([f["p10_ms"] for f in flows]),
                "p10_overhead_ms": stats([f["p10_overhead_ms"] for f in flows]),
                "api_calls": stats([f["api_calls"] for f in flows]),
                "readiness_reads": stats([f["readiness_reads"] for f in flows]),
                "pods_listings": stats([f["pods_listings"] for f in flows]),
                "rents": stats([f["rents"] for f in flows]),
                "by_route": {r: stats([f["by_route"].get(r, 0) for f in flows]) for r in routes},
                "flows": flows,
            })
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
