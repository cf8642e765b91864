# wfhost Slurm scripts: the part slurm_status.sh, slurm_task.sh and slurm_submit.sh share (POSIX
# sh, dash compatible). Embedded after common.sh (shebang, `set -u`, valid_id, get, claims) and
# the state table the executors' build.rs generates from plugins/executors/slurm.toml
# (SLURM_STATES='PENDING=queued RUNNING=running ...').
#
# The sweep's Slurm records, under OUT/_sweep/slurm/ (SL):
#   subs.tsv        one line per submission, in order: TOKEN<TAB>TASKS<TAB>SUBMITTED_AT, written
#                   before sbatch runs (so its jobs are found by name even if the job id was never
#                   recorded) and removed again when sbatch refuses the array
#   TOKEN.map       the row-to-task map of that submission: line i+1 is the run of task i
#   TOKEN.job       the array's job id, as sbatch printed it
#   task.sh         the batch script of every task; logs/ARRAY_TASK.out its own output
# Every array is named wfhost-TOKEN (sbatch --job-name), which is how squeue is asked about the
# sweep's tasks, and how P90 finds the jobs it may cancel.

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# put FILE VALUE: write VALUE atomically (temp file + rename); a failed write leaves no temp file.
put() {
  printf '%s\n' "$2" > "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1" && return 0
  rm -f "$1.tmp.$$"
  return 1
}

# job_names OUT: the job names of the sweep's submissions, comma-separated, in $names (empty
# when nothing was submitted).
job_names() {
  names=
  [ -f "$1/_sweep/slurm/subs.tsv" ] || return 0
  while IFS='	' read -r jn_tok _ || [ -n "$jn_tok" ]; do
    valid_id "$jn_tok" || continue
    names="$names${names:+,}wfhost-$jn_tok"
  done < "$1/_sweep/slurm/subs.tsv"
}

# SQUEUE_TRIES: how often squeue is asked before the controller counts as not answering.
SQUEUE_TRIES=3

# tasks OUT FILE: squeue's record of every task of the sweep's arrays (queued, running, and
# ended while slurmctld still remembers them), one line each, NAME|TASK|STATE|ARRAY_ID, in FILE.
# When squeue keeps failing (the controller is down or restarting), exits 4 with its complaint:
# no caller may take "no answer" for "no task".
tasks() {
  : > "$2" || exit 1
  job_names "$1"
  [ -n "$names" ] || return 0
  command -v squeue >/dev/null 2>&1 || { echo "squeue is not installed on the submit host" >&2; exit 4; }
  ts_try=1
  while :; do
    if squeue -h -r -t all -n "$names" -o '%j|%K|%T|%F' > "$2" 2> "$2.err"; then
      rm -f "$2.err"
      return 0
    fi
    [ "$ts_try" -lt "$SQUEUE_TRIES" ] || break
    ts_try=$((ts_try + 1))
    sleep 2
  done
  printf 'squeue failed %s times (is the Slurm controller down?): %s\n' "$SQUEUE_TRIES" "$(tr '\n' ' ' < "$2.err")" >&2
  rm -f "$2.err"
  exit 4
}
