#!/usr/bin/env bash
# Stop 51: resume guard seed 3's fresh-dev evaluation (eval3.sh's second command; the sitting ended mid-run).
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
O=/work/exp/s50
date -u +%FT%TZ >> $O/fresh3.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml --model $O/guard3/train/model \
  --split dev --set eval.offset=500 --set eval.limit=1000 --out $O/fresh-guard3 >> $O/fresh3.log 2>&1
echo "rc=$?" >> $O/fresh3.rc; date -u +%FT%TZ >> $O/fresh3.end
