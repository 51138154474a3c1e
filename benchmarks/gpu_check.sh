#!/usr/bin/env bash
# ToEdit's speed and memory targets on one GPU (issue 17): a ~0.5B-parameter GPT-2 with random
# weights in bf16 (24 layers, width 1280, 20 heads, context 1024; tokenizer trained on the
# embedded corpus), the engine against the forward pass + log-softmax (b/a'), tokens per
# second, and the peak GPU memory at two batch sizes (memory bounded by the batch, not the corpus).
#
#   bash benchmarks/gpu_check.sh            # from the repository root; everything tee'd to $OUT/
#
# Needs python3 with torch, transformers, tokenizers and numpy only (not datasets, papermill,
# lm-eval or datatrove). Settings by environment: PYTHON, OUT, CONFIG, DEVICE, DTYPE, BATCHES,
# DOCS, REPEATS; extra arguments go to benchmarks/bench_toedit.py. On a CPU, for a smoke run:
#   CONFIG=1,32,2,64 DEVICE=cpu DTYPE=float32 BATCHES=4,16 DOCS=4 bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-runs/gpu_check}
CONFIG=${CONFIG:-24,1280,20,1024}
DEVICE=${DEVICE:-cuda}
DTYPE=${DTYPE:-bfloat16}
BATCHES=${BATCHES:-8,32}
DOCS=${DOCS:-240}
REPEATS=${REPEATS:-2}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true

{
  echo "# gpu_check $(date -u +%FT%TZ) on $(hostname)"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  fi
  echo "# $PYTHON benchmarks/bench_toedit.py --from-config $CONFIG --device $DEVICE --dtype $DTYPE" \
       "--batch-size $BATCHES --docs $DOCS --chunk 20 --repeats $REPEATS $*"
  "$PYTHON" benchmarks/bench_toedit.py --from-config "$CONFIG" --device "$DEVICE" --dtype "$DTYPE" \
      --batch-size "$BATCHES" --docs "$DOCS" --chunk 20 --repeats "$REPEATS" "$@"
} 2>&1 | tee "$OUT/gpu_check.log"

# the lines the README and the issue note quote
grep -E "^(# |prior:|torch|device:|---|texts:|\(a|\(b\)|b/a|everything|peak GPU|target)" "$OUT/gpu_check.log" | tee "$OUT/gpu_check_summary.txt"
