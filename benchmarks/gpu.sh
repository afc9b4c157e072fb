#!/usr/bin/env bash
# One GPU script (issue 22), at most 8 minutes on one GPU: the swap benchmark table at the GPU
# shapes (bf16, 8 x 512: pythia-160m, pythia-1.4b, opt-1.3b: floor, engine on both paths,
# Bridge, nnsight when installed, CUDA peak memory, logit differences, donor bytes per layer,
# the pythia-6.9b fit), then the attention-swap study on CUDA in bf16 on random-weight
# real-shape checkpoints; every check is printed as "CHECK <name>: PASS|FAIL|SKIP (...)".
#
#   bash benchmarks/gpu.sh            # on a GPU machine
#   bash benchmarks/gpu.sh --dry      # or DRY=1: CPU, tiny shapes, seconds (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mode=()
if [ "${1:-}" = "--dry" ] || [ "${DRY:-0}" = "1" ]; then
  mode=(--dry)
fi
date -u +"%Y-%m-%d %H:%M UTC"
if [ ${#mode[@]} -eq 0 ]; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
fi
exec timeout 480 "$PY" benchmarks/gpu_check.py "${mode[@]}"
