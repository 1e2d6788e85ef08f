#!/usr/bin/env bash
# After l56.sh: the boosted model (the same for any step count) on the 500 test problems, fp32 on this CPU.
while [ ! -f /work/exp/s40/l56.rc ]; do sleep 20; done
cd /work/exp/code-60d70bd
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
date -u +%FT%TZ > /work/exp/s40/test-boost.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model /work/exp/s40/l56/boost/model --split test --out /work/exp/s40/test-boost
echo "rc=$?" > /work/exp/s40/test-boost.rc
date -u +%FT%TZ > /work/exp/s40/test-boost.end
