#!/bin/bash
# §8k again (seed 2, format reward) with train.reward_leaks=false: a reflection holding a whole equation earns 0.
set -e
S=/work/exp/s37
L=/work/exp/s33/long
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s33/cache
export REFLECTRL_FAST_BF16=0 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
cd /work/exp/code-35d5c70
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
date -u +%FT%TZ > $S/nl2.start
rr train --config configs/countdown-long.yaml --set train.seed=2 \
  --set 'train.reflection_format=start from \d+ [-+*/] \d+' --set train.format_reward=0.1 \
  --set train.reward_leaks=false \
  --model $L/boost/model --failures $L/mine/failures.jsonl --out $S/nl2/train
date -u +%FT%TZ > $S/nl2.trained
rr eval --config configs/countdown-long.yaml --model $S/nl2/train/model --split dev --out $S/nl2/eval-trained
date -u +%FT%TZ > $S/nl2.end
