#!/usr/bin/env bash
# Stop 46: finish the dev check (steps56-noleak-dev/plan.txt: plain2 resumes, then nl2, plain3, nl3), then resume
# no-leak seed 4 from its step-4 checkpoint and evaluate it on test once (steps56-noleak/plan.txt addendum 6).
# Frozen code 7a37a4d; everything is cut at 09:50 UTC (a cut run resumes with the same command).
cd /work/exp/code-7a37a4d
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
O=/work/exp/s45; L=/work/exp/s40/l56; CUT=$(date -d 09:50 +%s)
declare -A M=([plain2]=/work/exp/s42/seed2/train/model [nl2]=/work/exp/s44/seed2/train/model
              [plain3]=/work/exp/s43/seed3/train/model [nl3]=/work/exp/s45/seed3/train/model)
run() {  # name, command...
  local n=$1; shift; local left=$(( CUT - $(date +%s) )); [ $left -gt 60 ] || exit 0
  date -u +%FT%TZ > $O/$n.start
  /usr/bin/time -v timeout --signal=TERM --kill-after=30 $left "$@" > $O/$n.log 2>&1
  local rc=$?; echo "rc=$rc" > $O/$n.rc; date -u +%FT%TZ > $O/$n.end; return $rc
}
for N in plain2 nl2 plain3 nl3; do
  mv -f $O/dev-$N.log $O/dev-$N.log.s45 2>/dev/null
  run dev-$N /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml --model ${M[$N]} \
    --split dev --out $O/dev-$N || exit 1
done
mv -f $O/train4.log $O/train4.log.s45
run train4 /work/main/.venv/bin/reflectrl train --config configs/countdown-long.yaml \
  --model $L/boost/model --failures $L/mine/failures.jsonl --set train.steps=56 --set train.seed=4 \
  --set 'train.reflection_format=start from \d+ [-+*/] \d+' --set train.format_reward=0.1 \
  --set train.reward_leaks=false --out $O/seed4/train --resume || exit 1
run test4 /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model $O/seed4/train/model --split test --out $O/test-seed4
