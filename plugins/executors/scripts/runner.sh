# wfhost sweep runner (POSIX sh, dash compatible). Installed by wfhost P60 as
# OUT/_sweep/runner.sh, where OUT is OPS_REMOTE_OUTPUTS_DIR as resolved on the target.
#
#   sh runner.sh launch OUT REPO MAX_PARALLEL TOKEN [keep|retry-lost|force|retry-lost,force]
#       Start a detached runner unless one is alive (OUT/_sweep/runner.pid), wait until it has
#       checked in (it writes "TOKEN started|deferred PID REQUEUED" to OUT/_sweep/runner.started),
#       print "runner=started pid=N" or "runner=already-running pid=N" and return at once. With
#       retry-lost or force the line ends " requeued=IDS": the lost (retry-lost) and finished
#       (force) runs the new runner handed back to the queue (comma-separated, "-" for none,
#       "noflock" when flock(1) is missing on the target).
#   sh runner.sh run OUT REPO MAX_PARALLEL [TOKEN [keep|retry-lost|force|retry-lost,force]]
#       The runner loop. Only one runs per OUT: it holds OUT/_sweep/runner.lock with flock(1)
#       where the target has it (else the pid file alone decides). With retry-lost it first
#       requeues every lost run (claimed, no exit_code, no live process): the attempt's files
#       move to runs/<id>/_wf/attempts/<n>/ and the claim is removed. With force it does the
#       same for every finished run (claimed, with an exit_code) and also moves the run's output
#       files (everything in runs/<id>/ but _wf) to attempts/<n>/outputs/; a forced run whose
#       _wf/cmd.sh.next exists (prepare.sh writes it with force) runs that command, its old
#       cmd.sh kept in the attempt. Then it reads
#       OUT/_sweep/runs.tsv (run_id<TAB>cmd path) through a cursor: each pass goes on from
#       where the last one stopped, claims unclaimed runs (mkdir OUT/runs/<id>/_wf/claim,
#       atomic: a run is never claimed twice) while fewer than MAX_PARALLEL are active, and
#       starts again from the top only when runs.tsv was replaced (a resume wrote a new one).
#       A claimed run never becomes unclaimed while the loop works (requeueing happens before
#       the cursor opens), so nothing behind the cursor waits. Before it exits it reads runs.tsv
#       once more from the top; it exits when every run is claimed and finished, or, once a run
#       reported a full disk (exit 75 of `one`), when its active runs have ended: it starts no
#       run on a full disk. Its stdout and stderr go to OUT/_sweep/runner.log.
#       OUT/_sweep/options (key=value lines P60 writes; read at start and whenever runs.tsv is
#       replaced) sets: run_timeout_secs (0 = none): a claimed run gets _wf/deadline (epoch
#       seconds); past it the loop writes _wf/timed_out (the epoch it acted) and sends TERM to the
#       run's process group, then KILL once GRACE seconds have passed, and records ended_at and
#       exit_code 137 itself for a run whose wrapper the KILL took; gpus (the target's GPUs,
#       comma-separated) and gpus_per_run (0 = no slicing): with slicing, GPU slot N is items
#       N*K .. N*K+K-1 of gpus, each claimed run gets a free slot (_wf/gpu_slot, and its slice in
#       _wf/gpus), no two live runs share one, and at most (GPUs / K) runs are active.
#   sh runner.sh one OUT REPO RUN_ID
#       Run one claimed run (started by the loop in a process group of its own where setsid
#       exists): `sh _wf/cmd.sh` with cwd REPO, WF_RUN_ID and WF_RUN_DIR set, stdin /dev/null;
#       records boot_id, pgid, pid, started_at, ended_at and exit_code (each atomically,
#       exit_code last). The command also gets WF_GPUS (its GPUs: its slice in _wf/gpus, else
#       every GPU the options list) and WF_NPROC (how many: at least 1); with a slice,
#       CUDA_VISIBLE_DEVICES is set to it. A run with a deadline survives the TERM of its
#       group when the loop marked it timed out (_wf/timed_out) and records its exit code; a
#       TERM from anyone else ends it as before (no exit_code: lost). Where
#       OUT/_control/run-secrets.env exists (WF_RUN_SECRETS, written by P60: `export NAME=value`
#       lines), the wrapper reads it just before the command, so the secrets are in the run's
#       environment and nowhere in its command. The loop removes the file when every run is
#       finished. Killing this process (its pid is in _wf/pid) and every process of its
#       group leaves the run without exit_code: status.sh then reports it lost. A record that
#       cannot be written because the disk is full leaves the empty file _wf/disk_full.<file>
#       (status.sh reports the run lost with that reason) and makes it exit 75; when that
#       happens before the command starts, the command is not run.
#   sh runner.sh forget-secrets OUT
#       Remove OUT/_control/run-secrets.env unless a runner is alive; print removed, kept or
#       none (P90).
#
# Tracked tasks (P75; this file is installed as OUT/_tasks/runner.sh too). A task is a run of
# its own under OUT/_tasks/<id>/ (its _wf/ holds the same files as a run's, plus timeout_secs
# and watcher.pid); it never touches the sweep's files or the FSM.
#   sh runner.sh task-launch OUT REPO ID TIMEOUT_SECS TOKEN
#       The command is OUT/_tasks/.incoming/ID.TOKEN.sh (written just before). Refuse, print
#       "task=running pid=N" and exit 3 when task ID is claimed and alive; a claimed task that
#       ended or was lost is kept as _wf/attempts/<n>/ first. Else claim it, move the command
#       to _wf/cmd.sh, write timeout_secs and deadline (epoch seconds), start a detached
#       watcher (own session, stdin closed) and wait until it checked in: print
#       "task=started pid=N cwd=DIR" (N: the watcher). The task works in REPO when that
#       directory exists, else in OUT/_tasks/ID.
#   sh runner.sh task-watch OUT CWD ID TOKEN
#       The watcher: starts `task-one` in a process group of its own, and past the deadline
#       marks it timed out (_wf/timed_out) and stops its group (TERM, KILL GRACE seconds
#       later), recording exit_code 137 for a task the KILL took. Its output goes to
#       _wf/watch.log.
#   sh runner.sh task-one OUT CWD ID
#       What `one` is for a run, for the task: WF_RUN_ID is the task id and WF_RUN_DIR its
#       directory; the runs' secrets are not read.
#   sh runner.sh task-status OUT [ID]
#       One line per task (every task, or task ID: exit 3 when it does not exist):
#       "task id=ID state=S exit_code=N|- started_at=T|- ended_at=T|- timeout_secs=N|- pid=N|-"
#       with S running, exited, timed_out or lost (claimed, no exit_code, nothing alive).
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

# GRACE: seconds between the TERM and the KILL of a run past its time limit.
GRACE=5
# epoch: the time in whole seconds since 1970 in $ep (empty where date cannot tell).
epoch() {
  ep=$(date +%s 2>/dev/null)
  case $ep in '' | *[!0-9]*) ep= ;; esac
}
# options: read OUT/_sweep/options (key=value lines written by P60) into tmo (the run time
# limit in seconds, 0 = none), gper (GPUs per run, 0 = no slicing), gpus (the target's GPUs,
# comma-separated), ngpus (how many) and nslots (GPU slots: ngpus / gper, 0 without slicing).
# A value of the wrong shape is ignored.
options() {
  tmo=0 gper=0 gpus= ngpus=0 nslots=0
  if [ -f "$sweep/options" ]; then
    while IFS='=' read -r okey oval || [ -n "$okey" ]; do
      case $okey in
        run_timeout_secs) case $oval in '' | *[!0-9]*) ;; *) tmo=$oval ;; esac ;;
        gpus_per_run) case $oval in '' | *[!0-9]*) ;; *) gper=$oval ;; esac ;;
        gpus) case $oval in *[!A-Za-z0-9,._:-]*) ;; *) gpus=$oval ;; esac ;;
      esac
    done < "$sweep/options"
  fi
  oifs=$IFS
  IFS=,
  for g in $gpus; do [ -n "$g" ] && ngpus=$((ngpus + 1)); done
  IFS=$oifs
  [ "$gper" -gt 0 ] && nslots=$((ngpus / gper))
  return 0
}
# slice N: the GPUs of slot N (items N*gper .. N*gper+gper-1 of gpus) in $sl, comma-separated.
slice() {
  sl= si=0
  oifs=$IFS
  IFS=,
  for g in $gpus; do
    [ -n "$g" ] || continue
    if [ "$si" -ge $(($1 * gper)) ] && [ "$si" -lt $((($1 + 1) * gper)) ]; then
      sl="$sl${sl:+,}$g"
    fi
    si=$((si + 1))
  done
  IFS=$oifs
}
# free_slot: the lowest GPU slot no live run holds, in $slot ("-" when none is free). The
# slots held are the third field of the active and adopted entries (PID:ID:SLOT).
free_slot() {
  slot=0
  while [ "$slot" -lt "$nslots" ]; do
    case " $active $adopted " in *":$slot "*) slot=$((slot + 1)) ;; *) return 0 ;; esac
  done
  slot=-
}
# prestart WF: before a claimed run starts, its deadline and its GPU slot ($slot).
prestart() {
  if [ "$tmo" -gt 0 ]; then
    epoch
    [ -n "$ep" ] && put "$1/deadline" "$((ep + tmo))"
  fi
  if [ "$slot" != - ]; then
    slice "$slot"
    put "$1/gpus" "$sl"
    put "$1/gpu_slot" "$slot"
  fi
  return 0
}
# stop SIGNAL PID WF: signal the run whose wrapper is PID: its whole process group where it
# leads one (WF/pgid), else the wrapper's children (pkill) and the wrapper.
stop() {
  if [ -f "$3/pgid" ]; then
    kill -s "$1" -- "-$2" 2>/dev/null
  else
    command -v pkill >/dev/null 2>&1 && pkill "-$1" -P "$2" 2>/dev/null
    kill -s "$1" "$2" 2>/dev/null
  fi
  return 0
}
# overdue: stop every live run (active and adopted) past its deadline: mark it timed out and
# TERM its group; KILL the group once GRACE seconds have passed since.
overdue() {
  ep=
  for t in $active $adopted; do
    p=${t%%:*}
    r=${t#*:}
    r=${r%%:*}
    wf=$rundirs/$r/_wf
    [ -f "$wf/deadline" ] || continue
    [ -f "$wf/exit_code" ] && continue
    [ -n "$ep" ] || epoch
    [ -n "$ep" ] || return 0
    get "$wf/deadline"
    case $got in '' | *[!0-9]*) continue ;; esac
    [ "$ep" -ge "$got" ] || continue
    if [ ! -f "$wf/timed_out" ]; then
      put "$wf/timed_out" "$ep"
      say "run $r passed its time limit (run_timeout_secs $tmo); stopping it (TERM, KILL after ${GRACE} s)"
      stop TERM "$p" "$wf"
    else
      get "$wf/timed_out"
      case $got in '' | *[!0-9]*) got=0 ;; esac
      [ "$ep" -ge $((got + GRACE)) ] && stop KILL "$p" "$wf"
    fi
  done
}
# settle ID: a run that ended after the loop timed it out, without recording its end (the
# KILL took its wrapper): record ended_at and exit_code 137 for it, once nothing of it lives.
settle() {
  wf=$rundirs/$1/_wf
  [ -f "$wf/timed_out" ] || return 0
  [ -f "$wf/exit_code" ] && return 0
  run_alive "$wf" && return 0
  put "$wf/ended_at" "$(now)"
  put "$wf/exit_code" 137
  say "run $1 was stopped at its time limit (exit 137)"
}

launch() {
  out=$1 repo=$2 maxp=$3 token=$4 retry=${5:-keep}
  sweep=$out/_sweep
  get "$sweep/runner.pid"; pid=$got
  rq=
  [ "$retry" = keep ] || rq=" requeued=-"
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
        [ "$retry" = keep ] || rq=" requeued=${4:--}"
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

# finished FN: call `FN ID WF` for every listed run that is claimed and has an exit_code.
finished() {
  [ -f "$tsv" ] || return 0
  while IFS='	' read -r id cmdpath || [ -n "$id" ]; do
    valid_id "$id" || continue
    wf=$out/runs/$id/_wf
    [ -d "$wf/claim" ] && [ -f "$wf/exit_code" ] && "$1" "$id" "$wf"
  done < "$tsv"
  return 0
}

# next_attempt WF: the number of the run's next kept attempt in $k (WF/attempts/$k is free).
next_attempt() {
  k=1
  while [ -e "$1/attempts/$k" ]; do k=$((k + 1)); done
}

# retire ID WF WHY: move the run's last attempt to WF/attempts/$k/ (nothing is deleted; WHY,
# lost or forced, goes to attempts/$k/requeued_why), then remove its claim, so the loop claims
# and runs it again. Called only under the runner lock: no other runner can claim or requeue
# meanwhile. Adds the id to rq.
retire() {
  mkdir -p "$2/attempts/$k" || return 0
  for f in stdout.log stderr.log started_at ended_at exit_code boot_id pgid pid deadline timed_out gpus gpu_slot "$2"/disk_full.*; do
    f=${f##*/}
    if [ -e "$2/$f" ]; then mv -f "$2/$f" "$2/attempts/$k/$f"; fi
  done
  put "$2/attempts/$k/requeued_at" "$(now)"
  put "$2/attempts/$k/requeued_why" "$3"
  rmdir "$2/claim" 2>/dev/null || return 0
  say "requeued $3 run $1 (its attempt $k is kept in runs/$1/_wf/attempts/$k)"
  rq="$rq${rq:+,}$1"
}

# requeue ID WF: hand a lost run (nothing of it alive) back to the queue.
requeue() {
  run_alive "$2" && return 0
  next_attempt "$2"
  retire "$1" "$2" lost
}

# rerun ID WF: hand a finished run back to the queue (SWEEP_FORCE): its outputs go to the
# attempt too, and the command prepare.sh left in cmd.sh.next replaces cmd.sh.
rerun() {
  rd=${2%/_wf}
  next_attempt "$2"
  mkdir -p "$2/attempts/$k/outputs" || return 0
  for f in "$rd"/* "$rd"/.[!.]* "$rd"/..?*; do
    [ -e "$f" ] || continue
    [ "${f##*/}" = _wf ] && continue
    mv -f "$f" "$2/attempts/$k/outputs/" || return 0
  done
  if [ -f "$2/cmd.sh.next" ]; then
    cp -p "$2/cmd.sh" "$2/attempts/$k/cmd.sh" 2>/dev/null
    mv -f "$2/cmd.sh.next" "$2/cmd.sh" || return 0
  fi
  retire "$1" "$2" forced
}

# adopt ID WF: a run an earlier runner started that still lives takes a slot (and its GPU
# slot): an entry PID:ID:SLOT in adopted.
adopt() {
  get "$2/pid"
  ap=$got
  alive "$ap" || return 0
  get "$2/gpu_slot"
  case $got in '' | *[!0-9]*) got=- ;; esac
  adopted="$adopted $ap:$1:$got"
  return 0
}

# rewind: (re)open the cursor, fd 3, at the top of runs.tsv. fdcheck tells whether
# /dev/fd/3 names the file the cursor reads (Linux), so that a replaced runs.tsv is noticed
# at once; without it the runs file is read again from the top whenever the cursor is at its
# end (what every pass did before the cursor).
rewind() {
  options
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
  rundirs=$out/runs
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
  if [ "$retry" != keep ]; then
    if [ "$locked" = yes ]; then
      rq=
      case ,$retry, in *,retry-lost,*) unfinished requeue ;; esac
      case ,$retry, in *,force,*) finished rerun ;; esac
      [ -n "$rq" ] || rq=-
    else
      say "lost and finished runs are not requeued: flock(1) is missing on this machine (install util-linux)"
      rq=noflock
    fi
  fi
  [ -n "$token" ] && put "$sweep/runner.started" "$token started $$ $rq"
  trap ':' CHLD
  options
  say "started: max parallel $maxp, checkout $repo, run time limit ${tmo}s (0 = none), GPUs ${gpus:-none}, GPUs per run $gper"
  active=""
  adopted=""
  unfinished adopt
  [ -n "$adopted" ] && say "runs of an earlier runner still take slots (pid:run:gpu-slot$adopted)"
  full=no
  stuck=
  fdcheck=no
  rewind
  while :; do
    n=0
    still=""
    # adopted and active: "PID:ID:SLOT" of each live run (SLOT: its GPU slot, or -).
    for t in $adopted; do
      p=${t%%:*}
      if alive "$p"; then
        still="$still $t"
        n=$((n + 1))
      else
        r=${t#*:}
        settle "${r%%:*}"
      fi
    done
    adopted=$still
    still=""
    for t in $active; do
      p=${t%%:*}
      r=${t#*:}
      r=${r%%:*}
      if child_alive "$p"; then
        still="$still $t"
        n=$((n + 1))
      else
        wait "$p" 2>/dev/null
        if [ $? -eq 75 ] && [ "$full" = no ]; then
          full=yes
          say "run $r found the disk full (runs/$r/_wf/disk_full.*); no new run is started: free space, then resume the sweep"
        fi
        settle "$r"
      fi
    done
    active=$still
    [ -n "$active$adopted" ] && overdue
    if replaced; then
      rewind
    fi
    cap=$maxp
    [ "$gper" -gt 0 ] && [ "$nslots" -lt "$cap" ] && cap=$nslots
    if [ "$cap" -eq 0 ] && [ "$n" -eq 0 ]; then
      get "$sweep/runner.pid"
      [ "$got" = "$$" ] && rm -f "$sweep/runner.pid"
      say "gpus_per_run $gper but only $ngpus GPU(s) (${gpus:-none}): no run can get its GPUs; exiting with the runs not yet claimed left pending"
      exit 0
    fi
    while [ "$n" -lt "$cap" ] && [ "$full" = no ] && next_run; do
      slot=-
      if [ "$gper" -gt 0 ]; then
        free_slot
        if [ "$slot" = - ]; then
          held=$id
          break
        fi
      fi
      claim "$out/runs/$id/_wf"
      case $? in
        1) continue ;;
        2) claim_failed "$id"; break ;;
      esac
      prestart "$out/runs/$id/_wf"
      if command -v setsid >/dev/null 2>&1; then
        setsid sh "$self" one "$out" "$repo" "$id" </dev/null >/dev/null 2>&1 9>&- 3<&- &
      else
        sh "$self" one "$out" "$repo" "$id" </dev/null >/dev/null 2>&1 9>&- 3<&- &
      fi
      active="$active $!:$id:$slot"
      n=$((n + 1))
      stuck=
      if [ "$slot" = - ]; then say "claimed $id (pid $!)"; else say "claimed $id (pid $!, GPUs $sl)"; fi
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
      forget_secrets
      say "every run is claimed and finished; exiting"
      exit 0
    fi
    nap 0.2
  done
}

# forget_secrets: remove the runs' secrets file (OUT/_control/run-secrets.env): no run of this
# sweep needs it any more.
forget_secrets() {
  if [ -e "$out/_control/run-secrets.env" ]; then
    rm -f "$out/_control/run-secrets.env" && say "removed the runs' secrets file"
  fi
  return 0
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
  rd=$rundirs/$id
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
  # Past its deadline the loop TERMs the run's group; the wrapper lives on to record the end.
  term=no
  [ -f "$wf/deadline" ] && trap 'term=yes' TERM
  sweep=$out/_sweep
  options
  if [ -f "$wf/gpus" ]; then
    get "$wf/gpus"
    WF_GPUS=$got
    CUDA_VISIBLE_DEVICES=$got
    export CUDA_VISIBLE_DEVICES
  else
    WF_GPUS=$gpus
  fi
  WF_NPROC=0
  oifs=$IFS
  IFS=,
  for g in $WF_GPUS; do [ -n "$g" ] && WF_NPROC=$((WF_NPROC + 1)); done
  IFS=$oifs
  [ "$WF_NPROC" -gt 0 ] || WF_NPROC=1
  export WF_GPUS WF_NPROC
  if [ ! -f "$wf/cmd.sh" ]; then
    echo "wfhost runner: $wf/cmd.sh is missing; $again" >>"$wf/stderr.log"
    rc=127
  elif ! cd "$repo" 2>/dev/null; then
    echo "wfhost runner: the directory $repo does not exist; run the checkout phase (P50) first" >>"$wf/stderr.log"
    rc=127
  else
    # The runs' secrets (WF_RUN_SECRETS, written by P60): into this run's environment only.
    if [ "$rundirs" = "$out/runs" ] && [ -f "$out/_control/run-secrets.env" ]; then
      set -a
      . "$out/_control/run-secrets.env"
      set +a
    fi
    WF_RUN_ID=$id WF_RUN_DIR=$rd sh "$wf/cmd.sh" </dev/null >"$wf/stdout.log" 2>"$wf/stderr.log"
    rc=$?
  fi
  # A TERM that was not the loop's time limit: killed, as if the wrapper had died with it.
  [ "$term" = yes ] && [ ! -f "$wf/timed_out" ] && exit 143
  st=0
  record ended_at "$(now)" || { [ $? -eq 2 ] && st=75; }
  # Last: a run with exit_code is finished.
  record exit_code "$rc" || { [ $? -eq 2 ] && st=75; }
  exit "$st"
}


# ----- tracked tasks -------------------------------------------------------------------------

# task_alive WF: the task still has a live process (its wrapper or group, or its watcher).
task_alive() {
  run_alive "$1" && return 0
  get "$1/watcher.pid"
  alive "$got"
}

# task_launch OUT REPO ID TIMEOUT TOKEN (see the header).
task_launch() {
  out=$1 repo=$2 id=$3 tmo=$4 token=$5
  rundirs=$out/_tasks
  wf=$rundirs/$id/_wf
  inc=$rundirs/.incoming/$id.$token.sh
  [ -f "$inc" ] || { echo "the task's command file $inc is missing" >&2; exit 2; }
  if [ -d "$wf/claim" ]; then
    if [ ! -f "$wf/exit_code" ] && task_alive "$wf"; then
      rm -f "$inc"
      get "$wf/pid"
      echo "task=running pid=${got:--}"
      exit 3
    fi
    next_attempt "$wf"
    mkdir -p "$wf/attempts/$k" || exit 1
    for f in cmd.sh stdout.log stderr.log started_at ended_at exit_code boot_id pgid pid deadline timed_out timeout_secs watcher.pid watcher.started watch.log "$wf"/disk_full.*; do
      f=${f##*/}
      if [ -e "$wf/$f" ]; then mv -f "$wf/$f" "$wf/attempts/$k/$f"; fi
    done
    rmdir "$wf/claim" 2>/dev/null
  fi
  claim "$wf"
  case $? in
    1)
      rm -f "$inc"
      echo "task=running pid=-"
      exit 3
      ;;
    2)
      rm -f "$inc"
      echo "cannot claim task $id: ${why:-mkdir failed}" >&2
      exit 1
      ;;
  esac
  # Until the watcher takes over, this launcher is the task's live process.
  put "$wf/watcher.pid" "$$"
  mv -f "$inc" "$wf/cmd.sh" || exit 1
  put "$wf/timeout_secs" "$tmo"
  epoch
  [ -n "$ep" ] && put "$wf/deadline" "$((ep + tmo))"
  cwd=$repo
  [ -d "$cwd" ] || cwd=$rundirs/$id
  if command -v setsid >/dev/null 2>&1; then
    setsid nohup sh "$rundirs/runner.sh" task-watch "$out" "$cwd" "$id" "$token" </dev/null >>"$wf/watch.log" 2>&1 &
  else
    nohup sh "$rundirs/runner.sh" task-watch "$out" "$cwd" "$id" "$token" </dev/null >>"$wf/watch.log" 2>&1 &
  fi
  i=0
  while [ "$i" -lt 150 ]; do
    get "$wf/watcher.started"
    case $got in "$token "*) echo "task=started pid=${got#* } cwd=$cwd"; return 0 ;; esac
    if sleep 0.1 2>/dev/null; then i=$((i + 1)); else sleep 1; i=$((i + 10)); fi
  done
  echo "the task's watcher did not check in within 15 s; read $wf/watch.log" >&2
  exit 1
}

# task_watch OUT CWD ID TOKEN (see the header).
task_watch() {
  out=$1 cwd=$2 id=$3 token=$4
  rundirs=$out/_tasks
  wf=$rundirs/$id/_wf
  get "$wf/timeout_secs"
  tmo=$got
  put "$wf/watcher.pid" "$$"
  if command -v setsid >/dev/null 2>&1; then
    setsid sh "$rundirs/runner.sh" task-one "$out" "$cwd" "$id" </dev/null >/dev/null 2>&1 &
  else
    sh "$rundirs/runner.sh" task-one "$out" "$cwd" "$id" </dev/null >/dev/null 2>&1 &
  fi
  cp=$!
  put "$wf/watcher.started" "$token $$"
  say "task $id: started (pid $cp, time limit ${tmo}s)"
  trap ':' CHLD
  active="$cp:$id:-"
  adopted=
  while child_alive "$cp"; do
    overdue
    nap 0.5
  done
  wait "$cp" 2>/dev/null
  settle "$id"
  say "task $id: ended"
}

# task_line ID WF: the task's status line (see the header).
task_line() {
  if [ -f "$2/exit_code" ]; then
    if [ -f "$2/timed_out" ]; then st=timed_out; else st=exited; fi
  elif task_alive "$2"; then
    st=running
  else
    st=lost
  fi
  get "$2/exit_code"; tl_rc=${got:--}
  get "$2/started_at"; tl_s=${got:--}
  get "$2/ended_at"; tl_e=${got:--}
  get "$2/timeout_secs"; tl_t=${got:--}
  get "$2/pid"; tl_p=${got:--}
  printf 'task id=%s state=%s exit_code=%s started_at=%s ended_at=%s timeout_secs=%s pid=%s\n' \
    "$1" "$st" "$tl_rc" "$tl_s" "$tl_e" "$tl_t" "$tl_p"
}

# task_status OUT [ID] (see the header).
task_status() {
  rundirs=$1/_tasks
  if [ $# -eq 2 ]; then
    [ -d "$rundirs/$2/_wf/claim" ] || { echo "no task $2 on this target" >&2; exit 3; }
    task_line "$2" "$rundirs/$2/_wf"
    return 0
  fi
  for d in "$rundirs"/*/_wf/claim; do
    [ -d "$d" ] || continue
    t=${d%/_wf/claim}
    t=${t##*/}
    valid_id "$t" && task_line "$t" "$rundirs/$t/_wf"
  done
  return 0
}

mode=${1:-}
[ $# -gt 0 ] && shift
case $mode in
  launch)
    [ $# -eq 4 ] || [ $# -eq 5 ] || { echo "usage: runner.sh launch OUT REPO MAX_PARALLEL TOKEN [keep|retry-lost|force|retry-lost,force]" >&2; exit 2; }
    launch "$@"
    ;;
  run)
    [ $# -ge 3 ] || { echo "usage: runner.sh run OUT REPO MAX_PARALLEL [TOKEN [keep|retry-lost|force|retry-lost,force]]" >&2; exit 2; }
    run_loop "$@"
    ;;
  forget-secrets)
    # forget-secrets OUT: remove the runs' secrets file unless a runner is alive (it removes
    # the file itself when its last run ends); prints removed, kept or none.
    [ $# -eq 1 ] || { echo "usage: runner.sh forget-secrets OUT" >&2; exit 2; }
    out=$1
    if [ ! -e "$out/_control/run-secrets.env" ]; then echo none; exit 0; fi
    get "$out/_sweep/runner.pid"
    if alive "$got"; then echo kept; exit 0; fi
    rm -f "$out/_control/run-secrets.env" && echo removed
    ;;
  one | task-one)
    [ $# -eq 3 ] || { echo "usage: runner.sh $mode OUT DIR ID" >&2; exit 2; }
    valid_id "$3" || { echo "runner.sh: invalid id $3" >&2; exit 2; }
    if [ "$mode" = one ]; then
      rundirs=$1/runs again="rerun the sweep phase (P60)"
    else
      rundirs=$1/_tasks again="start the task again with wfhost task run"
    fi
    run_one "$@"
    ;;
  task-launch)
    [ $# -eq 5 ] || { echo "usage: runner.sh task-launch OUT REPO ID TIMEOUT_SECS TOKEN" >&2; exit 2; }
    valid_id "$3" || { echo "runner.sh: invalid task id $3" >&2; exit 2; }
    case $4 in '' | *[!0-9]*) echo "runner.sh: invalid time limit $4" >&2; exit 2 ;; esac
    valid_id "$5" || { echo "runner.sh: invalid token $5" >&2; exit 2; }
    task_launch "$@"
    ;;
  task-watch)
    [ $# -eq 4 ] || { echo "usage: runner.sh task-watch OUT CWD ID TOKEN" >&2; exit 2; }
    valid_id "$3" || { echo "runner.sh: invalid task id $3" >&2; exit 2; }
    task_watch "$@"
    ;;
  task-status)
    [ $# -eq 1 ] || [ $# -eq 2 ] || { echo "usage: runner.sh task-status OUT [ID]" >&2; exit 2; }
    [ $# -eq 1 ] || valid_id "$2" || { echo "runner.sh: invalid task id $2" >&2; exit 2; }
    task_status "$@"
    ;;
  *)
    echo "usage: runner.sh launch|run|one|forget-secrets|task-launch|task-watch|task-one|task-status ..." >&2
    exit 2
    ;;
esac
