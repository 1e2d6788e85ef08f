#!/usr/bin/env bash
# steps56-noleak-dev plan, addendum 2: seed 4's pair on dev, a read-out after the decision (not part of the rule).
# Runs after this sitting's fresh-clone CI; frozen code 7a37a4d; cut at 10:05 UTC.
while [ ! -f /tmp/ci.end ]; do sleep 15; done
cd /work/exp/code-7a37a4d
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
O=/work/exp/s45; CUT=$(date -d 10:05 +%s)
declare -A M=([nl4]=/work/exp/s45/seed4/train/model [plain4]=/work/exp/s43/seed4/train/model)
for N in nl4 plain4; do
  left=$(( CUT - $(date +%s) )); [ $left -gt 60 ] || exit 0
  date -u +%FT%TZ > $O/dev-$N.start
  /usr/bin/time -v timeout --signal=TERM --kill-after=30 $left /work/main/.venv/bin/reflectrl eval \
    --config configs/countdown-long.yaml --model ${M[$N]} --split dev --out $O/dev-$N > $O/dev-$N.log 2>&1
  echo "rc=$?" > $O/dev-$N.rc; date -u +%FT%TZ > $O/dev-$N.end
done
