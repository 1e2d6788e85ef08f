#!/usr/bin/env bash
# Copy the evidence of plan addenda 10-11 into docs/results/countdown-long-amx/seeds/.
D=/work/main/docs/results/countdown-long-amx/seeds; mkdir -p $D
cp /work/exp/s50/fresh3-resume.sh /work/exp/s51/guard4.sh /work/exp/s51/collect.sh /work/exp/s51/chain.sh /work/exp/s51/chain5.sh /work/exp/s51/analyze-seeds.sh /work/exp/s51/seeds.txt $D/
keep() {  # keep FOLDER NAME LOG
  [ -f $1/summary.json ] || return 0
  mkdir -p $D/$2 && cp $1/summary.json $D/$2/ && head -40 $1/samples.jsonl > $D/$2/samples-first40.jsonl
  grep -A30 'Command being timed' $3 > $D/time-v-$2.txt
}
keep /work/exp/s50/fresh-guard3 fresh-guard3 /work/exp/s50/fresh3.log
for S in 4 5; do
  O=/work/exp/s51
  grep -qs rc=0 $O/train$S.rc && cp $O/guard$S/train/metrics.jsonl $D/train-metrics-guard$S.jsonl
  grep -qs rc=0 $O/train$S.rc && grep -A30 'Command being timed' $O/train$S.log > $D/time-v-train-guard$S.txt
  keep $O/dev-guard$S dev-guard$S $O/dev$S.log
  keep $O/fresh-guard$S fresh-guard$S $O/fresh$S.log
done
find $D -empty -type f -delete
