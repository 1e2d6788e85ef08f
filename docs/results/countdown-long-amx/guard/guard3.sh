#!/usr/bin/env bash
# Stop 50, plan addendum 10: guard seed 3, trained as seeds 0-2 (addendum 4). Rerun to resume after a kill.
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
L=/work/exp/s47/long; O=/work/exp/s50
R=""; [ -d $O/guard3/train/checkpoints ] && R="--resume"
date -u +%FT%TZ >> $O/train3.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
  --model $L/boost/model --failures $L/mine/failures.jsonl --set train.seed=3 --set train.beta=0.04 \
  --out $O/guard3/train $R >> $O/train3.log 2>&1
echo "rc=$?" >> $O/train3.rc; date -u +%FT%TZ >> $O/train3.end
