#!/usr/bin/env bash
# Measures the ssh transport against a real sshd on 127.0.0.1 (the same setup as
# tests/e2e/ssh.rs): per-phase flow overhead with and without connection sharing, the cost of
# one ssh round trip, and a sweep of N runs of `true` (time to launch it, time of one monitor
# snapshot). Prints medians; reads each flow's flow.summary.json.
#
#   cargo build --release && tests/e2e/ssh_bench.sh [path/to/wfhost]
#
# Environment: WFHOST_BENCH_RUNS (flows per configuration, default 5), WFHOST_BENCH_SWEEP
# (runs in the large sweep, default 1000). Needs sshd, ssh, ssh-keygen, git and python3.
set -euo pipefail

WFHOST=$(realpath "${1:-target/release/wfhost}")
here=$(cd "$(dirname "$0")" && pwd)
RUNS=${WFHOST_BENCH_RUNS:-5}
SWEEP=${WFHOST_BENCH_SWEEP:-1000}
SSHD=/usr/sbin/sshd
for tool in "$SSHD" ssh ssh-keygen git python3; do
  command -v "$tool" >/dev/null || { echo "ssh_bench: $tool is missing" >&2; exit 1; }
done
[ -x "$WFHOST" ] || { echo "ssh_bench: $WFHOST is not built (cargo build --release)" >&2; exit 1; }

work=$(mktemp -d /tmp/wfb.XXXXXX)
sshd_pid=
runner_pid=
cleanup() {
  [ -z "$runner_pid" ] || kill "$runner_pid" 2>/dev/null || true
  [ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# ---- sshd on a free loopback port. `SetEnv SHLVL=1` keeps the login user's ~/.bashrc out of
# sessions (bash reads it for ssh commands only at shell level 1), so the figures are the
# transport's own; the round trip is also measured with the rc file, as a real host has it.
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/id_key"
cp "$work/id_key.pub" "$work/authorized_keys"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
[ "$(id -u)" != 0 ] || mkdir -p /run/sshd
start_sshd() {
  [ -z "$sshd_pid" ] || { kill "$sshd_pid"; wait "$sshd_pid" 2>/dev/null || true; }
  cat > "$work/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxSessions 64
MaxStartups 64:30:128
$1
EOF
  "$SSHD" -D -e -f "$work/sshd_config" 2>>"$work/sshd.log" &
  sshd_pid=$!
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "ssh_bench: sshd did not start: $(cat "$work/sshd.log")" >&2
  exit 1
}
user=$(id -un)
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$work/host_key.pub")" > "$work/known_hosts"

# ---- one ssh round trip, with and without a master connection
ssh_base=(-o BatchMode=yes -o UserKnownHostsFile="$work/known_hosts" -o IdentitiesOnly=yes
          -i "$work/id_key" -p "$port" -T -n)
median_ms() { python3 -c 'import sys; v=sorted(float(x) for x in sys.stdin.read().split()); print("%.1f" % v[len(v)//2])'; }
time_ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )) | awk '{printf "%.1f\n", $1/1000}'; }
mkdir -m 700 "$work/ctl"
mux=(-o ControlMaster=auto -o ControlPath="$work/ctl/%C" -o ControlPersist=30)
round_trips() {
  local plain shared
  plain=$(for _ in $(seq 20); do time_ms ssh "${ssh_base[@]}" -o ControlMaster=no "$user@127.0.0.1" true; done | median_ms)
  ssh "${ssh_base[@]}" "${mux[@]}" "$user@127.0.0.1" true
  shared=$(for _ in $(seq 20); do time_ms ssh "${ssh_base[@]}" "${mux[@]}" "$user@127.0.0.1" true; done | median_ms)
  ssh "${ssh_base[@]}" "${mux[@]}" -O exit "$user@127.0.0.1" 2>/dev/null || true
  echo "ssh round trip ($1; ssh ... true, 20 calls, median): ${plain} ms new connection, ${shared} ms over a ControlMaster"
}
start_sshd ""
round_trips "the login user's ~/.bashrc as it is"
start_sshd "SetEnv SHLVL=1"
round_trips "without ~/.bashrc"

# ---- a sandbox like the e2e harness: a git repo with the experiment, a config, a manifest
sandbox() {
  local dir=$1 manifest=$2 template=$3 options=$4
  mkdir -p "$dir/repo" "$dir/infra_scripts"
  cat > "$dir/repo/train.sh" <<'EOF'
#!/bin/sh
echo "run $WF_RUN_ID" > "$WF_RUN_DIR/train.log"
printf '{"ok": true}\n' > "$WF_RUN_DIR/summary.json"
EOF
  git -C "$dir/repo" init -q -b main
  git -C "$dir/repo" add .
  git -C "$dir/repo" -c user.name=bench -c user.email=bench@wfhost.invalid commit -qm experiment
  cp "$work/known_hosts" "$dir/known_hosts"
  printf '%s' "$manifest" > "$dir/sweep.csv"
  cat > "$dir/infra_scripts/workflow.env" <<EOF
WF_CONSTITUTION_VERSION=1
WF_TRANSPORT=ssh
LIUM_TARGET=ssh://$user@127.0.0.1:$port
WF_SSH_IDENTITY=$work/id_key
WF_SSH_KNOWN_HOSTS=known_hosts
WF_SSH_OPTIONS=$options
OPS_REMOTE_OUTPUTS_DIR=$dir/remote/outputs
REMOTE_ENV_PATH=$dir/remote/project.env
REMOTE_REPO_DIR=$dir/remote/repo
REPO_URL=repo
REPO_REF=main
SWEEP_MANIFEST=sweep.csv
SWEEP_RUN_TEMPLATE=$template
SWEEP_MAX_PARALLEL=4
WF_MONITOR_POLL_SECS=1
EOF
}

# Print "wall_ms field=value..." for a flow, from its summary.
flow_ms() {
  local dir=$1; shift
  local t0 t1 out
  t0=$(date +%s%N)
  out=$(cd "$dir" && WFHOST_CACHE_DIR="$work/cache" "$WFHOST" "$@" </dev/null 2>/dev/null) || { echo "flow failed in $dir:" >&2; echo "$out" >&2; exit 1; }
  t1=$(date +%s%N)
  local verdict
  verdict=$(printf '%s\n' "$out" | sed -n 's/.* VERDICT=//p' | tail -1)
  python3 "$here/flow_timing.py" "$(dirname "$(dirname "$verdict")")" $(( (t1 - t0) / 1000000 ))
}

report() {
  python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
med = lambda k: sorted(r.get(k, 0.0) for r in rows)[len(rows)//2]
for k in rows[0]:
    if k.startswith("calls ") or k == "flow_dir":
        continue
    if k.startswith("P"):
        print("  %-22s %8.0f ms  (%d gateway calls)" % (k, med(k), med("calls " + k)))
    elif k == "gateway calls":
        print("  %-22s %8.0f" % (k, med(k)))
    else:
        print("  %-22s %8.0f ms" % (k, med(k)))
'
}


for mode in shared plain; do
  options=""
  [ "$mode" = plain ] && options="-o ControlMaster=no"
  rows=$work/rows-$mode
  : > "$rows"
  for i in $(seq 0 "$RUNS"); do
    d=$work/flow-$mode-$i
    sandbox "$d" $'run_id,seed\nr1,1\nr2,2\nr3,3\n' 'sh train.sh {seed}' "$options"
    line=$(flow_ms "$d" flow --provision skip --wait true --fetch all)
    [ "$i" = 0 ] || echo "$line" >> "$rows"   # the first flow compiles the plugins into the cache
  done
  echo "flow over ssh, 3 runs, --wait true --fetch all, connection sharing $([ "$mode" = shared ] && echo on || echo off), $RUNS flows (medians):"
  report < "$rows"
done

# ---- a sweep of $SWEEP runs of `true`
d=$work/sweep
manifest=$(printf 'run_id,n\n'; for i in $(seq 1 "$SWEEP"); do printf 'r%04d,%d\n' "$i" "$i"; done)
sandbox "$d" "$manifest" 'true {n}' ""
launched_at=$(date +%s%N)
line=$(flow_ms "$d" flow --provision skip --wait false)
runner_pid=$(cat "$d/remote/outputs/_sweep/runner.pid" 2>/dev/null || true)
echo "sweep of $SWEEP runs of true, --wait false (one flow):"
echo "$line" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("  launch (P60: scripts, manifest, %s cmd files, runner start)  %8.0f ms" % (sys.argv[1], r["P60"]))
print("  one monitor snapshot (P70, one status.sh exec)               %8.0f ms" % r["P70"])
print("  whole flow wall                                              %8.0f ms" % r["wall_ms"])
calls = json.load(open(r["flow_dir"] + "/phase/phase.P60.json")).get("gateway_calls") or []
print("  P60 gateway calls, slowest first:")
for c in sorted(calls, key=lambda c: -c.get("duration_ms", 0))[:4]:
    print("    %-12s %6d ms  %s" % (c.get("op"), c.get("duration_ms", 0), (c.get("detail") or "")[:70]))
' "$SWEEP"
snap=$work/snap
: > "$snap"
for _ in 1 2 3; do flow_ms "$d" sweep-status >> "$snap"; done
echo "sweep-status on the same target while the runner works (3 calls, medians):"
report < "$snap"

# ---- the same sweep to its end: when the runner has run every run (SWEEP_MAX_PARALLEL=4), and
# one monitor snapshot over the finished sweep.
out_dir=$d/remote/outputs
while [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null; do sleep 0.1; done
done_at=$(date +%s%N)
ok=$(sh "$out_dir/_sweep/status.sh" "$out_dir" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
[ "$ok" = "$SWEEP" ] || { echo "ssh_bench: only $ok of $SWEEP runs ended ok" >&2; exit 1; }
echo "the runner ran all $SWEEP runs (4 at a time) in $(( (done_at - launched_at) / 1000000 )) ms from the flow's start"
: > "$snap"
for _ in 1 2 3; do flow_ms "$d" sweep-status >> "$snap"; done
echo "sweep-status over the $SWEEP finished runs (3 calls, medians):"
report < "$snap"
