#!/usr/bin/env bash
# Stop 50, plan addendum 7: the boost, plain seeds 0-2 and guard seeds 0-2 on 1,000 fresh dev problems (dev 500-1499).
# Waits for guard seed 2's dev evaluation; every evaluation must end by 21:35 UTC (a model that cannot is cut).
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
L=/work/exp/s47; G=/work/exp/s49; O=/work/exp/s50
while [ ! -f $G/dev2.end ]; do sleep 10; done
for pair in boost=$L/long/boost/model plain0=$L/long/train/model plain1=$L/seed1/train/model plain2=$L/seed2/train/model \
            guard0=$G/guard0/train/model guard1=$G/guard1/train/model guard2=$G/guard2/train/model; do
  N=${pair%%=*}; M=${pair#*=}
  if [ -f $O/stop ]; then echo "$N cut (stop file)" >> $O/cut.txt; continue; fi
  date -u +%FT%TZ > $O/$N.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml --model $M --split dev \
    --set eval.offset=500 --set eval.limit=1000 --out $O/fresh-$N > $O/$N.log 2>&1
  echo "rc=$?" > $O/$N.rc; date -u +%FT%TZ > $O/$N.end
done
