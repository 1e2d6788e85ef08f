#!/usr/bin/env bash
# Stop 44, addendum: seed 2 after seeds 0 and 1, if seed 1's test evaluation ends by 03:20 UTC.
cd /work/exp/code-7a37a4d
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s44; L=/work/exp/s40/l56; S=2
while [ ! -f $R/test1.end ]; do sleep 20; done
[ "$(date -u +%H%M)" -le 0320 ] || { echo "seed 1 ended after 03:20; seed 2 not started" > $R/chain2.skipped; exit 0; }
date -u +%FT%TZ > $R/train$S.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
  --model $L/boost/model --failures $L/mine/failures.jsonl --set train.steps=56 --set train.seed=$S \
  --set 'train.reflection_format=start from \d+ [-+*/] \d+' --set train.format_reward=0.1 \
  --set train.reward_leaks=false \
  --out $R/seed$S/train > $R/train$S.log 2>&1
echo "rc=$?" > $R/train$S.rc; date -u +%FT%TZ > $R/train$S.end
date -u +%FT%TZ > $R/test$S.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model $R/seed$S/train/model --split test --out $R/test-seed$S > $R/test$S.log 2>&1
echo "rc=$?" > $R/test$S.rc; date -u +%FT%TZ > $R/test$S.end
