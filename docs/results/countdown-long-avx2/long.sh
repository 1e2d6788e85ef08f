#!/bin/bash
# The long config in one piece, as an AVX2-only 2-core machine would run it: fp32 (REFLECTRL_FAST_BF16=0, what
# dtype auto picks there) with torch, oneDNN and MKL limited to AVX2 kernels. Dev split so test is not seen again.
set -e
export REFLECTRL_FAST_BF16=0 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
export REFLECTRL_CACHE=/work/exp/s30/cache
cd /work/exp/code-$1
date -u +%FT%TZ > /work/exp/s30/long.start
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" run --config configs/countdown-long.yaml \
    --set out_dir=/work/exp/s30/long --set eval.split=dev
date -u +%FT%TZ > /work/exp/s30/long.end
