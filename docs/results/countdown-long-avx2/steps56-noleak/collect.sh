#!/usr/bin/env bash
# Copy stop 45's evidence (seeds 2-4) into docs/results (never overwriting plan.txt / chain*.sh).
D=/work/main/docs/results/countdown-long-avx2/steps56-noleak; O=/work/exp/s45
cp $O/analyze2.sh $O/vs_plain.py $O/collect.sh $D/
for S in 2 3 4; do
  R=$O; [ $S = 2 ] && R=/work/exp/s44   # seed 2's run and test folders are stop 44's; its logs are stop 45's
  [ -f $O/test$S.end ] || continue
  cp $R/seed$S/train/config.yaml $D/config-seed$S.yaml
  cp $R/seed$S/train/metrics.jsonl $D/train-metrics-seed$S.jsonl
  [ -f $R/seed$S/train/generated_tokens.json ] && cp $R/seed$S/train/generated_tokens.json $D/generated_tokens-seed$S.json
  grep -A30 'Command being timed' $O/train$S.log > $D/train-time-v-seed$S.txt
  grep -A30 'Command being timed' $O/test$S.log > $D/test-time-v-seed$S.txt
  mkdir -p $D/eval-test-seed$S
  cp $R/test-seed$S/summary.json $R/test-seed$S/eval_identity.json $D/eval-test-seed$S/
  head -40 $R/test-seed$S/samples.jsonl > $D/eval-test-seed$S/samples-first40.jsonl
done
[ -f $D/train-metrics-seed2.jsonl ] && rm -f $D/train-metrics-seed2-steps1-44.jsonl   # superseded by steps 1-56
cp $O/paired-test.json $D/paired-test.json
cp $O/paired-vs-plain.json $D/paired-vs-plain.json
for S in 2 3 4; do [ -f $O/paired-vs-plain$S.json ] && cp $O/paired-vs-plain$S.json $D/; done
