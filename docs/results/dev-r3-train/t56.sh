#!/usr/bin/env bash
# Dev training runs from E2's boosted model (rule-style reflections) and mined failures, t4's settings
# (configs/countdown-long.yaml cut to 16 steps: lr 1e-5, re-mining every 8 steps, mixed curriculum) plus one lever.
# $1 = name, rest = --set overrides. Code pinned at 7928048.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-7928048
R=/work/main/.venv/bin/reflectrl
B=/work/exp/e2-rule
O=/work/exp/$1; shift
C="--config /work/exp/code-7928048/configs/countdown-long.yaml --set model.threads=1 --set train.steps=16"
$R train $C "$@" --model $B/boost/model --failures $B/mine/failures.jsonl --out $O/train
$R eval $C "$@" --model $O/train/model --split dev --limit 300 --out $O/eval-dev
