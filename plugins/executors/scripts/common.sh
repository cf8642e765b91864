#!/bin/sh
# wfhost sweep scripts: the part runner.sh and status.sh share (POSIX sh, dash compatible).
# The executors crate puts this file in front of each of them when it embeds them
# (src/scripts.rs), so the installed OUT/_sweep/runner.sh and OUT/_sweep/status.sh each start
# with it, and both judge run ids and process liveness the same way. The Slurm backend's scripts
# (slurm_*.sh) start with it too.
set -u

# get FILE: the first line of FILE in $got, empty when it cannot be read (no process started:
# the status of a 1,000-run sweep reads thousands of these). Copy $got before calling anything
# else that uses get (alive does).
get() {
  got=
  IFS= read -r got 2>/dev/null < "$1"
  return 0
}
# valid_id ID: a run id is one safe path segment.
valid_id() {
  case $1 in '' | . | .. | *[!A-Za-z0-9._-]*) return 1 ;; esac
  return 0
}
# alive PID: the process exists, is not a zombie and (where /proc tells) runs runner.sh.
alive() {
  case ${1:-} in '' | *[!0-9]*) return 1 ;; esac
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    get "/proc/$1/stat"
    # "pid (comm) state ...": the state follows the last ") ".
    case ${got##*) } in Z\ * | X\ * | x\ *) return 1 ;; esac
    if [ -r "/proc/$1/cmdline" ]; then
      tr '\000' ' ' 2>/dev/null < "/proc/$1/cmdline" | grep -q 'runner\.sh' || return 1
    fi
  elif command -v ps >/dev/null 2>&1; then
    st=$(ps -o stat= -p "$1" 2>/dev/null)
    case $st in Z*) return 1 ;; esac
  fi
  return 0
}
# BOOT: this boot of the machine (empty where the kernel does not tell).
get /proc/sys/kernel/random/boot_id
BOOT=$got
# run_alive WF: the run whose _wf directory is WF still has a live process. Its wrapper
# (`runner.sh one`, pid in WF/pid) leads its own process group where setsid exists, so a run
# whose wrapper was killed while its command goes on still counts as alive; a run recorded in
# another boot (WF/boot_id) is dead, whatever process holds its pid now.
run_alive() {
  get "$1/pid"
  ra_pid=$got
  case $ra_pid in '' | *[!0-9]*) return 1 ;; esac
  if [ -f "$1/boot_id" ]; then
    get "$1/boot_id"
    [ "$got" = "$BOOT" ] || return 1
  fi
  alive "$ra_pid" && return 0
  [ -f "$1/pgid" ] || return 1
  group_alive "$ra_pid"
}
# group_alive PGID: some process of the group is alive (zombies, which an orphan may stay
# until its new parent reaps it, do not count).
group_alive() {
  if [ -r /proc/self/stat ]; then
    # "pid (comm) state ppid pgrp ...": comm may hold ") ", so match up to the last one.
    cat /proc/[0-9]*/stat 2>/dev/null |
      sed -n 's/^.*) \([A-Za-z]\) [0-9-]* \([0-9]*\) .*$/\1 \2/p' |
      grep -v '^[ZXx] ' | grep -q " $1\$"
  elif command -v ps >/dev/null 2>&1; then
    ps -e -o pgid= -o stat= 2>/dev/null | grep -v ' Z' | grep -q "^ *$1 "
  else
    kill -s 0 -- "-$1" 2>/dev/null || kill -0 "-$1" 2>/dev/null
  fi
}
# claims: every claimed run of the sweep in $out as "ID/_wf/claim/." (the trailing /. keeps
# directories only, as `[ -d ]` does), one a line; nothing when $out/runs is missing.
claims() {
  cd "$out/runs" 2>/dev/null || return 0
  printf '%s\n' */_wf/claim/. .[!.]*/_wf/claim/. ..?*/_wf/claim/.
}
