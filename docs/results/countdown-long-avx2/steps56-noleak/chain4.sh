#!/usr/bin/env bash
# Stop 45, addendum 3: no-leak seeds 3 and 4 after seed 2 (chain3.sh), each trained then evaluated on test once.
# Seed 4 starts only if seed 3's test evaluation ended by 05:55 UTC.
cd /work/exp/code-7a37a4d
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s45; L=/work/exp/s40/l56
while [ ! -f $R/test2.end ] && [ ! -f $R/train2.end -o "$(cat $R/train2.rc 2>/dev/null)" = "rc=0" ]; do sleep 20; done
for S in 3 4; do
  if [ $S = 4 ] && [ "$(date -u +%H%M)" -gt 0555 ]; then echo "seed 3 ended after 05:55; seed 4 not started" > $R/chain4.skipped; exit 0; fi
  date -u +%FT%TZ > $R/train$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
    --model $L/boost/model --failures $L/mine/failures.jsonl --set train.steps=56 --set train.seed=$S \
    --set 'train.reflection_format=start from \d+ [-+*/] \d+' --set train.format_reward=0.1 \
    --set train.reward_leaks=false \
    --out $R/seed$S/train > $R/train$S.log 2>&1
  rc=$?; echo "rc=$rc" > $R/train$S.rc; date -u +%FT%TZ > $R/train$S.end
  [ $rc -eq 0 ] || exit $rc
  date -u +%FT%TZ > $R/test$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
    --model $R/seed$S/train/model --split test --out $R/test-seed$S > $R/test$S.log 2>&1
  echo "rc=$?" > $R/test$S.rc; date -u +%FT%TZ > $R/test$S.end
done
