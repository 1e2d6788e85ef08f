#!/bin/bash
# §8k again (seed 1, format reward) with train.reward_leaks=false: a reflection holding a whole equation earns 0.
set -e
S=/work/exp/s35
L=/work/exp/s33/long
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s33/cache
export REFLECTRL_FAST_BF16=0 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
cd /work/exp/code-5312a3d
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
date -u +%FT%TZ > $S/nl.start
rr train --config configs/countdown-long.yaml --set train.seed=1 \
  --set 'train.reflection_format=start from \d+ [-+*/] \d+' --set train.format_reward=0.1 \
  --set train.reward_leaks=false \
  --model $L/boost/model --failures $L/mine/failures.jsonl --out $S/nl/train
date -u +%FT%TZ > $S/nl.trained
rr eval --config configs/countdown-long.yaml --model $S/nl/train/model --split dev --out $S/nl/eval-trained
date -u +%FT%TZ > $S/nl.end
