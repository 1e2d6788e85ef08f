#!/usr/bin/env bash
# After the base: slot A trains x1 (expected reward) then x3 (expected, batch-scaled advantages); slot B runs the
# noise-free retry analysis on the boosted model, then on each trained model once it exists.
while pgrep -f base.sh >/dev/null; do sleep 20; done
export TOKENIZERS_PARALLELISM=false
( /work/exp/x.sh x1-expected > /work/exp/x1.log 2>&1
  /work/exp/x.sh x3-expected-batch --set train.scale_rewards=batch > /work/exp/x3.log 2>&1 ) &
/work/main/docs/results/dev-expected/expected.sh boosted=/work/exp/e2-rule/boost/model
for x in x1-expected x3-expected-batch; do
  while [ ! -f /work/exp/$x/train/model/config.json ]; do sleep 30; done
  /work/main/docs/results/dev-expected/expected.sh ${x%%-*}=/work/exp/$x/train/model
done
wait
