# wfhost sweep status on a Slurm cluster (POSIX sh, dash compatible). Installed by wfhost P60 as
# OUT/_sweep/status.sh when the sweep runs as job arrays, in place of the runner's status.sh,
# with the same answer, so P70, P80 and `wfhost sweep-status` read either the same way.
#
#   sh status.sh OUT            one JSON object on one line (below)
#   sh status.sh --lines OUT    one line per run: ID<TAB>STATE<TAB>CLAIMED(0|1)<TAB>SLURM_STATE
#                               (what slurm_submit.sh decides from)
#
#   {"backend":"slurm","total":N,"ok":N,"failed":N,"running":N,"pending":N,"lost":N,
#    "runner_alive":true|false,"runs":[{"run_id":"r1","state":"ok","exit_code":0,
#    "slurm_state":"COMPLETED","slurm_job":"12_0"}, ...]}
#
# One squeue call (tasks, in slurm_lib.sh) gives the state of every task of the sweep's arrays;
# the files give the rest. A run is judged by the task that claimed it (its _wf/slurm_task), or,
# before any did, by the task of the latest submission that carries it (the TOKEN.map files):
#   - claimed, with an exit_code: ok or failed by it (and summary.json), as for the runner,
#     unless Slurm stopped the task (a failed or lost state other than FAILED): the record may
#     be the code of a command killed by that stop, so the run is judged as if it had none;
#   - claimed, no exit_code: running while its task is queued or running; else failed or lost as
#     slurm.toml says of the task's state; when slurmctld no longer knows the task, failed
#     (SIGNALLED) if the wrapper recorded the TERM that ended it, else lost (UNKNOWN);
#   - not claimed: pending while its task is queued, running once the task is on a node, lost
#     once the task ended without claiming it (CANCELLED while it waited, ...), was cancelled on
#     its own while pending (MISSING: Slurm keeps no record of that), or is no longer known
#     (UNKNOWN); pending (NOT_SUBMITTED) when no submission carries it yet.
# "runner_alive" is true while any task of the sweep is queued or running. total = ok + failed +
# running + pending + lost. Exits 3 when OUT/_sweep/runs.tsv does not exist, 4 when squeue does
# not answer (nothing is printed on stdout then).
#
# Embedded after common.sh, the generated state table and slurm_lib.sh.

lines=no
if [ "${1:-}" = --lines ]; then
  lines=yes
  shift
fi
out=${1:?usage: status.sh [--lines] OUT}
sweep=$out/_sweep
tsv=$sweep/runs.tsv
[ -f "$tsv" ] || { echo "no sweep here: $tsv does not exist" >&2; exit 3; }

q=${TMPDIR:-/tmp}/wfhost-squeue.$$
trap 'rm -f "$q" "$q.err"' EXIT
tasks "$out" "$q"

claims | WF_TSV=$tsv WF_OUT=$out WF_Q=$q WF_STATES=$SLURM_STATES WF_LINES=$lines LC_ALL=C awk '
  function cls(s) { return (s in class) ? class[s] : "lost" }
  function readline(f,   got, v) {
    v = ""
    got = (getline v < f)
    close(f)
    return (got > 0) ? v : ""
  }
  BEGIN {
    n = split(ENVIRON["WF_STATES"], kv, " ")
    for (i = 1; i <= n; i++) { e = index(kv[i], "="); class[substr(kv[i], 1, e - 1)] = substr(kv[i], e + 1) }
    live = "false"
    q = ENVIRON["WF_Q"]
    while ((getline line < q) > 0) {
      # NAME|TASK|STATE|ARRAY_ID; TASK may be a range of tasks that share one record (2-5%4).
      m = split(line, fld, "|")
      if (m < 4 || substr(fld[1], 1, 7) != "wfhost-") continue
      tok = substr(fld[1], 8)
      known[tok] = 1
      array[tok] = fld[4]
      c = cls(fld[3])
      if (c == "queued" || c == "running") live = "true"
      spec = fld[2]
      sub(/%.*/, "", spec)
      np = split(spec, parts, ",")
      for (j = 1; j <= np; j++) {
        p = parts[j]
        sub(/:.*/, "", p)
        if (p ~ /^[0-9]+-[0-9]+$/) {
          split(p, ab, "-")
          for (t = ab[1] + 0; t <= ab[2] + 0; t++) state[tok ":" t] = fld[3]
        } else if (p ~ /^[0-9]+$/) {
          state[tok ":" (p + 0)] = fld[3]
        }
      }
    }
    close(q)
    out = ENVIRON["WF_OUT"]
    subs = out "/_sweep/slurm/subs.tsv"
    while ((getline line < subs) > 0) {
      tok = line
      sub(/\t.*/, "", tok)
      if (tok == "" || tok ~ /[^A-Za-z0-9._-]/) continue
      mf = out "/_sweep/slurm/" tok ".map"
      t = 0
      while ((getline rid < mf) > 0) { owner[rid] = tok ":" t; t++ }
      close(mf)
    }
    close(subs)
  }
  {
    # "ID/_wf/claim/." of a claimed run
    if (substr($0, length($0) - 11) == "/_wf/claim/.") claimed[substr($0, 1, length($0) - 12)] = 1
  }
  END {
    runs = out "/runs/"
    tsv = ENVIRON["WF_TSV"]
    n = 0
    while ((r = (getline line < tsv)) > 0) {
      sub(/^\t+/, "", line)
      t = index(line, "\t")
      if (t > 0) line = substr(line, 1, t - 1)
      if (line == "" || line == "." || line == ".." || line ~ /[^A-Za-z0-9._-]/) continue
      n++
      id[n] = line
      wf = runs line "/_wf/"
      code[n] = "null"
      key = ""
      if (line in claimed) {
        cl[n] = 1
        # TOKEN ARRAY_ID TASK JOB_ID HOST, written by the task that claimed the run
        split(readline(wf "slurm_task"), w, " ")
        if (w[1] != "" && w[3] != "") key = w[1] ":" w[3]
        else if (line in owner) key = owner[line]
      } else {
        cl[n] = 0
        if (line in owner) key = owner[line]
      }
      s = (key in state) ? state[key] : ""
      split(key, kt, ":")
      job[n] = (kt[1] in array) ? array[kt[1]] "_" kt[2] : ""
      c = cls(s)
      if (cl[n]) {
        rc = readline(wf "exit_code")
        # scancel and the time limit signal every process of the task at once: the command
        # of the run may die first and the wrapper record its 143 before its own TERM arrives.
        # The exit record counts only when the task ended by itself (or Slurm has no word).
        if (rc != "" && s != "" && s != "FAILED" && (c == "failed" || c == "lost")) rc = ""
        if (rc != "") {
          if (rc ~ /[^0-9]/) { st[n] = "failed" }
          else {
            sub(/^0+/, "", rc)
            if (rc == "") rc = "0"
            code[n] = rc
            st[n] = (rc == "0") ? "ok" : "failed"
            if (rc == "0") {
              sf = runs line "/summary.json"
              while ((getline sline < sf) > 0) {
                if (sline ~ /"ok"[ \t\r\f\v]*:[ \t\r\f\v]*false/) { st[n] = "failed"; break }
              }
              close(sf)
            }
          }
        } else if (s == "") {
          if (readline(wf "signalled") != "") { st[n] = "failed"; s = "SIGNALLED" }
          else { st[n] = "lost"; s = "UNKNOWN" }
        } else if (c == "queued" || c == "running") {
          st[n] = "running"
        } else if (c == "failed") {
          st[n] = "failed"
        } else {
          st[n] = "lost"
        }
      } else if (key == "") {
        st[n] = "pending"; s = "NOT_SUBMITTED"
      } else if (s == "") {
        st[n] = "lost"
        split(key, kt, ":")
        s = (kt[1] in known) ? "MISSING" : "UNKNOWN"
      } else if (c == "queued") {
        st[n] = "pending"
      } else if (c == "running") {
        st[n] = "running"
      } else {
        st[n] = "lost"
      }
      ss[n] = s
    }
    if (r < 0) { print "status.sh: cannot read " tsv > "/dev/stderr"; exit 1 }
    if (ENVIRON["WF_LINES"] == "yes") {
      for (i = 1; i <= n; i++) printf "%s\t%s\t%s\t%s\n", id[i], st[i], cl[i], ss[i]
      exit 0
    }
    k["ok"] = k["failed"] = k["running"] = k["pending"] = k["lost"] = 0
    for (i = 1; i <= n; i++) k[st[i]]++
    printf "{\"backend\":\"slurm\",\"total\":%d,\"ok\":%d,\"failed\":%d,\"running\":%d,\"pending\":%d,\"lost\":%d,\"runner_alive\":%s,\"runs\":[", \
      n, k["ok"], k["failed"], k["running"], k["pending"], k["lost"], live
    for (i = 1; i <= n; i++) {
      printf "%s{\"run_id\":\"%s\",\"state\":\"%s\",\"exit_code\":%s", (i > 1 ? "," : ""), id[i], st[i], code[i]
      if (ss[i] != "") printf ",\"slurm_state\":\"%s\"", ss[i]
      if (job[i] != "") printf ",\"slurm_job\":\"%s\"", job[i]
      printf "}"
    }
    printf "]}\n"
  }'
