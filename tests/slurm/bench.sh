#!/usr/bin/env bash
# Measures a sweep of N runs of `true` (default 1,000) submitted as one Slurm job array against
# the same sweep launched by the detached runner, both through the real wfhost binary on this
# machine: the Slurm one on a real single-node cluster this script starts (start-slurm.sh, 16
# advertised CPUs) and stops (stop-slurm.sh --purge, on every exit), with the submit host
# slurm://local; the runner one on a local-transport pod. For each: P60 (what launching the
# sweep costs), one monitor snapshot while the sweep runs and one over the finished sweep
# (`wfhost sweep-status`, and the target-side status script alone), and the time until every
# run has ended, SWEEP_MAX_PARALLEL=16 for both. Reads each flow's flow.summary.json.
#
#   cargo build --release && tests/slurm/bench.sh [path/to/wfhost]
#
# Environment: WFHOST_BENCH_SWEEP (runs, default 1000; at most 1000, one array). Needs root,
# Debian's slurm-wlm and munge, git and python3. docs/performance.md ("Slurm job arrays") holds
# its figures.
set -euo pipefail

WFHOST=$(realpath "${1:-target/release/wfhost}")
SWEEP=${WFHOST_BENCH_SWEEP:-1000}
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$WFHOST" ] || { echo "slurm bench: $WFHOST is not built (cargo build --release)" >&2; exit 1; }
case $SWEEP in '' | *[!0-9]*) echo "slurm bench: WFHOST_BENCH_SWEEP must be a whole number" >&2; exit 2 ;; esac
[ "$SWEEP" -ge 1 ] && [ "$SWEEP" -le 1000 ] || { echo "slurm bench: WFHOST_BENCH_SWEEP must be 1 to 1000 (one array)" >&2; exit 2; }
for tool in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged git python3; do
  command -v "$tool" >/dev/null || { echo "slurm bench: $tool is missing (apt-get install slurm-wlm munge)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/wfsb.XXXXXX)
chmod 755 "$work"   # munged checks every directory above its socket
cluster=$work/c
cleanup() {
  "$here/stop-slurm.sh" "$cluster" --purge >/dev/null 2>&1 || echo "slurm bench: stop-slurm.sh $cluster failed" >&2
  for pid in $(cat "$work"/runner.pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
env_lines=$(SLURM_CI_CPUS=16 SLURM_CI_CTLD_PORT=$(free_port) SLURM_CI_SLURMD_PORT=$(free_port) "$here/start-slurm.sh" "$cluster") ||
  { echo "slurm bench: the cluster did not start" >&2; exit 1; }
set -a
eval "$env_lines"
set +a

# A project: a git repo with the experiment, a manifest of $2 runs, a config for transport $3.
project() {
  local dir=$1 n=$2 transport=$3
  mkdir -p "$dir/repo" "$dir/infra_scripts"
  printf '#!/bin/sh\nprintf %s > "$WF_RUN_DIR/summary.json"\n' "'{\"ok\": true}\n'" > "$dir/repo/train.sh"
  git -C "$dir/repo" init -q -b main
  git -C "$dir/repo" add .
  git -C "$dir/repo" -c user.name=bench -c user.email=bench@wfhost.invalid commit -qm experiment
  { printf 'run_id,n\n'; for i in $(seq 1 "$n"); do printf 'r%04d,%d\n' "$i" "$i"; done; } > "$dir/sweep.csv"
  {
    echo "WF_CONSTITUTION_VERSION=1"
    echo "REPO_URL=repo"
    echo "REPO_REF=main"
    echo "SWEEP_MANIFEST=sweep.csv"
    echo "SWEEP_RUN_TEMPLATE=sh train.sh {n}"
    echo "SWEEP_MAX_PARALLEL=16"
    echo "WF_MONITOR_POLL_SECS=1"
    if [ "$transport" = slurm ]; then
      echo "WF_TRANSPORT=slurm"
      echo "LIUM_TARGET=slurm://local"
      echo "SLURM_CONF=$SLURM_CONF"
      echo "SLURM_PARTITION=$SLURM_CI_PARTITION"
      echo "OPS_REMOTE_OUTPUTS_DIR=$dir/remote/outputs"
      echo "REMOTE_ENV_PATH=$dir/remote/project.env"
      echo "REMOTE_REPO_DIR=$dir/remote/repo"
    else
      echo "WF_TRANSPORT=local"
    fi
  } > "$dir/infra_scripts/workflow.env"
}

# Run wfhost in project $1; print one JSON line (tests/e2e/flow_timing.py): wall_ms, phases, flow_dir.
flow_ms() {
  local dir=$1; shift
  local t0 t1 out
  t0=$(date +%s%N)
  out=$(cd "$dir" && LIUM_YES=1 WFHOST_CACHE_DIR="$work/cache" "$WFHOST" "$@" </dev/null 2>"$dir/last.err") || {
    echo "slurm bench: wfhost $* failed in $dir:" >&2; echo "$out" >&2; tail -5 "$dir/last.err" >&2; exit 1; }
  t1=$(date +%s%N)
  local verdict
  verdict=$(printf '%s\n' "$out" | sed -n 's/.* VERDICT=//p' | tail -1)
  python3 "$here/../e2e/flow_timing.py" "$(dirname "$(dirname "$verdict")")" $(( (t1 - t0) / 1000000 ))
}
field() { python3 -c 'import json,sys; print("%.0f" % json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }
ms_of() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
median() { python3 -c 'import sys; v=sorted(int(x) for x in sys.argv[1:]); print(v[len(v)//2])' "$@"; }
# The outputs directory of project $1 (the local pod keeps it under its root).
outputs() {
  if [ -d "$1/remote/outputs/_sweep" ]; then echo "$1/remote/outputs"; else dirname "$(dirname "$(find "$1/.wfhost/pods" -path '*/_sweep/status.sh' | head -1)")"; fi
}
# Whether the sweep in OUT $1 still has a live run (runner alive / a task queued or running).
live() { sh "$1/_sweep/status.sh" "$1" | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["runner_alive"]).lower())'; }
ok_runs() { sh "$1/_sweep/status.sh" "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])'; }
# Three snapshots: `wfhost sweep-status` (median ms) and the status script alone (median ms).
snapshots() {
  local dir=$1 out=$2 a=() b=()
  local target=()
  [ ! -d "$dir/.wfhost/pods" ] || target=(--target "$(ls "$dir/.wfhost/pods")")
  for _ in 1 2 3; do a+=("$(flow_ms "$dir" sweep-status "${target[@]}" | field wall_ms)"); b+=("$(ms_of sh "$out/_sweep/status.sh" "$out")"); done
  echo "$(median "${a[@]}") $(median "${b[@]}")"
}

# One small flow per transport first: it compiles the components into the cache.
for t in slurm local; do
  project "$work/warm-$t" 2 "$t"
  flow_ms "$work/warm-$t" flow --wait true >/dev/null
done

for t in slurm local; do
  d=$work/sweep-$t
  project "$d" "$SWEEP" "$t"
  t0=$(date +%s%N)
  line=$(flow_ms "$d" flow --wait false)
  out=$(outputs "$d")
  cat "$out/_sweep/runner.pid" >> "$work/runner.pid" 2>/dev/null || true
  read -r during_cli during_sh < <(snapshots "$d" "$out")
  while [ "$(live "$out")" = true ]; do
    [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 900 ] || { echo "slurm bench: the $t sweep did not end within 900 s" >&2; exit 1; }
    sleep 0.2
  done
  t1=$(date +%s%N)
  ok=$(ok_runs "$out")
  [ "$ok" = "$SWEEP" ] || { echo "slurm bench: $ok of $SWEEP $t runs ended ok" >&2; exit 1; }
  read -r after_cli after_sh < <(snapshots "$d" "$out")
  if [ "$t" = slurm ]; then
    names=$(cut -f1 "$out/_sweep/slurm/subs.tsv" | sed 's/^/wfhost-/' | paste -sd, -)
    tasks=$(squeue -h -r -t all -n "$names" -o '%K' | wc -l)
    arrays=$(squeue -h -r -t all -n "$names" -o '%F' | sort -u | wc -l)
    [ "$arrays" = 1 ] && [ "$tasks" = "$SWEEP" ] || { echo "slurm bench: $arrays arrays, $tasks tasks for $SWEEP runs" >&2; exit 1; }
    label="one job array of $tasks tasks"
  else
    label="the detached runner on a local pod"
  fi
  echo "$SWEEP runs of true, $label, SWEEP_MAX_PARALLEL=16:"
  echo "  P60 launch                                   $(echo "$line" | field P60) ms; its slowest commands:"
  echo "$line" | python3 -c '
import json, sys
flow = json.loads(sys.stdin.read())["flow_dir"]
calls = json.load(open(flow + "/phase/phase.P60.json")).get("gateway_calls") or []
for c in sorted(calls, key=lambda c: -c.get("duration_ms", 0))[:3]:
    print("    %6d ms  %s" % (c.get("duration_ms", 0), (c.get("detail") or "")[:90]))
'
  echo "  monitor snapshot while running: sweep-status $during_cli ms, status script alone $during_sh ms"
  echo "  every run ended, from the flow's start       $(( (t1 - t0) / 1000000 )) ms"
  echo "  monitor snapshot when done:     sweep-status $after_cli ms, status script alone $after_sh ms"
done
