#!/usr/bin/env bash
# Stop 50, plan addendum 8: the boost and guard seed 2 (best of six on dev) on test once; waits for the test suite.
cd /work/exp/s47/code-a76f0ad
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
O=/work/exp/s50
while [ ! -f /tmp/ci.end ]; do sleep 10; done
for pair in boost=/work/exp/s47/long/boost/model guard2=/work/exp/s49/guard2/train/model; do
  N=${pair%%=*}; M=${pair#*=}
  if [ -f $O/stop ]; then echo "test-$N cut (stop file)" >> $O/cut.txt; continue; fi
  date -u +%FT%TZ > $O/test-$N.start
  /usr/bin/time -v /work/main/.venv/bin/reflectrl eval --config configs/countdown-long.yaml --model $M \
    --out $O/test-$N > $O/test-$N.log 2>&1
  echo "rc=$?" > $O/test-$N.rc; date -u +%FT%TZ > $O/test-$N.end
done
