#!/usr/bin/env bash
# Stop 48: seed 1 resumed from its step-20 checkpoint, then seed 2 from scratch; each evaluated on dev once (plan addendum 3).
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s47; L=$R/long; O=/work/exp/s48
for S in 1 2; do
  EXTRA=""; [ $S = 1 ] && EXTRA="--resume"
  date -u +%FT%TZ > $O/train$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
    --model $L/boost/model --failures $L/mine/failures.jsonl --set train.seed=$S \
    --out $R/seed$S/train $EXTRA > $O/train$S.log 2>&1
  echo "rc=$?" > $O/train$S.rc; date -u +%FT%TZ > $O/train$S.end
  date -u +%FT%TZ > $O/dev$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
    --model $R/seed$S/train/model --split dev --out $R/dev-seed$S > $O/dev$S.log 2>&1
  echo "rc=$?" > $O/dev$S.rc; date -u +%FT%TZ > $O/dev$S.end
done
