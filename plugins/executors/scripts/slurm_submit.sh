# wfhost job array submission and cancellation (POSIX sh, dash compatible). Installed by wfhost
# P60 as OUT/_sweep/slurm/submit.sh.
#
#   sh submit.sh submit OUT REPO TOKEN MAX_PARALLEL keep|retry-lost [SBATCH_OPTION...]
#       Submit, as ONE job array, every run of OUT/_sweep/runs.tsv that has neither a result nor
#       a live task (status.sh --lines, one squeue call): runs never submitted, and runs a task
#       never started whose task is gone (cancelled while waiting, forgotten). With retry-lost,
#       also the lost runs (started, no exit code, no live task): their attempt's files move to
#       runs/<id>/_wf/attempts/<n>/ and their claim is removed first. Runs that are queued,
#       running, finished or failed are never submitted again. Writes TOKEN.map, appends to
#       subs.tsv, then runs
#         sbatch --parsable --array=0-(N-1)%MAX_PARALLEL --job-name=wfhost-TOKEN
#                --output=SL/logs/%A_%a.out --chdir=SL SBATCH_OPTION... SL/task.sh OUT REPO TOKEN
#       and records the job id in TOKEN.job. Prints one line
#         array=ID|none token=TOKEN tasks=N live=N finished=N lost_kept=N requeued=IDS|-
#       then ids=ID,ID,... (the map, in task order; empty when nothing was submitted). A token
#       used before gets a -2, -3, ... suffix. One submission at a time (flock on
#       SL/submit.lock where the host has flock(1)). Exits 4 when squeue does not answer (which
#       runs have a live task is then unknown, and nothing is submitted), 5 when the array would
#       exceed the cluster's MaxArraySize, 1 when sbatch refuses it (its words on stderr).
#   sh submit.sh cancel OUT
#       Cancel the sweep's own arrays (found by their job names, wfhost-TOKEN, never anything
#       else), wait up to 60 s until none of their tasks is queued or running, and print
#       cancelled=ID,ID|- tasks=N (the tasks that were queued or running).
#
# Embedded after common.sh, the generated state table and slurm_lib.sh.

# requeue ID: hand a lost run back (its attempt's files kept in _wf/attempts/<n>/); adds the id
# to $requeued.
requeue() {
  rq_wf=$out/runs/$1/_wf
  k=1
  while [ -e "$rq_wf/attempts/$k" ]; do k=$((k + 1)); done
  mkdir -p "$rq_wf/attempts/$k" || return 1
  for f in stdout.log stderr.log started_at ended_at slurm_task signalled; do
    if [ -e "$rq_wf/$f" ]; then mv -f "$rq_wf/$f" "$rq_wf/attempts/$k/$f"; fi
  done
  put "$rq_wf/attempts/$k/requeued_at" "$(now)"
  rmdir "$rq_wf/claim" 2>/dev/null || return 1
  requeued="$requeued${requeued:+,}$1"
}

# drop_sub TOKEN: remove TOKEN's line from subs.tsv (sbatch refused its array).
drop_sub() {
  awk -F '	' -v t="$1" '$1 != t' "$sl/subs.tsv" > "$sl/subs.tsv.tmp.$$" &&
    mv -f "$sl/subs.tsv.tmp.$$" "$sl/subs.tsv"
}

submit() {
  out=$1 repo=$2 token=$3 maxp=$4 retry=$5
  shift 5
  sl=$out/_sweep/slurm
  case $maxp in '' | *[!0-9]* | 0) echo "MAX_PARALLEL $maxp is not a positive number" >&2; exit 2 ;; esac
  valid_id "$token" || { echo "token $token is not a safe name" >&2; exit 2; }
  mkdir -p "$sl/logs" || exit 1
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$sl/submit.lock"
    flock -w 60 9 || { echo "another submission holds $sl/submit.lock" >&2; exit 1; }
  fi
  base=$token
  k=1
  while [ -f "$sl/$token.map" ]; do
    k=$((k + 1))
    token=$base-$k
  done
  judged=$sl/judged.$$
  trap 'rm -f "$judged" "$sl/$token.map.tmp" "$sl/sbatch.err.$$"' EXIT
  sh "$out/_sweep/status.sh" --lines "$out" > "$judged" || exit $?
  requeued=
  live=0 finished=0 kept=0 count=0
  : > "$sl/$token.map.tmp" || exit 1
  while IFS='	' read -r id state claimed sstate || [ -n "$id" ]; do
    valid_id "$id" || continue
    take=no
    case $state in
      pending)
        if [ "$sstate" = NOT_SUBMITTED ]; then take=yes; else live=$((live + 1)); fi ;;
      running) live=$((live + 1)) ;;
      ok | failed) finished=$((finished + 1)) ;;
      lost)
        if [ "$claimed" = 0 ]; then
          take=yes
        elif [ "$retry" = retry-lost ] && requeue "$id"; then
          take=yes
        else
          kept=$((kept + 1))
        fi ;;
    esac
    if [ "$take" = yes ]; then
      printf '%s\n' "$id" >> "$sl/$token.map.tmp" || exit 1
      count=$((count + 1))
    fi
  done < "$judged"
  if [ "$count" -eq 0 ]; then
    echo "array=none token=$token tasks=0 live=$live finished=$finished lost_kept=$kept requeued=${requeued:--}"
    echo "ids="
    exit 0
  fi
  max=$(scontrol show config 2>/dev/null | sed -n 's/^MaxArraySize *= *\([0-9][0-9]*\).*/\1/p')
  if [ -n "$max" ] && [ "$count" -gt "$max" ]; then
    echo "the sweep would submit $count runs as one job array but the cluster's MaxArraySize is $max; select at most $max runs (SWEEP_MATCH, SWEEP_START_AT) per flow, or ask the cluster's admins to raise MaxArraySize" >&2
    exit 5
  fi
  mv -f "$sl/$token.map.tmp" "$sl/$token.map" || exit 1
  printf '%s\t%s\t%s\n' "$token" "$count" "$(now)" >> "$sl/subs.tsv" || exit 1
  if ! jid=$(sbatch --parsable --array="0-$((count - 1))%$maxp" --job-name="wfhost-$token" \
    --output="$sl/logs/%A_%a.out" --chdir="$sl" "$@" "$sl/task.sh" "$out" "$repo" "$token" \
    </dev/null 2>"$sl/sbatch.err.$$"); then
    drop_sub "$token"
    rm -f "$sl/$token.map"
    echo "sbatch refused the job array: $(tr '\n' ' ' < "$sl/sbatch.err.$$")" >&2
    exit 1
  fi
  jid=${jid%%;*}
  put "$sl/$token.job" "$jid"
  echo "array=$jid token=$token tasks=$count live=$live finished=$finished lost_kept=$kept requeued=${requeued:--}"
  printf 'ids='
  paste -s -d, "$sl/$token.map"
}

cancel() {
  out=$1
  sl=$out/_sweep/slurm
  job_names "$out"
  if [ -z "$names" ]; then
    echo "cancelled=- tasks=0"
    exit 0
  fi
  # squeue's default states: the tasks still queued or running. NAME|TASK|STATE|ARRAY_ID.
  live=$(squeue -h -r -n "$names" -o '%j|%K|%T|%F') || { echo "squeue failed; nothing was cancelled" >&2; exit 4; }
  ids=$(printf '%s\n' "$live" | awk -F '|' -v names=",$names," 'NF >= 4 && index(names, "," $1 ",") && $4 ~ /^[0-9]+$/ && !seen[$4]++ { printf "%s%s", sep, $4; sep = "," }')
  ntasks=$(printf '%s\n' "$live" | awk -F '|' -v names=",$names," 'NF >= 4 && index(names, "," $1 ",") { n++ } END { print n + 0 }')
  if [ -z "$ids" ]; then
    echo "cancelled=- tasks=0"
    exit 0
  fi
  # shellcheck disable=SC2046 # the ids are digits, split on purpose
  scancel $(printf '%s' "$ids" | tr ',' ' ') || { echo "scancel failed for $ids" >&2; exit 1; }
  w=0
  while [ "$w" -lt 300 ]; do
    [ -z "$(squeue -h -n "$names" -o '%i' 2>/dev/null)" ] && break
    sleep 0.2 2>/dev/null || sleep 1
    w=$((w + 1))
  done
  echo "cancelled=$ids tasks=$ntasks"
}

mode=${1:-}
[ $# -gt 0 ] && shift
case $mode in
  submit)
    [ $# -ge 5 ] || { echo "usage: submit.sh submit OUT REPO TOKEN MAX_PARALLEL keep|retry-lost [SBATCH_OPTION...]" >&2; exit 2; }
    submit "$@"
    ;;
  cancel)
    [ $# -eq 1 ] || { echo "usage: submit.sh cancel OUT" >&2; exit 2; }
    cancel "$@"
    ;;
  *)
    echo "usage: submit.sh submit|cancel ..." >&2
    exit 2
    ;;
esac
