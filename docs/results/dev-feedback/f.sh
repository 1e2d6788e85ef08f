#!/usr/bin/env bash
# The verifier-feedback variant on dev (code pinned at 443c97f). $1 = name, $2 = model, rest = --set overrides.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-443c97f
R=/work/main/.venv/bin/reflectrl
O=/work/exp/$1; M=$2; shift 2
C="--config /work/exp/code-443c97f/configs/countdown-long.yaml --set model.threads=1 --set episode.feedback=true"
$R eval $C "$@" --model $M --split dev --limit 300 --out $O/eval-dev
