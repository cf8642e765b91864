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
# (claimed, no exit_code, nothing of it alive: killed, or the machine restarted). A lost run
# whose bookkeeping could not be written because the disk was full (runner.sh leaves the empty
# file _wf/disk_full.<file>) has two more members: "reason":"disk_full" and
# "failed_write":"<file>" (exit_code, ended_at, started_at, pid, pgid or boot_id). A finished
# run the runner stopped at its time limit (_wf/timed_out) is failed, whatever its exit code,
# with "reason":"timeout".
# The counts are disjoint: total = ok + failed + running + pending + lost.
# Exits 3 (and prints nothing on stdout) when OUT/_sweep/runs.tsv does not exist.
#
# How it scales: the answer is never built up in a shell variable. Where awk exists, one awk
# pass reads runs.tsv, the claimed runs (one shell glob) and each claimed run's exit_code, and
# prints the object at its end; the few runs it cannot settle alone (claimed without a readable
# exit_code: running, lost, or anything unusual) it hands in batches to `status.sh --runs`,
# which judges them with the shell functions below. Without awk (or should awk fail, as mawk
# does on a directory where a file belongs), the shell walks runs.tsv itself and prints each
# run as it goes: the same runs and counts, with "runs" first and the counts after it.
# WFHOST_STATUS_NO_AWK=1 takes the shell walk on purpose.
#
# Embedded after common.sh (shebang, `set -u`, valid_id, alive, BOOT, run_alive, claims).

# BOOKKEEPING: what runner.sh writes for a run, in the order a disk_full marker is reported.
BOOKKEEPING='exit_code ended_at started_at pid pgid boot_id'

# state_of ID: the state of run ID in $state, its exit code in $code (null when none) and, for
# a run stopped by a full disk, the extra JSON members in $why.
state_of() {
  rd=$out/runs/$1
  wf=$rd/_wf
  code=null
  why=
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
    if [ -f "$wf/timed_out" ]; then
      state=failed
      why=',"reason":"timeout"'
    fi
  else
    for f in $BOOKKEEPING; do
      if [ -e "$wf/disk_full.$f" ]; then
        state=lost
        why=",\"reason\":\"disk_full\",\"failed_write\":\"$f\""
        return 0
      fi
    done
    if [ -f "$wf/pid" ]; then
      if run_alive "$wf"; then state=running; else state=lost; fi
    elif [ "$ralive" = true ]; then
      state=running
    else
      state=lost
    fi
    # A run that ended between the exit_code test above and the liveness test wrote its
    # exit_code before its wrapper exited: read it now rather than call the run lost.
    if [ "$state" = lost ] && [ -f "$wf/exit_code" ]; then
      state_of "$1"
    fi
  fi
}

# sh_status: the shell walk (no awk): each run printed as it is judged, the counts last.
sh_status() {
  total=0 ok=0 failed=0 running=0 pending=0 lost=0
  sep=
  printf '{"runs":['
  while IFS='	' read -r id cmdpath || [ -n "$id" ]; do
    valid_id "$id" || continue
    state_of "$id"
    total=$((total + 1))
    case $state in
      ok) ok=$((ok + 1)) ;;
      failed) failed=$((failed + 1)) ;;
      running) running=$((running + 1)) ;;
      pending) pending=$((pending + 1)) ;;
      lost) lost=$((lost + 1)) ;;
    esac
    printf '%s{"run_id":"%s","state":"%s","exit_code":%s%s}' "$sep" "$id" "$state" "$code" "$why"
    sep=,
  done < "$tsv"
  printf '],"total":%s,"ok":%s,"failed":%s,"running":%s,"pending":%s,"lost":%s,"runner_alive":%s}\n' \
    "$total" "$ok" "$failed" "$running" "$pending" "$lost" "$ralive"
}

# awk_status: the awk pass. Its input is the claims, then it reads runs.tsv, the exit codes and
# summaries itself; it prints nothing unless it reaches its end, so the shell walk can still
# answer after it failed. Only POSIX awk: no gawk extensions, no character classes (mawk
# 1.3.3 lacks them), byte-wise (LC_ALL=C).
awk_status() {
  claims | WF_TSV=$tsv WF_OUT=$out WF_SELF=$0 WF_RALIVE=$ralive LC_ALL=C awk '
    function settle(from, to,   cmd, i, line, t, n) {
      cmd = "sh \"$WF_SELF\" --runs \"$WF_OUT\" \"$WF_RALIVE\""
      for (i = from; i <= to; i++) cmd = cmd " " id[open[i]]
      n = from
      while ((cmd | getline line) > 0) {
        if (n > to) { n = -1; break }
        t = index(line, "\t")
        state[open[n]] = substr(line, 1, t - 1)
        tail[open[n]] = substr(line, t + 1)
        n++
      }
      close(cmd)
      if (n != to + 1) {
        print "status.sh: the shell judged runs " from " to " to " incompletely" > "/dev/stderr"
        exit 1
      }
    }
    {
      # "ID/_wf/claim/." of a claimed run
      if (substr($0, length($0) - 11) == "/_wf/claim/.") claimed[substr($0, 1, length($0) - 12)] = 1
    }
    END {
      tsv = ENVIRON["WF_TSV"]
      runs = ENVIRON["WF_OUT"] "/runs/"
      n = 0
      nopen = 0
      while ((r = (getline line < tsv)) > 0) {
        # As `IFS=<tab> read -r id rest`: leading tabs dropped, the id ends at the next tab.
        sub(/^\t+/, "", line)
        t = index(line, "\t")
        if (t > 0) line = substr(line, 1, t - 1)
        if (line == "" || line == "." || line == ".." || line ~ /[^A-Za-z0-9._-]/) continue
        n++
        id[n] = line
        if (!(line in claimed)) { state[n] = "pending"; tail[n] = "null"; continue }
        f = runs line "/_wf/exit_code"
        got = (getline rc < f)
        close(f)
        if (got <= 0) { open[++nopen] = n; continue }
        f = runs line "/_wf/timed_out"
        timed = ((getline tv < f) >= 0)
        close(f)
        if (rc == "" || rc ~ /[^0-9]/) rc = "null"
        else { sub(/^0+/, "", rc); if (rc == "") rc = "0" }
        if (timed) { state[n] = "failed"; tail[n] = rc ",\"reason\":\"timeout\""; continue }
        tail[n] = rc
        if (rc == "null") { state[n] = "failed"; continue }
        state[n] = (rc == "0") ? "ok" : "failed"
        if (rc != "0") continue
        f = runs line "/summary.json"
        while ((getline s < f) > 0) {
          if (s ~ /"ok"[ \t\r\f\v]*:[ \t\r\f\v]*false/) { state[n] = "failed"; break }
        }
        close(f)
      }
      if (r < 0) { print "status.sh: cannot read " tsv > "/dev/stderr"; exit 1 }
      for (i = 1; i <= nopen; i += 200) settle(i, (i + 199 < nopen) ? i + 199 : nopen)
      c["ok"] = c["failed"] = c["running"] = c["pending"] = c["lost"] = 0
      for (i = 1; i <= n; i++) c[state[i]]++
      printf "{\"total\":%d,\"ok\":%d,\"failed\":%d,\"running\":%d,\"pending\":%d,\"lost\":%d,\"runner_alive\":%s,\"runs\":[", \
        n, c["ok"], c["failed"], c["running"], c["pending"], c["lost"], ENVIRON["WF_RALIVE"]
      for (i = 1; i <= n; i++) {
        printf "%s{\"run_id\":\"%s\",\"state\":\"%s\",\"exit_code\":%s}", (i > 1 ? "," : ""), id[i], state[i], tail[i]
      }
      printf "]}\n"
    }'
}

if [ "${1:-}" = --runs ]; then
  # status.sh --runs OUT RUNNER_ALIVE ID...: one line per ID, "STATE<TAB>CODE" plus the
  # disk_full members, for the awk pass.
  out=$2 ralive=$3
  shift 3
  for id in "$@"; do
    if valid_id "$id"; then state_of "$id"; else state=lost code=null why=; fi
    printf '%s\t%s%s\n' "$state" "$code" "$why"
  done
  exit 0
fi

out=${1:?usage: status.sh OUT}
sweep=$out/_sweep
tsv=$sweep/runs.tsv

[ -f "$tsv" ] || { echo "no sweep here: $tsv does not exist" >&2; exit 3; }

get "$sweep/runner.pid"; rpid=$got
if alive "$rpid"; then ralive=true; else ralive=false; fi

if [ -z "${WFHOST_STATUS_NO_AWK:-}" ] && command -v awk >/dev/null 2>&1 && awk_status 2>/dev/null; then
  exit 0
fi
sh_status
