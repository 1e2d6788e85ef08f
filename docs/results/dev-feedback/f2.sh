#!/usr/bin/env bash
# R3 with the verifier-feedback variant on dev, t4's settings (the long config cut to 16 steps), code pinned at
# 443c97f. $1 = name, $2 = boost folder (its boost/model and mine/failures.jsonl), rest = --set overrides.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-443c97f
R=/work/main/.venv/bin/reflectrl
O=/work/exp/$1; B=$2; shift 2
C="--config /work/exp/code-443c97f/configs/countdown-long.yaml --set model.threads=1 --set train.steps=16 --set episode.feedback=true"
$R train $C "$@" --model $B/boost/model --failures $B/mine/failures.jsonl --out $O/train
$R eval $C "$@" --model $O/train/model --split dev --limit 300 --out $O/eval-dev
