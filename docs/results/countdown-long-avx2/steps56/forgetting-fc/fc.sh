#!/bin/bash
# Cross-task forgetting check for the 56-step config's model vs its boost, as §8f's and §8i's function-calling rows.
while [ ! -f /tmp/ci.end ]; do sleep 15; done
export TOKENIZERS_PARALLELISM=false
cd /work/exp/code-60d70bd
date -u +%FT%TZ > /work/exp/s40/fc.start
PYTHONPATH=$PWD /work/main/.venv/bin/reflectrl forgetting --model /work/exp/s40/l56/boost/model \
  --model /work/exp/s40/l56/train/model --benchmarks function_calling --limit 100 --set engine.batch_size=16 \
  --set model.threads=2 --out /work/exp/s40/forget-fc
echo "rc=$?" > /work/exp/s40/fc.rc
date -u +%FT%TZ > /work/exp/s40/fc.end
