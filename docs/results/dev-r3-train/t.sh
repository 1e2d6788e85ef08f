#!/usr/bin/env bash
# A dev training run from E2's boosted model (rule-style reflections) and mined failures: $1 = name, rest = --set overrides.
set -x
cd /work/main
R=.venv/bin/reflectrl
B=/work/exp/e2-rule
O=/work/exp/$1; shift
C="-c configs/countdown-long.yaml --set model.threads=1 --set train.steps=16"
$R train $C "$@" --model $B/boost/model --failures $B/mine/failures.jsonl --out $O/train
$R eval $C "$@" --model $O/train/model --split dev --limit 300 --out $O/eval-dev
