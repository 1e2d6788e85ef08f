#!/usr/bin/env bash
# Stop 49 (plan addenda 4-5): the KL drift guard (train.beta=0.04), seeds 0-2, each evaluated on dev once (plan addendum 4).
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
L=/work/exp/s47/long; O=/work/exp/s49
for S in 0 1 2; do
  date -u +%FT%TZ > $O/train$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
    --model $L/boost/model --failures $L/mine/failures.jsonl --set train.seed=$S --set train.beta=0.04 \
    --out $O/guard$S/train > $O/train$S.log 2>&1
  echo "rc=$?" > $O/train$S.rc; date -u +%FT%TZ > $O/train$S.end
  date -u +%FT%TZ > $O/dev$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
    --model $O/guard$S/train/model --split dev --out $O/dev-guard$S > $O/dev$S.log 2>&1
  echo "rc=$?" > $O/dev$S.rc; date -u +%FT%TZ > $O/dev$S.end
done
