#!/usr/bin/env bash
# H: the long config's boost (720 problems) with hint-style reflections; its dev evaluation; probe.py on it.
set -x
cd /work/main
export TOKENIZERS_PARALLELISM=false
R=.venv/bin/reflectrl
C="-c configs/countdown-long.yaml --set model.threads=1 --set task.options.reflection_style=hint"
O=/work/exp/h-hint
$R boost $C --out $O/boost
$R eval $C --model $O/boost/model --split dev --limit 300 --out $O/eval-dev &
.venv/bin/python docs/results/dev-expected/probe.py $O/boost/model /work/exp/expected/probe-hint.jsonl 100 > /work/exp/expected/probe-hint.log 2>&1
wait
