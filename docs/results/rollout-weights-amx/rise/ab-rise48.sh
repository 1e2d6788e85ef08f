#!/usr/bin/env bash
# RISE collection from fp32 weights (36fc0fd) vs a bf16 copy (f13579e): one round of 48 queries in chunks of 16, training cut to one step from the long run's boost.
O=/work/exp/s48; L=/work/exp/s47/long
export TOKENIZERS_PARALLELISM=false
for arm in new old old new; do
  n=$(ls -d $O/rise48-$arm-* 2>/dev/null | wc -l)
  out=$O/rise48-$arm-$n
  cd $O/code-$arm
  echo "$arm $n start $(date -u +%T)"
  PYTHONPATH=$PWD /usr/bin/time -v /work/main/.venv/bin/reflectrl train --config configs/compare-countdown.yaml \
    --algorithm rise --model $L/boost/model --failures $L/mine/failures.jsonl \
    --set rise.rounds=1 --set rise.queries_per_round=48 --set rise.chunk_size=16 --set rise.epochs=0.05 --set train.budget_tokens=1000000 --out $out > $out.log 2>&1
  echo "$arm $n rc=$? end $(date -u +%T)"
done
