#!/usr/bin/env bash
# Seeds 1 and 2 of the long config on the AMX machine, same boost and failures as seed 0, each evaluated on dev once.
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s47; L=$R/long
for S in 1 2; do
  date -u +%FT%TZ > $R/train$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
    --model $L/boost/model --failures $L/mine/failures.jsonl --set train.seed=$S \
    --out $R/seed$S/train > $R/train$S.log 2>&1
  echo "rc=$?" > $R/train$S.rc; date -u +%FT%TZ > $R/train$S.end
  date -u +%FT%TZ > $R/dev$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
    --model $R/seed$S/train/model --split dev --out $R/dev-seed$S > $R/dev$S.log 2>&1
  echo "rc=$?" > $R/dev$S.rc; date -u +%FT%TZ > $R/dev$S.end
done
