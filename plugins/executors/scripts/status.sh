# wfhost sweep status (POSIX sh, dash compatible). Installed by wfhost P60 as
# OUT/_sweep/status.sh.
#
#   sh status.sh OUT
#
# Prints ONE JSON object on one line:
#   {"total":N,"ok":N,"failed":N,"running":N,"pending":N,"lost":N,"runner_alive":true|false,
#    "runs":[{"run_id":"r1","state":"ok","exit_code":0}, ...]}
# A run is pending (not claimed), running (claimed, no exit_code, a process of it alive, see
# run_alive, or its pid not yet recorded while the runner lives), ok (exit_code 0 and no
# summary.json with "ok": false), failed (non-zero exit_code or such a summary) or lost
# (claimed, no exit_code, nothing of it alive: killed, or the machine restarted).
# The counts are disjoint: total = ok + failed + running + pending + lost.
# Exits 3 (and prints nothing on stdout) when OUT/_sweep/runs.tsv does not exist.
#
# Embedded after common.sh (shebang, `set -u`, valid_id, alive, BOOT, run_alive).

out=${1:?usage: status.sh OUT}
sweep=$out/_sweep
tsv=$sweep/runs.tsv

[ -f "$tsv" ] || { echo "no sweep here: $tsv does not exist" >&2; exit 3; }

get "$sweep/runner.pid"; rpid=$got
if alive "$rpid"; then ralive=true; else ralive=false; fi

total=0 ok=0 failed=0 running=0 pending=0 lost=0
runs=""
sep=""
while IFS='	' read -r id cmdpath || [ -n "$id" ]; do
  valid_id "$id" || continue
  rd=$out/runs/$id
  wf=$rd/_wf
  code=null
  if [ ! -d "$wf/claim" ]; then
    state=pending
  elif [ -f "$wf/exit_code" ]; then
    get "$wf/exit_code"; rc=$got
    case $rc in
      '' | *[!0-9]*) state=failed ;;
      *)
        code=${rc#"${rc%%[!0]*}"}
        [ -n "$code" ] || code=0
        state=ok
        [ "$code" = 0 ] || state=failed
        if [ "$state" = ok ] && [ -f "$rd/summary.json" ] &&
          grep -Eq '"ok"[[:space:]]*:[[:space:]]*false' "$rd/summary.json" 2>/dev/null; then
          state=failed
        fi
        ;;
    esac
  else
    if [ -f "$wf/pid" ]; then
      if run_alive "$wf"; then state=running; else state=lost; fi
    elif [ "$ralive" = true ]; then
      state=running
    else
      state=lost
    fi
  fi
  total=$((total + 1))
  case $state in
    ok) ok=$((ok + 1)) ;;
    failed) failed=$((failed + 1)) ;;
    running) running=$((running + 1)) ;;
    pending) pending=$((pending + 1)) ;;
    lost) lost=$((lost + 1)) ;;
  esac
  runs="$runs$sep{\"run_id\":\"$id\",\"state\":\"$state\",\"exit_code\":$code}"
  sep=","
done < "$tsv"

printf '{"total":%s,"ok":%s,"failed":%s,"running":%s,"pending":%s,"lost":%s,"runner_alive":%s,"runs":[%s]}\n' \
  "$total" "$ok" "$failed" "$running" "$pending" "$lost" "$ralive" "$runs"
