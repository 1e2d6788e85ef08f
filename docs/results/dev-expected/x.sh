#!/usr/bin/env bash
# x: t4's settings (the long config at 16 steps) with R3's reward as the expected retry success: $1 = name, rest = --set overrides.
set -x
cd /work/exp/code-64acd22; export PYTHONPATH=/work/exp/code-64acd22
R=/work/main/.venv/bin/reflectrl
B=/work/exp/e2-rule
O=/work/exp/$1; shift
C="-c configs/countdown-long.yaml --set model.threads=1 --set train.steps=16 --set train.retry_reward=expected"
$R train $C "$@" --model $B/boost/model --failures $B/mine/failures.jsonl --out $O/train
$R eval $C "$@" --model $O/train/model --split dev --limit 300 --out $O/eval-dev
