#!/usr/bin/env bash
# The verifier-feedback variant from a boost that shows the feedback too (code pinned at 443c97f):
# boost (720 rule-style problems, feedback in the reflection rows), dev eval with feedback, mining.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-443c97f
R=/work/main/.venv/bin/reflectrl
O=/work/exp/f1-boost-feedback
C="--config /work/exp/code-443c97f/configs/countdown-long.yaml --set model.threads=1 --set episode.feedback=true"
$R boost $C --out $O/boost
$R eval $C --model $O/boost/model --split dev --limit 300 --out $O/eval-dev
$R mine $C --model $O/boost/model --out $O/mine
