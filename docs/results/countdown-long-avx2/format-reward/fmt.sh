#!/bin/bash
# Seed 1 of the 80-step long config again (§8j lost the hint form), now with a format reward that keeps it:
# train.reflection_format='start from \d+ [-+*/] \d+', format_reward 0.1. Same boost model and mined failures as
# §8j (s33/long), fp32 with AVX2 caps, then the same 500 dev problems.
set -e
S=/work/exp/s34
L=/work/exp/s33/long
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s33/cache
export REFLECTRL_FAST_BF16=0 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
cd /work/exp/code-499481b
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
date -u +%FT%TZ > $S/fmt.start
rr train --config configs/countdown-long.yaml --set train.seed=1 \
  --set 'train.reflection_format=start from \d+ [-+*/] \d+' --set train.format_reward=0.1 \
  --model $L/boost/model --failures $L/mine/failures.jsonl --out $S/fmt/train
date -u +%FT%TZ > $S/fmt.trained
rr eval --config configs/countdown-long.yaml --model $S/fmt/train/model --split dev --out $S/fmt/eval-trained
date -u +%FT%TZ > $S/fmt.end
