#!/usr/bin/env bash
# Long config at 56 steps (to fit 2 h on a real AVX2-only EPYC), evaluated on dev; boost, eval-start and mining
# copied from /work/exp/s39/long (same code 60d70bd, same config except train.steps); frozen code 60d70bd.
cd /work/exp/code-60d70bd
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
date -u +%FT%TZ > /work/exp/s40/l56.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl run --config configs/countdown-long.yaml \
  --set out_dir=/work/exp/s40/l56 --set eval.split=dev --set train.steps=56
echo "rc=$?" > /work/exp/s40/l56.rc
date -u +%FT%TZ > /work/exp/s40/l56.end
