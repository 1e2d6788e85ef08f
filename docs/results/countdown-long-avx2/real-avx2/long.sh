#!/usr/bin/env bash
# Long config on a real AVX2-only 2-core EPYC, evaluated on dev (timing + a replicate); frozen code 60d70bd.
cd /work/exp/code-60d70bd
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
date -u +%FT%TZ > /work/exp/s39/long.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl run --config configs/countdown-long.yaml \
  --set out_dir=/work/exp/s39/long --set eval.split=dev
echo "rc=$?" > /work/exp/s39/long.rc
date -u +%FT%TZ > /work/exp/s39/long.end
