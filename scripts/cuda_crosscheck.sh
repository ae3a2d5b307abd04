#!/usr/bin/env bash
# The framework crosscheck on a CUDA GPU, as one short job for a machine that has one:
# installs the package (and PyTorch if missing), records the GPU and torch's TF32 /
# reduced-precision flags, runs `harness crosscheck --device cuda` on the acceptance grid
# and writes the JSON to ${OUT:-.}/crosscheck-cuda.json. Commit that file as
# reports/reference/crosscheck-cuda.json: the report draws it beside the CPU run.
# Usage: bash scripts/cuda_crosscheck.sh [extra harness crosscheck options]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}"
python3 -m pip install --quiet -e . >/dev/null
python3 -c "import torch" 2>/dev/null || python3 -m pip install --quiet torch
python3 - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0))
PY
harness crosscheck --device cuda --d 3072 --n 30,100,300,1000 --bias left,midpoint --seeds 12 \
    --arith bfloat16@float32,float16@float32,bfloat16@float32+rz,float16@float32+rz \
    --out "$out/crosscheck-cuda.json" "$@"
