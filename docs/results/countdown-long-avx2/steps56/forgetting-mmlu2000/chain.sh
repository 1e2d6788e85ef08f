#!/usr/bin/env bash
# Stop 42: seed-2 replicate of the 56-step long config (train + one test eval), then MMLU (2,000) for seed 0.
cd /work/exp/code-89278a7
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s42; L=/work/exp/s40/l56
date -u +%FT%TZ > $R/train.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
  --model $L/boost/model --failures $L/mine/failures.jsonl --set train.steps=56 --set train.seed=2 \
  --out $R/seed2/train > $R/train.log 2>&1
echo "rc=$?" > $R/train.rc; date -u +%FT%TZ > $R/train.end
date -u +%FT%TZ > $R/test.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model $R/seed2/train/model --split test --out $R/test-seed2 > $R/test.log 2>&1
echo "rc=$?" > $R/test.rc; date -u +%FT%TZ > $R/test.end
date -u +%FT%TZ > $R/mmlu.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl forgetting --model $L/boost/model --model $L/train/model \
  --benchmarks mmlu --limit 2000 --set model.dtype=fp32 --set model.threads=2 --out $R/forget-mmlu2000 > $R/mmlu.log 2>&1
echo "rc=$?" > $R/mmlu.rc; date -u +%FT%TZ > $R/mmlu.end
