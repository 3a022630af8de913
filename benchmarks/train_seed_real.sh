#!/usr/bin/env bash
# The seed CNN on the real catalog: prepare with the shipped taxonomy, then train, evaluate and export.
# About 10-15 minutes an epoch on 2 CPU cores; stop it at any time and continue with RESUME=1.
#   [BN_MOMENTUM=0.9] benchmarks/train_seed_real.sh [OUT_DIR] [EPOCHS] [COLOR_MODE]
# BN_MOMENTUM (default 0.99, Keras' and the seed's) is the BatchNormalization layers' moving-average momentum.
set -euo pipefail
cd "$(dirname "$0")/.."
CATALOG=${CATALOG:-../shared/data/fashion-product-images-small}
OUT=${1:-runs}
EPOCHS=${2:-15}
COLOR=${3:-rgb}
BN=${BN_MOMENTUM:-0.99}
BIN=.venv/bin
if [ ! -f "$OUT/prepared/manifest.json" ]; then
  $BIN/fashion-pipeline prepare --catalog "$CATALOG" --output "$OUT/prepared" \
    --direct_running_mode=multi_processing --direct_num_workers=2
fi
EXTRA=()
[ "${RESUME:-0}" = 1 ] && EXTRA+=(--resume)
time $BIN/fashion-pipeline train --data "$OUT/prepared" --model-dir "$OUT/seed-$COLOR" \
  --epochs "$EPOCHS" --color-mode "$COLOR" --bn-momentum "$BN" "${EXTRA[@]}" 2>&1 | tee -a "$OUT/seed-$COLOR.log"
