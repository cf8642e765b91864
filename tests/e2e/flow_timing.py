"""One JSON line for a finished wfhost command, for the bench scripts (tests/e2e/ssh_bench.sh,
tests/slurm/bench.sh): wall_ms, the summary's timing block, each phase's duration_ms and gateway
call count ("calls Pxx"), the total "gateway calls" and flow_dir.

    python3 flow_timing.py FLOW_DIR WALL_MS
"""
import json
import os
import sys

flow = sys.argv[1]
s = json.load(open(os.path.join(flow, "flow.summary.json")))
out = {"wall_ms": float(sys.argv[2])}
for k, v in (s.get("timing") or {}).items():
    if isinstance(v, (int, float)):
        out[k] = float(v)
calls = 0
for p in s.get("phases", []):
    out[p["phase"]] = float(p.get("duration_ms") or 0)
    try:
        n = len(json.load(open(os.path.join(flow, "phase", "phase.%s.json" % p["phase"]))).get("gateway_calls") or [])
    except OSError:
        n = 0
    out["calls " + p["phase"]] = float(n)
    calls += n
out["gateway calls"] = float(calls)
out["flow_dir"] = flow
print(json.dumps(out))
