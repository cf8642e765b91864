#!/usr/bin/env bash
# start-slurm.sh STATE_DIR
#
# Start a real single-node Slurm cluster (munged + slurmctld + slurmd) as plain
# daemons, no systemd, with every file (config, key, sockets, state, spool,
# logs, pid files) under STATE_DIR. Idempotent: if the cluster in STATE_DIR is
# already up it only re-prints the environment.
#
# wfhost's end-to-end tests (tests/e2e/slurm.rs) start one cluster per test with it, each in
# a directory of its own (/tmp/wfslurm.*) on ports of its own, and stop it with stop-slurm.sh
# when the test ends, passed or failed.
#
# stdout: KEY=VALUE lines (also written to STATE_DIR/env). Use either
#     set -a; eval "$(start-slurm.sh /tmp/slurm-ci)"; set +a
# or  start-slurm.sh /tmp/slurm-ci >> "$GITHUB_ENV"
# stderr: progress and, on failure, the tail of each daemon's log.
#
# Needs: root; Debian/Ubuntu packages slurmctld slurmd slurm-client munge
#   (apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge)
#
# Knobs (environment, all optional):
#   SLURM_CI_CPUS          CPUs the node advertises (default: nproc). A value
#                          above the hardware adds SlurmdParameters=config_overrides
#                          so more array tasks run at once (all tasks still share
#                          the real cores).
#   SLURM_CI_CTLD_PORT     slurmctld port (default 6817)
#   SLURM_CI_SLURMD_PORT   slurmd port    (default 6818)
#   SLURM_CI_MIN_JOB_AGE   seconds finished jobs stay visible in squeue/scontrol (default 3600)
#   SLURM_CI_CGROUP=1      use proctrack/cgroup + task/cgroup instead of
#                          proctrack/linuxproc + task/none (needs writable cgroups)
#   SLURM_CI_TIMEOUT       seconds to wait for the node to become idle (default 60)
#   SLURM_CI_EXTRA_CONF    extra slurm.conf lines, appended before NodeName= (a later
#                          key=value overrides an earlier one)
set -euo pipefail

die() { echo "start-slurm: error: $*" >&2; exit 1; }
log() { echo "start-slurm: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd and SlurmUser=root)"
for b in munged munge slurmctld slurmd sinfo scontrol sbatch; do
  command -v "$b" >/dev/null 2>&1 || die "missing '$b'; install with: DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge"
done

mkdir -p "$1"
D=$(cd "$1" && pwd -P)
case "$D" in *[[:space:]]*|*\'*|*\"*|*'$'*) die "STATE_DIR must not contain spaces or quotes: $D";; esac
# Only an empty dir or one this script made (it chmods and later purges it).
if [ ! -f "$D/.slurm-ci" ] && [ -n "$(ls -A "$D")" ]; then
  die "$D is not empty and was not made by start-slurm.sh; give a new or empty directory"
fi
touch "$D/.slurm-ci"
# one start/stop at a time per STATE_DIR (daemons get 9>&- so they do not keep it)
exec 9>"$D/.lock"
flock -w "${SLURM_CI_TIMEOUT:-60}" 9 || die "another start/stop holds $D/.lock"
# Unix socket paths are limited to 108 bytes; slurmd puts step sockets at
# $D/spool/<node>/<node>_<jobid>.<stepid> and munged its socket at $D/munge/munge.socket.
NODE=$(hostname -s)
[ $(( ${#D} + 2 * ${#NODE} + 30 )) -lt 108 ] || die "STATE_DIR path too long for unix sockets (${#D} chars): $D"

CONF="$D/etc/slurm.conf"
MUNGE_SOCKET="$D/munge/munge.socket"
CTLD_PORT=${SLURM_CI_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_CI_SLURMD_PORT:-6818}
TIMEOUT=${SLURM_CI_TIMEOUT:-60}
PARTITION=ci
export SLURM_CONF="$CONF"
# Marker in the daemons' environment (for humans and `ps e`); stop-slurm.sh
# itself goes by pid files and, for slurmstepd, by open files under $D.
export CI_SLURM_CLUSTER_DIR="$D"

now() { date +%s.%N; }
T_START=$(now)

# alive PIDFILE COMM: true if the pid in PIDFILE is a live (non-zombie) process named COMM
alive() {
  local pf=$1 comm=$2 pid st
  [ -s "$pf" ] || return 1
  pid=$(tr -dc '0-9' < "$pf"); [ -n "$pid" ] || return 1
  [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$st" != Z ] && [ "$st" != X ]
}

port_busy() { # PORT -> true if something listens on it
  local hex; hex=$(printf ':%04X' "$1")
  awk -v p="$hex" 'NR>1 && $4=="0A" && substr($2, length($2)-4)==p {f=1} END{exit !f}' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

print_env() {
  {
    echo "SLURM_CONF=$CONF"
    echo "SLURM_CI_DIR=$D"
    echo "SLURM_CI_NODE=$NODE"
    echo "SLURM_CI_PARTITION=$PARTITION"
    echo "SLURM_CI_JOBCOMP=$D/log/jobcomp.txt"
    echo "SLURM_CI_MUNGE_SOCKET=$MUNGE_SOCKET"
  } > "$D/env.tmp"
  mv -f "$D/env.tmp" "$D/env"
  cat "$D/env"
}

dump_logs() {
  for f in "$D"/log/munged.log "$D"/log/slurmctld.log "$D"/log/slurmd.log; do
    [ -f "$f" ] && { echo "----- tail $f" >&2; tail -n 25 "$f" >&2; }
  done
  return 0
}

node_state() { sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1; }

if alive "$D/run/munged.pid" munged && alive "$D/run/slurmctld.pid" slurmctld \
   && alive "$D/run/slurmd.pid" slurmd; then
  case "$(node_state)" in
    idle|mixed|allocated|completing)
      log "already running in $D (node $(node_state))"
      print_env
      exit 0;;
  esac
fi

mkdir -p "$D"/{etc,state,spool/"$NODE",log,run,munge}
# munged refuses a socket dir that others cannot traverse, or that group/others can write.
chmod 755 "$D" "$D/munge" "$D/log" "$D/run"

# Ports first, so a failed start leaves nothing running. (Two clusters on one
# port show up later as "Zero Bytes were transmitted or received".)
if ! alive "$D/run/slurmctld.pid" slurmctld; then
  port_busy "$CTLD_PORT" && die "TCP port $CTLD_PORT is already in use (another Slurm?); set SLURM_CI_CTLD_PORT"
fi
if ! alive "$D/run/slurmd.pid" slurmd; then
  port_busy "$SLURMD_PORT" && die "TCP port $SLURMD_PORT is already in use (another slurmd?); set SLURM_CI_SLURMD_PORT"
fi

# ---------------------------------------------------------------- munge
if ! alive "$D/run/munged.pid" munged; then
  if [ ! -s "$D/munge/munge.key" ]; then
    (umask 077; dd if=/dev/urandom of="$D/munge/munge.key.tmp" bs=1024 count=1 status=none)
    mv -f "$D/munge/munge.key.tmp" "$D/munge/munge.key"
  fi
  chmod 400 "$D/munge/munge.key"
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock" "$D/run/munged.pid"
  munged --socket="$MUNGE_SOCKET" --key-file="$D/munge/munge.key" \
         --pid-file="$D/run/munged.pid" --log-file="$D/log/munged.log" \
         --seed-file="$D/munge/munged.seed" </dev/null 9>&- \
    || { dump_logs; die "munged failed to start"; }
fi
for _ in $(seq 1 100); do
  munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1 && break
  sleep 0.1
done
munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET" >/dev/null || { dump_logs; die "munge round trip failed"; }

# ---------------------------------------------------------------- slurm.conf
if ! alive "$D/run/slurmctld.pid" slurmctld; then
  HW_CPUS=$(nproc)
  CPUS=${SLURM_CI_CPUS:-$HW_CPUS}
  # RealMemory a bit under what is available, or slurmd drains the node ("Low RealMemory").
  AVAIL_MB=$(awk '/^MemAvailable:/ {print int($2/1024)}' /proc/meminfo)
  MEM=$(( AVAIL_MB * 9 / 10 )); [ "$MEM" -ge 1 ] || MEM=1
  if [ "$CPUS" -eq "$HW_CPUS" ]; then
    # Use the exact topology slurmd detects, so it does not log "reconfigured socket/core boundaries".
    TOPO=$(slurmd -C 2>/dev/null | head -n1 | grep -o 'CPUs=[0-9]* Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' || true)
    [ -n "$TOPO" ] || TOPO="CPUs=$CPUS"
    OVERRIDES=""
  else
    TOPO="CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1"
    OVERRIDES="SlurmdParameters=config_overrides"
  fi
  if [ "${SLURM_CI_CGROUP:-0}" = 1 ]; then
    PROCTRACK=proctrack/cgroup; TASK=task/cgroup
    printf 'CgroupPlugin=autodetect\nConstrainCores=no\nConstrainRAMSpace=no\n' > "$D/etc/cgroup.conf"
  else
    PROCTRACK=proctrack/linuxproc; TASK=task/none
    rm -f "$D/etc/cgroup.conf"
  fi
  cat > "$CONF.tmp" <<EOF
# generated by start-slurm.sh
ClusterName=ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=$PROCTRACK
TaskPlugin=$TASK
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=${SLURM_CI_MIN_JOB_AGE:-3600}
MaxJobCount=100000
MaxArraySize=1001
KillWait=5
InactiveLimit=0
Waittime=0
$OVERRIDES
${SLURM_CI_EXTRA_CONF:-}
NodeName=$NODE NodeAddr=127.0.0.1 $TOPO RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  mv -f "$CONF.tmp" "$CONF"

  rm -f "$D/run/slurmctld.pid"
  # Daemon mode (no -D): forks, setsid, writes SlurmctldPidFile. -i: ignore
  # unreadable state files. Existing state in $D/state is recovered.
  slurmctld -i </dev/null 9>&- || { dump_logs; die "slurmctld failed to start"; }
fi

for _ in $(seq 1 $(( TIMEOUT * 10 ))); do
  scontrol ping >/dev/null 2>&1 && break
  sleep 0.1
done
scontrol ping >/dev/null 2>&1 || { dump_logs; die "slurmctld did not answer within ${TIMEOUT}s"; }

# ---------------------------------------------------------------- slurmd
if ! alive "$D/run/slurmd.pid" slurmd; then
  rm -f "$D/run/slurmd.pid"
  slurmd -N "$NODE" </dev/null 9>&- || { dump_logs; die "slurmd failed to start"; }
fi

# ---------------------------------------------------------------- wait for idle
state=""
for _ in $(seq 1 $(( TIMEOUT * 10 ))); do
  state=$(node_state)
  case "$state" in
    idle|mixed|allocated|completing) break;;
    drain*|down*|fail*|inval*)
      # e.g. state recovered from an earlier run: try to resume once it has registered
      scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true;;
  esac
  sleep 0.1
done
case "$state" in
  idle|mixed|allocated|completing) ;;
  *) sinfo -R >&2 || true; dump_logs; die "node $NODE not usable within ${TIMEOUT}s (state: '${state}')";;
esac
log "up in $D: node $NODE $state, $(awk -v a="$T_START" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}')s"
print_env
