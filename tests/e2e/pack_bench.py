#!/usr/bin/env python3
"""Time `wfhost pack add` and the start of a flow with a pack already in the cache.

Usage: pack_bench.py WFHOST PACK_DIR... (each a built pack directory, e.g. from
`wfhost pack new x --role auditor` and its build.sh; every pack must be an auditor).

For each pack: `pack add --yes` three times with an empty component cache (it compiles) and
three times with the cache filled (a fresh store each time). Then, for the built-in auditor
alone and for `constitution,<pack>`, five flows of the quickstart (after one warm-up that fills
the cache), each timed from its `flow.started` record to its `plugins.loaded` record: P00's
config, header and every plugin's load. Everything runs in a temporary directory.
"""

import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    wfhost, packs = sys.argv[1], sys.argv[2:]
    root = tempfile.mkdtemp(prefix="wfhost-pack-bench-")
    env = dict(os.environ, WF_PACK_STORE=root + "/store", WFHOST_CACHE_DIR=root + "/cache")

    def timed(cmd):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        return (time.perf_counter() - t0) * 1000

    def manifest_id(pack):
        with open(os.path.join(pack, "pack.json")) as f:
            return json.load(f)["id"]

    for pack in packs:
        cold, warm = [], []
        for _ in range(3):
            shutil.rmtree(root + "/cache", ignore_errors=True)
            shutil.rmtree(root + "/store", ignore_errors=True)
            cold.append(timed([wfhost, "pack", "add", pack, "--yes"]))
            shutil.rmtree(root + "/store", ignore_errors=True)
            warm.append(timed([wfhost, "pack", "add", pack, "--yes"]))
        print(f"pack add {manifest_id(pack)}: compiling {statistics.median(cold):.0f} ms {[round(x) for x in cold]}, "
              f"cache filled {statistics.median(warm):.0f} ms {[round(x) for x in warm]}")
    for pack in packs:
        timed([wfhost, "pack", "add", pack, "--yes"])

    def parse(ts):
        return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")

    def start_ms(auditors, label):
        d = os.path.join(root, label)
        shutil.copytree(os.path.join(REPO, "examples/quickstart"), d)
        with open(d + "/infra_scripts/workflow.env", "a") as f:
            f.write(f"WF_AUDITORS={auditors}\nLIUM_TARGET=no-such-pod\n")
        subprocess.run([wfhost, "-C", d, "flow", "--provision", "skip"], env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
        log = glob.glob(d + "/artifacts/pod_logs/_flows/*/events.jsonl")[0]
        with open(log) as f:
            at = {e["event_type"]: e["occurred_at"] for e in map(json.loads, f)}
        return (parse(at["plugins.loaded"]) - parse(at["flow.started"])).total_seconds() * 1000

    for auditors in ["constitution"] + [f"constitution,{manifest_id(p)}" for p in packs]:
        start_ms(auditors, f"warm-{auditors}")
        runs = [start_ms(auditors, f"{auditors}-{i}") for i in range(5)]
        print(f"flow.started -> plugins.loaded, WF_AUDITORS={auditors}: {statistics.median(runs):.0f} ms {[round(x) for x in runs]}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
