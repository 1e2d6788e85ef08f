#!/bin/bash
# After l80's probe: its model on the same 500 dev problems as s30's evaluations, the way those ran (fp32, AVX2 caps).
while [ ! -f /work/exp/s31/l80.end ]; do sleep 20; done
export REFLECTRL_FAST_BF16=0 TOKENIZERS_PARALLELISM=false ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
export REFLECTRL_CACHE=/work/exp/s30/cache
cd /work/exp/code-7d86cfd
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" eval --config configs/countdown-long.yaml \
  --set model.threads=2 --model /work/exp/s31/l80/train/model --split dev --out /work/exp/s31/l80/eval-trained
date -u +%FT%TZ > /work/exp/s31/l80.evaluated
