#!/usr/bin/env bash
# Stop 43: seeds 3 and 4 of the 56-step long config, each trained then evaluated on test once.
cd /work/exp/code-89278a7
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s43; L=/work/exp/s40/l56
for S in 3 4; do
  date -u +%FT%TZ > $R/train$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
    --model $L/boost/model --failures $L/mine/failures.jsonl --set train.steps=56 --set train.seed=$S \
    --out $R/seed$S/train > $R/train$S.log 2>&1
  echo "rc=$?" > $R/train$S.rc; date -u +%FT%TZ > $R/train$S.end
  date -u +%FT%TZ > $R/test$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
    --model $R/seed$S/train/model --split test --out $R/test-seed$S > $R/test$S.log 2>&1
  echo "rc=$?" > $R/test$S.rc; date -u +%FT%TZ > $R/test$S.end
done
