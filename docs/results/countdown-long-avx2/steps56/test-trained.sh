#!/usr/bin/env bash
# After test-boost.sh: the 56-step model on the same 500 test problems (the config's one test evaluation).
while [ ! -f /work/exp/s40/test-boost.rc ]; do sleep 20; done
cd /work/exp/code-60d70bd
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
date -u +%FT%TZ > /work/exp/s40/test-trained.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model /work/exp/s40/l56/train/model --split test --out /work/exp/s40/test-trained
echo "rc=$?" > /work/exp/s40/test-trained.rc
date -u +%FT%TZ > /work/exp/s40/test-trained.end
