#!/usr/bin/env bash
# configs/countdown-long.yaml in one piece on the AMX machine, code frozen at a76f0ad, evaluated on dev.
cd /work/exp/s47/code-a76f0ad
export TOKENIZERS_PARALLELISM=false PYTHONPATH=/work/exp/s47/code-a76f0ad
date -u +%FT%TZ > /work/exp/s47/long.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl run --config configs/countdown-long.yaml \
  --set out_dir=/work/exp/s47/long --set eval.split=dev > /work/exp/s47/long.log 2> /work/exp/s47/long.err
echo $? > /work/exp/s47/long.rc
date -u +%FT%TZ > /work/exp/s47/long.end
