#!/usr/bin/env bash
# Stop 45, addendum 4: seed 4's training after the fresh-clone CI, if chain4.sh skipped it; cut at 06:55 UTC
# (resume with the same command plus --resume; its test evaluation is a later sitting's).
cd /work/exp/code-7a37a4d
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s45; L=/work/exp/s40/l56; S=4
[ -f $R/chain4.skipped ] || { echo "chain4 did not skip seed 4"; exit 0; }
while [ ! -f /tmp/ci.end ]; do sleep 20; done
date -u +%FT%TZ > $R/train$S.start
/usr/bin/time -v timeout --signal=TERM --kill-after=60 $(( $(date -d 06:55 +%s) - $(date +%s) )) \
  /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
  --model $L/boost/model --failures $L/mine/failures.jsonl --set train.steps=56 --set train.seed=$S \
  --set 'train.reflection_format=start from \d+ [-+*/] \d+' --set train.format_reward=0.1 \
  --set train.reward_leaks=false \
  --out $R/seed$S/train > $R/train$S.log 2>&1
echo "rc=$?" > $R/train$S.rc; date -u +%FT%TZ > $R/train$S.cut
