#!/usr/bin/env bash
# SDFT on one GPU, HF generate against vLLM rollouts: step time split, tokens/s, MFU, peak memory.
# Sized for under 8 minutes on one H100 (80 GB) with Qwen2.5-1.5B-Instruct from the Hugging Face hub
# (or its cache); each engine runs 6 steps of 16 tool-use prompts x 256 new tokens in its own process.
#   bench/gpu.sh                                   # defaults
#   MODEL=/models/qwen2.5-1.5b bench/gpu.sh --steps 4   # a local folder; extra flags go to bench/gpu.py
# Writes bench/results/gpu.json and prints the table. vLLM comes from the `gpu` extra; when it does not
# install or import (no CUDA, a torch it was not built for), its row says why and HF generate still runs.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
MODEL=${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}
if [ ! -x "$PY" ]; then
  make install
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "bench/gpu.sh: torch sees no CUDA device; run bench/gpu.py --device cpu for a CPU smoke run" >&2
  exit 2
fi
if ! "$PY" -c "import vllm" 2>/dev/null; then
  "$PY" -m pip install -q -e '.[gpu]' || echo "bench/gpu.sh: the gpu extra (vllm) did not install; its row will say why" >&2
fi
exec timeout 480 "$PY" bench/gpu.py --model "$MODEL" --device cuda --engines transformers,vllm "$@"
