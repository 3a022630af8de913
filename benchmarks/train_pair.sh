#!/usr/bin/env bash
# Two trainings on the same prepared data, one after the other, so that their times compare (BENCHMARKS.md, issue
# 23: the default recipe of 2026-12-02 against the combination that became the default, 0.442x the time):
#   benchmarks/train_pair.sh PREPARED OUT_DIR [A_FLAGS] [B_FLAGS]
# A_FLAGS and B_FLAGS are train flags in one string each; the defaults are that day's pair:
#   A: the image-only residual net as it was then (14 epochs, float32, first stage 32 wide, 2e-3, PreciseBN 150)
#   B: the combination (mixed bfloat16, first stage 16 wide, 11 epochs at 3e-3, PreciseBN over 50 batches)
# Each run's wall time, from the start of training to the exported model, and its last lines go to OUT_DIR/pair.txt
# with the commit and CPU; run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: benchmarks/train_pair.sh PREPARED OUT_DIR [A_FLAGS] [B_FLAGS]" >&2; exit 2; }
PREPARED=$1
OUT=$2
A=${3:---model resnet --precision float32 --first-stage-width 32 --epochs 14 --learning-rate 2e-3 --precise-bn-steps 150}
B=${4:---model resnet --precision mixed_bfloat16 --first-stage-width 16 --epochs 11 --learning-rate 3e-3 --precise-bn-steps 50}
mkdir -p "$OUT"
{
  echo "commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(date -u +%F)"
  for run in a b; do
    flags=$A; [ $run = b ] && flags=$B
    start=$(date +%s)
    # shellcheck disable=SC2086  # the flags are words
    .venv/bin/fashion-pipeline train --data "$PREPARED" --model-dir "$OUT/$run" $flags > "$OUT/$run.log" 2>&1
    echo "$run ($flags): $(( $(date +%s) - start )) s; $(tail -1 "$OUT/$run.log")"
  done
} | tee "$OUT/pair.txt"
