#!/bin/sh
# wfhost sweep scripts: the part runner.sh and status.sh share (POSIX sh, dash compatible).
# The executors crate puts this file in front of each of them when it embeds them
# (src/scripts.rs), so the installed OUT/_sweep/runner.sh and OUT/_sweep/status.sh each start
# with it, and both judge run ids and process liveness the same way.
set -u

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
    st=$(sed -n 's/^.*) \([A-Za-z]\).*$/\1/p' "/proc/$1/stat" 2>/dev/null)
    case $st in Z | X | x) return 1 ;; esac
    if [ -r "/proc/$1/cmdline" ]; then
      tr '\000' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q 'runner\.sh' || return 1
    fi
  elif command -v ps >/dev/null 2>&1; then
    st=$(ps -o stat= -p "$1" 2>/dev/null)
    case $st in Z*) return 1 ;; esac
  fi
  return 0
}
