#!/usr/bin/env bash
# The full-size BiLSTM (the blog's network) on an NVIDIA GPU with Keras's PyTorch backend: its speed beside
# sinc, then the blog's experiment on one song (scan, dataset, training, prediction, evaluation).
# Not measured yet: no GPU has been available to this project (the README says so).
#
#   tools/gpu_bench.sh                  # on the GPU machine, from a clone of this repository
#   QUICK=1 tools/gpu_bench.sh          # a tiny run of the same steps on any machine, CPU included
#
# Settings (environment): PYTHON (python3.11), VENV (.venv-gpu), SONG (a 44.1 kHz full-band song of the
# training corpus, never a held-out one), EPOCHS (40), PATIENCE (none: every epoch), OUT (data/gpu-run),
# MODEL (models/bilstm-gpu), EXCERPT (none: the whole song, both channels, as the blog; tools/excerpt.py's
# options otherwise, e.g. "--start 40 --seconds 60 --mono" as the CPU run). The learning rate is the blog's
# (RMSprop 1e-4, time decay 0.03 per batch).
# It trains resumably: run it again after an interruption and the training continues.
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=torch TF_CPP_MIN_LOG_LEVEL=3
VENV=${VENV:-.venv-gpu}
SONG=${SONG:-data/music/train/wesnoth-1.16-music/frantic.wav}
OUT=${OUT:-data/gpu-run}
MODEL=${MODEL:-models/bilstm-gpu}
EPOCHS=${EPOCHS:-40}
PY=$VENV/bin/python

# The locked packages, this project, and PyTorch: the machine's own CUDA build if it has one (the venv sees
# the system's packages), else PyPI's torch, a CUDA build on Linux.
if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv --system-site-packages "$VENV"
  "$PY" -m pip install --quiet --require-hashes --no-deps -r requirements.lock
  "$PY" -m pip install --quiet --no-deps --no-build-isolation -e .
  "$PY" -c "import torch" 2>/dev/null || "$PY" -m pip install --quiet "torch==2.13.*"
fi
"$PY" - <<EOF
import sys, torch
print(f"PyTorch {torch.__version__}, CUDA available: {torch.cuda.is_available()}", flush=True)
if not torch.cuda.is_available() and not "${QUICK:-}":
    sys.exit("no CUDA GPU visible to PyTorch (QUICK=1 runs the steps on the CPU)")
EOF
[ -f "$SONG" ] || { echo "$SONG: missing; make music builds the corpus, or set SONG" >&2; exit 2; }

if [ -n "${QUICK:-}" ]; then
  SIZE=(--units 8 --dense 16 --dense2 4 --lr 1e-3 --decay 0); EPOCHS=${QUICK_EPOCHS:-1}
  EXCERPT=${EXCERPT:---seconds 4}  # the first 4 s of the song
else
  SIZE=()  # the blog's: BiLSTM 300, Dense 500, BiLSTM 300, Dense 500, Dense 20, Dense 1; RMSprop 1e-4
  # 1. Speed beside sinc, in one run (bench-gpu.md).
  "$PY" tools/bench.py --gpu --out bench-gpu.md
fi

# 2. The blog's experiment (make blog), in this environment.
touch "$VENV/.installed"  # make's stamp: the environment is ready
start=$(date +%s)
make blog VENV="$VENV" BLOG_SONG="$SONG" BLOG_OUT="$OUT" BLOG_MODEL="$MODEL" BLOG_EXCERPT="${EXCERPT:-}" \
  BLOG_TRAIN="--epochs $EPOCHS ${PATIENCE:+--patience $PATIENCE} ${SIZE[*]}"
echo "$(( $(date +%s) - start )) s in this call; per epoch: $MODEL/history.csv; results: $MODEL/results.md;" \
  "speed: bench-gpu.md (KERAS_BACKEND=torch)"
