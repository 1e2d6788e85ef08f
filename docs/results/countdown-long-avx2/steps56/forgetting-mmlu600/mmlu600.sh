#!/usr/bin/env bash
# After the fresh-clone CI: MMLU cloze on 600 topic-stratified questions for the 56-step config's boost and model
# (seed 0), paired; bounded to 35 min (the 2,000-question run projected over an hour per model here).
while [ ! -f /tmp/ci.rc ]; do sleep 10; done
cd /work/exp/code-60d70bd
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
date -u +%FT%TZ > /work/exp/s41/mmlu600.start
timeout 2100 /usr/bin/time -v /work/main/.venv/bin/reflectrl forgetting --model /work/exp/s40/l56/boost/model \
  --model /work/exp/s40/l56/train/model --benchmarks mmlu --limit 600 --set model.dtype=fp32 --set model.threads=2 \
  --out /work/exp/s41/forget-mmlu600 > /work/exp/s41/mmlu600.log 2>&1
echo "rc=$?" > /work/exp/s41/mmlu600.rc; date -u +%FT%TZ > /work/exp/s41/mmlu600.end
