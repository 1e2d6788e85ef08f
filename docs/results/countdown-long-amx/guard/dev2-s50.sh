#!/usr/bin/env bash
# Stop 50: the dev evaluation of guard seed 2 (plan addendum 4's command; rule and read-out unchanged).
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
O=/work/exp/s49
date -u +%FT%TZ > $O/dev2.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model $O/guard2/train/model --split dev --out $O/dev-guard2 > $O/dev2.log 2>&1
echo "rc=$?" > $O/dev2.rc; date -u +%FT%TZ > $O/dev2.end
