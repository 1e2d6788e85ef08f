#!/usr/bin/env bash
# Copy the evidence of plan addendum 13's seeds (6, 7) into docs/results/countdown-long-amx/seeds/.
D=/work/main/docs/results/countdown-long-amx/seeds; O=/work/exp/s52
cp $O/guard.sh $D/guard52.sh; cp $O/chain.sh $D/chain52.sh; cp $O/collect.sh $D/collect52.sh; cp $O/seeds.txt $D/seeds-stop52.txt
keep() {  # keep FOLDER NAME LOG
  [ -f $1/summary.json ] || return 0
  mkdir -p $D/$2 && cp $1/summary.json $D/$2/ && head -40 $1/samples.jsonl > $D/$2/samples-first40.jsonl
  grep -A30 'Command being timed' $3 > $D/time-v-$2.txt
}
for S in 6 7; do
  grep -qs rc=0 $O/train$S.rc && cp $O/guard$S/train/metrics.jsonl $D/train-metrics-guard$S.jsonl
  grep -qs rc=0 $O/train$S.rc && grep -A30 'Command being timed' $O/train$S.log > $D/time-v-train-guard$S.txt
  keep $O/dev-guard$S dev-guard$S $O/dev$S.log
  keep $O/fresh-guard$S fresh-guard$S $O/fresh$S.log
done
find $D -empty -type f -delete
