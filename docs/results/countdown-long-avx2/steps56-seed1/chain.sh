#!/usr/bin/env bash
# Stop 41: seed-1 replicate of the 56-step long config (train + one test eval), then MMLU forgetting for seed 0.
cd /work/exp/code-60d70bd
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s41; L=/work/exp/s40/l56
date -u +%FT%TZ > $R/train.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
  --model $L/boost/model --failures $L/mine/failures.jsonl --set train.steps=56 --set train.seed=1 \
  --out $R/seed1/train > $R/train.log 2>&1
echo "rc=$?" > $R/train.rc; date -u +%FT%TZ > $R/train.end
date -u +%FT%TZ > $R/test.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model $R/seed1/train/model --split test --out $R/test-seed1 > $R/test.log 2>&1
echo "rc=$?" > $R/test.rc; date -u +%FT%TZ > $R/test.end
date -u +%FT%TZ > $R/mmlu.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl forgetting --model $L/boost/model --model $L/train/model \
  --benchmarks mmlu --limit 2000 --set model.dtype=fp32 --set model.threads=2 --out $R/forget-mmlu > $R/mmlu.log 2>&1
echo "rc=$?" > $R/mmlu.rc; date -u +%FT%TZ > $R/mmlu.end
