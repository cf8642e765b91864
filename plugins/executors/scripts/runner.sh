# wfhost sweep runner (POSIX sh, dash compatible). Installed by wfhost P60 as
# OUT/_sweep/runner.sh, where OUT is OPS_REMOTE_OUTPUTS_DIR as resolved on the target.
#
#   sh runner.sh launch OUT REPO MAX_PARALLEL TOKEN [keep|retry-lost]
#       Start a detached runner unless one is alive (OUT/_sweep/runner.pid), wait until it has
#       checked in (it writes "TOKEN started|deferred PID REQUEUED" to OUT/_sweep/runner.started),
#       print "runner=started pid=N" or "runner=already-running pid=N" and return at once. With
#       retry-lost the line ends " requeued=IDS": the lost runs the new runner handed back to the
#       queue (comma-separated, "-" for none, "noflock" when flock(1) is missing on the target).
#   sh runner.sh run OUT REPO MAX_PARALLEL [TOKEN [keep|retry-lost]]
#       The runner loop. Only one runs per OUT: it holds OUT/_sweep/runner.lock with flock(1)
#       where the target has it (else the pid file alone decides). With retry-lost it first
#       requeues every lost run (claimed, no exit_code, no live process): the attempt's files
#       move to runs/<id>/_wf/attempts/<n>/ and the claim is removed. Then it reads
#       OUT/_sweep/runs.tsv (run_id<TAB>cmd path) through a cursor: each pass goes on from
#       where the last one stopped, claims unclaimed runs (mkdir OUT/runs/<id>/_wf/claim,
#       atomic: a run is never claimed twice) while fewer than MAX_PARALLEL are active, and
#       starts again from the top only when runs.tsv was replaced (a resume wrote a new one).
#       A claimed run never becomes unclaimed while the loop works (requeueing happens before
#       the cursor opens), so nothing behind the cursor waits. Before it exits it reads runs.tsv
#       once more from the top; it exits when every run is claimed and finished, or, once a run
#       reported a full disk (exit 75 of `one`), when its active runs have ended: it starts no
#       run on a full disk. Its stdout and stderr go to OUT/_sweep/runner.log.
#   sh runner.sh one OUT REPO RUN_ID
#       Run one claimed run (started by the loop in a process group of its own where setsid
#       exists): `sh _wf/cmd.sh` with cwd REPO, WF_RUN_ID and WF_RUN_DIR set, stdin /dev/null;
#       records boot_id, pgid, pid, started_at, ended_at and exit_code (each atomically,
#       exit_code last). Killing this process (its pid is in _wf/pid) and every process of its
#       group leaves the run without exit_code: status.sh then reports it lost. A record that
#       cannot be written because the disk is full leaves the empty file _wf/disk_full.<file>
#       (status.sh reports the run lost with that reason) and makes it exit 75; when that
#       happens before the command starts, the command is not run.
#
# Embedded after common.sh (shebang, `set -u`, valid_id, alive, BOOT, run_alive).

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
say() { printf '%s runner[%s]: %s\n' "$(now)" "$$" "$*"; }
# put FILE VALUE: write VALUE atomically (temp file + rename); a write that fails leaves no
# temp file behind.
put() {
  printf '%s\n' "$2" > "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1" && return 0
  rm -f "$1.tmp.$$"
  return 1
}
# nap SECONDS: wait that long (fractional where sleep supports it, else one second), or less:
# the loop traps SIGCHLD, and a shell that wakes `wait` for a trapped signal (dash does) goes
# on as soon as a run ends, so short runs do not each cost a whole pass. The sleep gets no
# copy of the runner lock's descriptor.
nap() {
  { sleep "$1" 2>/dev/null || sleep 1; } 9>&- 3<&- &
  np=$!
  wait "$np" 2>/dev/null
  kill "$np" 2>/dev/null
  wait "$np" 2>/dev/null
  return 0
}
# has_unclaimed TSV OUT: some listed run has no claim yet (a walk from the top).
has_unclaimed() {
  [ -f "$1" ] || return 1
  while IFS='	' read -r hid hcmd || [ -n "$hid" ]; do
    valid_id "$hid" || continue
    [ -d "$2/runs/$hid/_wf/claim" ] || return 0
  done < "$1"
  return 1
}

launch() {
  out=$1 repo=$2 maxp=$3 token=$4 retry=${5:-keep}
  sweep=$out/_sweep
  get "$sweep/runner.pid"; pid=$got
  rq=
  [ "$retry" = retry-lost ] && rq=" requeued=-"
  if alive "$pid"; then
    echo "runner=already-running pid=$pid$rq"
    return 0
  fi
  rm -f "$sweep/runner.started"
  if command -v setsid >/dev/null 2>&1; then
    setsid nohup sh "$sweep/runner.sh" run "$out" "$repo" "$maxp" "$token" "$retry" </dev/null >>"$sweep/runner.log" 2>&1 &
  else
    nohup sh "$sweep/runner.sh" run "$out" "$repo" "$maxp" "$token" "$retry" </dev/null >>"$sweep/runner.log" 2>&1 &
  fi
  i=0
  while [ "$i" -lt 150 ]; do
    if [ -f "$sweep/runner.started" ]; then
      set -- $(cat "$sweep/runner.started" 2>/dev/null)
      if [ "${1:-}" = "$token" ]; then
        [ "$retry" = retry-lost ] && rq=" requeued=${4:--}"
        case ${2:-} in
          started) echo "runner=started pid=${3:-}$rq"; return 0 ;;
          deferred) echo "runner=already-running pid=${3:-}$rq"; return 0 ;;
        esac
      fi
    fi
    if sleep 0.1 2>/dev/null; then i=$((i + 1)); else sleep 1; i=$((i + 10)); fi
  done
  echo "the runner did not check in within 15 s; read $sweep/runner.log" >&2
  return 1
}

# defer PID: another runner works this sweep; check in as deferred and leave.
defer() {
  say "runner $1 is alive; not starting a second one"
  [ -n "$token" ] && put "$sweep/runner.started" "$token deferred $1 -"
  exit 0
}

# unfinished FN: call `FN ID WF` for every listed run that is claimed and has no exit_code
# (WF: its _wf directory).
unfinished() {
  [ -f "$tsv" ] || return 0
  while IFS='	' read -r id cmdpath || [ -n "$id" ]; do
    valid_id "$id" || continue
    wf=$out/runs/$id/_wf
    [ -d "$wf/claim" ] || continue
    [ -f "$wf/exit_code" ] && continue
    "$1" "$id" "$wf"
  done < "$tsv"
}

# requeue ID WF: hand a lost run (nothing of it alive) back to the queue. The attempt's files
# move to _wf/attempts/<n>/ (nothing is deleted), then the claim goes, so the loop claims and
# runs it again. Called only under the runner lock: no other runner can claim or requeue
# meanwhile. Adds the id to rq.
requeue() {
  run_alive "$2" && return 0
  k=1
  while [ -e "$2/attempts/$k" ]; do k=$((k + 1)); done
  mkdir -p "$2/attempts/$k" || return 0
  for f in stdout.log stderr.log started_at ended_at boot_id pgid pid "$2"/disk_full.*; do
    f=${f##*/}
    if [ -e "$2/$f" ]; then mv -f "$2/$f" "$2/attempts/$k/$f"; fi
  done
  put "$2/attempts/$k/requeued_at" "$(now)"
  rmdir "$2/claim" 2>/dev/null || return 0
  say "requeued lost run $1 (its attempt $k is kept in runs/$1/_wf/attempts/$k)"
  rq="$rq${rq:+,}$1"
}

# adopt ID WF: a run an earlier runner started that still lives takes a slot.
adopt() {
  get "$2/pid"
  ap=$got
  alive "$ap" && adopted="$adopted $ap"
  return 0
}

# rewind: (re)open the cursor, fd 3, at the top of runs.tsv. fdcheck tells whether
# /dev/fd/3 names the file the cursor reads (Linux), so that a replaced runs.tsv is noticed
# at once; without it the runs file is read again from the top whenever the cursor is at its
# end (what every pass did before the cursor).
rewind() {
  held=
  cursor=none
  [ -f "$tsv" ] || return 0
  command exec 3< "$tsv" || return 0
  cursor=open
  if [ "$tsv" -ef /dev/fd/3 ]; then fdcheck=yes; else fdcheck=no; fi
}

# replaced: runs.tsv is not (or no longer) the file the cursor reads.
replaced() {
  [ -f "$tsv" ] || return 1
  [ "$cursor" = none ] && return 0
  if [ "$fdcheck" = yes ]; then
    [ "$tsv" -ef /dev/fd/3 ] && return 1
    return 0
  fi
  [ "$cursor" = end ]
}

# next_run: the next run after the cursor in $id: the one held back by the last pass, else
# the next valid, unclaimed run of runs.tsv. Returns 1 at the end of the file.
next_run() {
  if [ -n "$held" ]; then
    id=$held
    held=
    return 0
  fi
  [ "$cursor" = open ] || return 1
  while IFS='	' read -r id cmdpath <&3 || [ -n "$id" ]; do
    valid_id "$id" || continue
    [ -d "$out/runs/$id/_wf/claim" ] && continue
    return 0
  done
  cursor=end
  return 1
}

# child_alive PID: a run this runner started has not ended (no /proc entry, or a zombie, is
# an end; no process is started to tell). Where /proc is missing, as alive.
child_alive() {
  if [ -r "/proc/$1/stat" ]; then
    get "/proc/$1/stat"
    case ${got##*) } in '' | Z\ * | X\ * | x\ *) return 1 ;; esac
    return 0
  fi
  [ -d /proc/self ] && return 1
  alive "$1"
}

# claim WF: take the run whose _wf directory is WF (mkdir WF/claim, atomic). Returns 0 when
# taken, 1 when somebody else holds it, 2 when it could not be taken (the system's message in
# $why: the second try, made for the message, counts if it takes the run).
claim() {
  mkdir -p "$1" 2>/dev/null && mkdir "$1/claim" 2>/dev/null && return 0
  [ -d "$1/claim" ] && return 1
  why=$(LC_ALL=C mkdir -p "$1" 2>&1 && LC_ALL=C mkdir "$1/claim" 2>&1) && return 0
  [ -d "$1/claim" ] && return 1
  return 2
}

# claim_failed ID: the run could not be claimed ($why). Hold it back for the next pass; when
# the disk is full, stop claiming (full=yes).
claim_failed() {
  held=$1
  case $why in
    *'No space left on device'*)
      full=yes
      say "cannot claim $1: the disk is full ($why); no run is started until space is freed and the sweep resumed"
      ;;
    *)
      [ "$stuck" = "$1" ] || say "cannot claim $1 (${why:-mkdir failed}); trying again on the next pass"
      stuck=$1
      ;;
  esac
}

run_loop() {
  out=$1 repo=$2 maxp=$3 token=${4:-} retry=${5:-keep}
  sweep=$out/_sweep
  tsv=$sweep/runs.tsv
  self=$sweep/runner.sh
  case $maxp in '' | *[!0-9]* | 0) maxp=1 ;; esac
  get "$sweep/runner.pid"; pid=$got
  if [ "$pid" != "$$" ] && alive "$pid"; then
    defer "$pid"
  fi
  locked=no
  if command -v flock >/dev/null 2>&1; then
    # Held until this runner exits (the kernel drops it with the process, even on kill -9).
    # A runner handing over may hold it a moment longer than its pid file: wait a little.
    exec 9>>"$sweep/runner.lock"
    if flock -w 5 9; then
      locked=yes
    else
      get "$sweep/runner.pid"; pid=$got
      defer "${pid:-0}"
    fi
  fi
  put "$sweep/runner.pid" "$$"
  rq=-
  if [ "$retry" = retry-lost ]; then
    if [ "$locked" = yes ]; then
      rq=
      unfinished requeue
      [ -n "$rq" ] || rq=-
    else
      say "lost runs are not requeued: flock(1) is missing on this machine (install util-linux)"
      rq=noflock
    fi
  fi
  [ -n "$token" ] && put "$sweep/runner.started" "$token started $$ $rq"
  trap ':' CHLD
  say "started: max parallel $maxp, checkout $repo"
  active=""
  adopted=""
  unfinished adopt
  [ -n "$adopted" ] && say "runs of an earlier runner still take slots (pids$adopted)"
  full=no
  stuck=
  fdcheck=no
  rewind
  while :; do
    n=0
    still=""
    for p in $adopted; do
      if alive "$p"; then
        still="$still $p"
        n=$((n + 1))
      fi
    done
    adopted=$still
    still=""
    # active: "PID:ID" of each run this runner started.
    for t in $active; do
      p=${t%%:*}
      if child_alive "$p"; then
        still="$still $t"
        n=$((n + 1))
      else
        wait "$p" 2>/dev/null
        if [ $? -eq 75 ] && [ "$full" = no ]; then
          full=yes
          say "run ${t#*:} found the disk full (runs/${t#*:}/_wf/disk_full.*); no new run is started: free space, then resume the sweep"
        fi
      fi
    done
    active=$still
    if replaced; then
      rewind
    fi
    while [ "$n" -lt "$maxp" ] && [ "$full" = no ] && next_run; do
      claim "$out/runs/$id/_wf"
      case $? in
        1) continue ;;
        2) claim_failed "$id"; break ;;
      esac
      if command -v setsid >/dev/null 2>&1; then
        setsid sh "$self" one "$out" "$repo" "$id" </dev/null >/dev/null 2>&1 9>&- 3<&- &
      else
        sh "$self" one "$out" "$repo" "$id" </dev/null >/dev/null 2>&1 9>&- 3<&- &
      fi
      active="$active $!:$id"
      n=$((n + 1))
      stuck=
      say "claimed $id (pid $!)"
    done
    if [ "$n" -eq 0 ] && [ "$full" = yes ]; then
      get "$sweep/runner.pid"
      if [ "$got" = "$$" ]; then
        rm -f "$sweep/runner.pid"
      fi
      say "the disk is full; exiting with the runs not yet claimed left pending"
      exit 0
    fi
    if [ "$n" -eq 0 ] && [ -z "$held" ] && [ "$cursor" != open ]; then
      # Nothing active and nothing left. Hand over first, then look once more from the top: a
      # launch that added runs while we were finishing either saw no live runner (and
      # started one) or wrote its runs before we look again.
      get "$sweep/runner.pid"
      if [ "$got" = "$$" ]; then
        rm -f "$sweep/runner.pid"
      fi
      if has_unclaimed "$tsv" "$out"; then
        get "$sweep/runner.pid"; pid=$got
        if alive "$pid"; then
          say "runner $pid took over; exiting"
          exit 0
        fi
        put "$sweep/runner.pid" "$$"
        rewind
        continue
      fi
      say "every run is claimed and finished; exiting"
      exit 0
    fi
    nap 0.2
  done
}

# pre FILE VALUE: record, before the command runs; on a full disk the run ends here (exit 75)
# and its command is not started.
pre() {
  record "$@" && return 0
  [ $? -eq 2 ] && exit 75
  return 0
}

# record FILE VALUE: put the run's _wf/FILE. When that fails, try once more through cat, whose
# message gives the system's reason (dash's printf says only "I/O error"); when the disk is
# full, leave the empty file _wf/disk_full.FILE (an empty file needs no free block) for
# status.sh and return 2. Any other failure returns 1.
record() {
  put "$wf/$1" "$2" && return 0
  why=$({ printf '%s\n' "$2" | LC_ALL=C cat > "$wf/$1.tmp.$$"; } 2>&1) &&
    mv -f "$wf/$1.tmp.$$" "$wf/$1" 2>/dev/null && return 0
  rm -f "$wf/$1.tmp.$$"
  case $why in
    *'No space left on device'*)
      true > "$wf/disk_full.$1" 2>/dev/null
      return 2
      ;;
  esac
  return 1
}

run_one() {
  out=$1 repo=$2 id=$3
  rd=$out/runs/$id
  wf=$rd/_wf
  [ -n "$BOOT" ] && pre boot_id "$BOOT"
  pg=
  if [ -r "/proc/$$/stat" ]; then
    # "pid (comm) state ppid pgrp ...": the group follows the last ") " by two fields.
    get "/proc/$$/stat"
    set -- ${got##*) }
    pg=${3:-}
  elif command -v ps >/dev/null 2>&1; then
    pg=$(ps -o pgid= -p "$$" 2>/dev/null | tr -d ' ')
  fi
  [ "$pg" = "$$" ] && pre pgid "$$"
  pre pid "$$"
  pre started_at "$(now)"
  if [ ! -f "$wf/cmd.sh" ]; then
    echo "wfhost runner: $wf/cmd.sh is missing; rerun the sweep phase (P60)" >>"$wf/stderr.log"
    rc=127
  elif ! cd "$repo" 2>/dev/null; then
    echo "wfhost runner: the checkout $repo does not exist; run the checkout phase (P50) first" >>"$wf/stderr.log"
    rc=127
  else
    WF_RUN_ID=$id WF_RUN_DIR=$rd sh "$wf/cmd.sh" </dev/null >"$wf/stdout.log" 2>"$wf/stderr.log"
    rc=$?
  fi
  st=0
  record ended_at "$(now)" || { [ $? -eq 2 ] && st=75; }
  # Last: a run with exit_code is finished.
  record exit_code "$rc" || { [ $? -eq 2 ] && st=75; }
  exit "$st"
}

mode=${1:-}
[ $# -gt 0 ] && shift
case $mode in
  launch)
    [ $# -eq 4 ] || [ $# -eq 5 ] || { echo "usage: runner.sh launch OUT REPO MAX_PARALLEL TOKEN [keep|retry-lost]" >&2; exit 2; }
    launch "$@"
    ;;
  run)
    [ $# -ge 3 ] || { echo "usage: runner.sh run OUT REPO MAX_PARALLEL [TOKEN [keep|retry-lost]]" >&2; exit 2; }
    run_loop "$@"
    ;;
  one)
    [ $# -eq 3 ] || { echo "usage: runner.sh one OUT REPO RUN_ID" >&2; exit 2; }
    valid_id "$3" || { echo "runner.sh: invalid run id $3" >&2; exit 2; }
    run_one "$@"
    ;;
  *)
    echo "usage: runner.sh launch|run|one ..." >&2
    exit 2
    ;;
esac
