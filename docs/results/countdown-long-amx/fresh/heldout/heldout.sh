#!/usr/bin/env bash
# Stop 50, plan addendum 9: guard seed 2 and its boost on section 8c's held-out distribution, once.
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
O=/work/exp/s50
for pair in boost=/work/exp/s47/long/boost/model guard2=/work/exp/s49/guard2/train/model; do
  N=${pair%%=*}; M=${pair#*=}
  if [ -f $O/stop ]; then echo "heldout-$N cut (stop file)" >> $O/cut.txt; continue; fi
  date -u +%FT%TZ > $O/heldout-$N.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml --task-opt seed=7 \
    --task-opt max_number=50 --task-opt max_target=200 --model $M --split test --limit 500 --out $O/heldout-$N \
    > $O/heldout-$N.log 2>&1
  echo "rc=$?" > $O/heldout-$N.rc; date -u +%FT%TZ > $O/heldout-$N.end
done
