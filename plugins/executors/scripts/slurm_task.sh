# wfhost job array task (POSIX sh, dash compatible). Installed by wfhost P60 as
# OUT/_sweep/slurm/task.sh: the batch script of every task of the sweep's job arrays.
#
#   sbatch --array=0-N%P ... task.sh OUT REPO TOKEN
#
# Task i runs the run on line i+1 of OUT/_sweep/slurm/TOKEN.map, once: it claims the run with
# `mkdir OUT/runs/<id>/_wf/claim` (atomic: whoever makes it owns the run), and a task that finds
# the run claimed already — a task Slurm requeued after its first attempt started the run, or
# any duplicate — does not run it again (it exits 0 and says so in its log). The claiming task
# records, each atomically: _wf/slurm_task (TOKEN ARRAY_ID TASK JOB_ID HOST), started_at; runs
# `sh _wf/cmd.sh` in REPO with WF_RUN_ID and WF_RUN_DIR set, stdin /dev/null, output in
# _wf/stdout.log and _wf/stderr.log; then ended_at and exit_code (last: a run with exit_code is
# finished) and exits with the run's code, so Slurm's own record (FAILED, ExitCode=3:0) agrees.
#
# TERM (scancel, the time limit, preemption) is passed on to the run, and the run's end is then
# not taken for its own: the task records _wf/signalled instead of an exit_code and exits 143,
# so a cancelled or timed-out run is never counted as one that finished by itself, whatever code
# its command returned while being stopped (Slurm's state says what stopped it).
#
# Embedded after common.sh, the generated state table and slurm_lib.sh.

out=${1:?usage: task.sh OUT REPO TOKEN}
repo=${2:?usage: task.sh OUT REPO TOKEN}
token=${3:?usage: task.sh OUT REPO TOKEN}
i=${SLURM_ARRAY_TASK_ID:-}
case $i in '' | *[!0-9]*) echo "wfhost task: SLURM_ARRAY_TASK_ID is not set; this script runs as a task of a job array" >&2; exit 2 ;; esac
map=$out/_sweep/slurm/$token.map
id=$(sed -n "$((i + 1))p" "$map" 2>/dev/null)
valid_id "$id" || { echo "wfhost task: task $i has no run in $map" >&2; exit 2; }
rd=$out/runs/$id
wf=$rd/_wf
mkdir -p "$wf" 2>/dev/null
if ! mkdir "$wf/claim" 2>/dev/null; then
  if [ -d "$wf/claim" ]; then
    get "$wf/slurm_task"
    echo "wfhost task: run $id was started before (task ${got:-unknown}); it is not run twice" >&2
    exit 0
  fi
  echo "wfhost task: cannot claim run $id in $wf" >&2
  exit 1
fi
put "$wf/slurm_task" "$token ${SLURM_ARRAY_JOB_ID:-0} $i ${SLURM_JOB_ID:-0} $(uname -n 2>/dev/null)"
put "$wf/started_at" "$(now)"
signalled=
cmd=
trap 'signalled=TERM; [ -z "$cmd" ] || kill -s TERM "$cmd" 2>/dev/null' TERM
if [ ! -f "$wf/cmd.sh" ]; then
  echo "wfhost task: $wf/cmd.sh is missing; rerun the sweep phase (P60)" >>"$wf/stderr.log"
  rc=127
elif ! cd "$repo" 2>/dev/null; then
  echo "wfhost task: the checkout $repo does not exist on this node; run the checkout phase (P50) on a filesystem the nodes share" >>"$wf/stderr.log"
  rc=127
elif [ -n "$signalled" ]; then
  rc=143
else
  WF_RUN_ID=$id WF_RUN_DIR=$rd sh "$wf/cmd.sh" </dev/null >"$wf/stdout.log" 2>"$wf/stderr.log" &
  cmd=$!
  # `wait` returns early when the trap runs; wait again until the run has really ended.
  while :; do
    wait "$cmd"
    rc=$?
    kill -0 "$cmd" 2>/dev/null || break
  done
fi
if [ -n "$signalled" ]; then
  put "$wf/signalled" "$signalled $(now)"
  exit 143
fi
put "$wf/ended_at" "$(now)"
put "$wf/exit_code" "$rc"
exit "$rc"
