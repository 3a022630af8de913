#!/usr/bin/env bash
# A model trained on the real catalog: prepare with the shipped taxonomy (once), then train, evaluate and
# export with the model's own recipe (trainer/recipe.py). Stop it at any time and continue with RESUME=1.
#   [MODEL=fused (default)|resnet|seed_cnn] benchmarks/train_real.sh [OUT_DIR] [COLOR_MODE] [extra train flags...]
# The default model (fused) takes 32-40 minutes on 2 CPU cores, in float32 or mixed bfloat16 alike on a CPU with
# native bfloat16, and up to 75 in float32 on a slower one (BENCHMARKS.md);
# the reference CNN takes 10-15 minutes an epoch
# (its run in BENCHMARKS.md: MODEL=seed_cnn benchmarks/train_real.sh runs rgb --epochs 15 --bn-momentum 0.9).
set -euo pipefail
cd "$(dirname "$0")/.."
CATALOG=${CATALOG:-../shared/data/fashion-product-images-small}
OUT=${1:-runs}
COLOR=${2:-rgb}
MODEL=${MODEL:-fused}
BIN=.venv/bin
if [ ! -f "$OUT/prepared/manifest.json" ]; then
  $BIN/fashion-pipeline prepare --catalog "$CATALOG" --output "$OUT/prepared" \
    --direct_running_mode=multi_processing --direct_num_workers=2
fi
EXTRA=("${@:3}")
[ "${RESUME:-0}" = 1 ] && EXTRA+=(--resume)
time $BIN/fashion-pipeline train --data "$OUT/prepared" --model-dir "$OUT/$MODEL-$COLOR" --model "$MODEL" \
  --color-mode "$COLOR" "${EXTRA[@]}" 2>&1 | tee -a "$OUT/$MODEL-$COLOR.log"
