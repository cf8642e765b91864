#!/bin/sh
# A tiny stand-in experiment: "trains" for a few steps with awk and writes its outputs into
# $WF_RUN_DIR (metrics.json, summary.json, train.log), which `--fetch` copies back.
#   sh train.sh --config FILE --seed N [--set "k=v k=v"]
set -eu
config="" seed=0 overrides=""
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --set) overrides=$2; shift 2 ;;
    *) echo "train.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
: "${WF_RUN_DIR:?WF_RUN_DIR must be set (wfhost sets it for every run)}"
[ -f "$config" ] || { echo "train.sh: config $config not found" >&2; exit 2; }
steps=$(sed -n 's/.*"steps": *\([0-9]*\).*/\1/p' "$config")
width=$(sed -n 's/.*"width": *\([0-9]*\).*/\1/p' "$config")
lr=0.01
for kv in $overrides; do
  case "$kv" in lr=*) lr=${kv#lr=} ;; width=*) width=${kv#width=} ;; esac
done
echo "run $WF_RUN_ID: config=$config seed=$seed lr=$lr width=$width steps=$steps" | tee "$WF_RUN_DIR/train.log"
awk -v steps="$steps" -v seed="$seed" -v lr="$lr" -v width="$width" 'BEGIN {
  srand(seed); loss = 2.5
  for (i = 1; i <= steps; i++) { loss = loss * (1 - lr * 5) + rand() * 0.01 / (width / 64) }
  printf "{\"final_loss\": %.5f, \"steps\": %d, \"seed\": %d, \"lr\": %s, \"width\": %d}\n", loss, steps, seed, lr, width
}' > "$WF_RUN_DIR/metrics.json"
sleep 0.3
cat "$WF_RUN_DIR/metrics.json" >> "$WF_RUN_DIR/train.log"
printf '{"ok": true, "run_id": "%s"}\n' "$WF_RUN_ID" > "$WF_RUN_DIR/summary.json"
