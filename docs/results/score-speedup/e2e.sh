#!/usr/bin/env bash
# End-to-end: the first 10 R3 steps of the 56-step config with the new scoring (code 2c9a49f), seed 0, from the l56
# boost and mined failures: compare per-step rollout time with the l56 run's same steps (old code, 60d70bd).
cd /work/exp/code-2c9a49f
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
L=/work/exp/s40/l56; R=/work/exp/s41
date -u +%FT%TZ > $R/e2e.start
/work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml --model $L/boost/model \
  --failures $L/mine/failures.jsonl --set train.steps=56 --set train.budget_seconds=660 --out $R/e2e/train > $R/e2e.log 2>&1
echo "rc=$?" > $R/e2e.rc; date -u +%FT%TZ > $R/e2e.end
