#!/usr/bin/env bash
# steps56-noleak-dev/plan.txt: each model on dev once, in pair order, frozen code 7a37a4d; stops at 07:12 UTC
# (a cut evaluation resumes from its samples.jsonl with the same command).
cd /work/exp/code-7a37a4d
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
O=/work/exp/s45
declare -A M=([plain0]=/work/exp/s40/l56/train/model [nl0]=/work/exp/s44/seed0/train/model
              [plain1]=/work/exp/s41/seed1/train/model [nl1]=/work/exp/s44/seed1/train/model
              [plain2]=/work/exp/s42/seed2/train/model [nl2]=/work/exp/s44/seed2/train/model
              [plain3]=/work/exp/s43/seed3/train/model [nl3]=/work/exp/s45/seed3/train/model)
for N in plain0 nl0 plain1 nl1 plain2 nl2 plain3 nl3; do
  left=$(( $(date -d 07:12 +%s) - $(date +%s) )); [ $left -gt 60 ] || exit 0
  date -u +%FT%TZ > $O/dev-$N.start
  /usr/bin/time -v timeout --signal=TERM --kill-after=30 $left /work/main/.venv/bin/reflectrl eval \
    --config configs/countdown-long.yaml --model ${M[$N]} --split dev --out $O/dev-$N > $O/dev-$N.log 2>&1
  echo "rc=$?" > $O/dev-$N.rc; date -u +%FT%TZ > $O/dev-$N.end
done
