#!/usr/bin/env bash
# Stop 50, plan addendum 10: guard seed 3 on dev 0-499 (addendum 4's command), then dev 500-1499 (addendum 7's).
# Waits for guard3.sh; rerun to resume (eval resumes its own chunks).
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
O=/work/exp/s50
while [ ! -f $O/train3.rc ]; do sleep 10; done
grep -q 'rc=0' $O/train3.rc || exit 1
date -u +%FT%TZ >> $O/dev3.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml \
  --model $O/guard3/train/model --split dev --out $O/dev-guard3 >> $O/dev3.log 2>&1
echo "rc=$?" >> $O/dev3.rc; date -u +%FT%TZ >> $O/dev3.end
date -u +%FT%TZ >> $O/fresh3.start
/usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml --model $O/guard3/train/model \
  --split dev --set eval.offset=500 --set eval.limit=1000 --out $O/fresh-guard3 >> $O/fresh3.log 2>&1
echo "rc=$?" >> $O/fresh3.rc; date -u +%FT%TZ >> $O/fresh3.end
