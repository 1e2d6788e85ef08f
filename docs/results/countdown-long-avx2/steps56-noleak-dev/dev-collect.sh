#!/usr/bin/env bash
# Copy the dev check's evidence so far into docs/results/countdown-long-avx2/steps56-noleak-dev.
D=/work/main/docs/results/countdown-long-avx2/steps56-noleak-dev; O=/work/exp/s45
cp $O/dev.sh $O/dev-analyze.sh $O/dev-collect.sh $D/
for N in plain0 nl0 plain1 nl1 plain2 nl2 plain3 nl3; do
  [ -f $O/dev-$N/summary.json ] || continue
  mkdir -p $D/eval-dev-$N
  cp $O/dev-$N/summary.json $O/dev-$N/eval_identity.json $D/eval-dev-$N/
  head -40 $O/dev-$N/samples.jsonl > $D/eval-dev-$N/samples-first40.jsonl
  grep -A30 'Command being timed' $O/dev-$N.log > $D/eval-dev-$N/time-v.txt
done
cp $O/dev-paired-*.json $D/ 2>/dev/null
nice $O/dev-analyze.sh > $D/dev-analysis.txt 2>&1
