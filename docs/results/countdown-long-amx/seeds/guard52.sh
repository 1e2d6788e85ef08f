#!/usr/bin/env bash
# Stop 52, plan addendum 13 (continuing addendum 10): guard seed S (6, 7), trained as seeds 0-3 (addendum 4's train
# command, the a76f0ad clone), then evaluated on dev 0-499 (addendum 4's eval command) and dev 500-1499 (addendum 7's).
# Rerun to resume: training resumes from its checkpoints, evaluations from their chunks.
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
L=/work/exp/s47/long; O=/work/exp/s52; S=${S:?set S}
if ! grep -q 'rc=0' $O/train$S.rc 2>/dev/null; then
  R=""; [ -d $O/guard$S/train/checkpoints ] && R="--resume"
  date -u +%FT%TZ >> $O/train$S.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
    --model $L/boost/model --failures $L/mine/failures.jsonl --set train.seed=$S --set train.beta=0.04 \
    --out $O/guard$S/train $R >> $O/train$S.log 2>&1
  echo "rc=$?" >> $O/train$S.rc; date -u +%FT%TZ >> $O/train$S.end
  grep -q 'rc=0' $O/train$S.rc || exit 1
fi
date -u +%FT%TZ >> $O/dev$S.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model $O/guard$S/train/model --split dev --out $O/dev-guard$S >> $O/dev$S.log 2>&1
echo "rc=$?" >> $O/dev$S.rc; date -u +%FT%TZ >> $O/dev$S.end
date -u +%FT%TZ >> $O/fresh$S.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml --model $O/guard$S/train/model \
  --split dev --set eval.offset=500 --set eval.limit=1000 --out $O/fresh-guard$S >> $O/fresh$S.log 2>&1
echo "rc=$?" >> $O/fresh$S.rc; date -u +%FT%TZ >> $O/fresh$S.end
