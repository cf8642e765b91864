#!/bin/sh
# Runs on the pod in P40. Check what the experiment needs; fail loudly when something is missing.
set -eu
for tool in git awk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bootstrap: $tool is missing on the pod" >&2; exit 1; }
done
echo "bootstrap: git and awk present"
