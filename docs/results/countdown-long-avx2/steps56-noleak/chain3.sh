#!/usr/bin/env bash
# Stop 45: finish §8r's seed 2 from its step-44 checkpoint (chain2.sh's command plus --resume), then its test evaluation.
cd /work/exp/code-7a37a4d
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
R=/work/exp/s44; L=/work/exp/s40/l56; S=2; O=/work/exp/s45
date -u +%FT%TZ > $O/train$S.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
  --model $L/boost/model --failures $L/mine/failures.jsonl --set train.steps=56 --set train.seed=$S \
  --set 'train.reflection_format=start from \d+ [-+*/] \d+' --set train.format_reward=0.1 \
  --set train.reward_leaks=false \
  --out $R/seed$S/train --resume > $O/train$S.log 2>&1
rc=$?; echo "rc=$rc" > $O/train$S.rc; date -u +%FT%TZ > $O/train$S.end
[ $rc -eq 0 ] || exit $rc
date -u +%FT%TZ > $O/test$S.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model $R/seed$S/train/model --split test --out $R/test-seed$S > $O/test$S.log 2>&1
echo "rc=$?" > $O/test$S.rc; date -u +%FT%TZ > $O/test$S.end
