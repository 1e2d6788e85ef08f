#!/usr/bin/env bash
# Rebuild the dev base (E2: rule-style boost on 720 problems, its dev eval, its mined failures), 1 thread.
set -x
cd /work/main
R=.venv/bin/reflectrl
C="-c configs/countdown-long.yaml --set model.threads=1"
O=/work/exp/e2-rule
$R boost $C --out $O/boost
$R mine $C --model $O/boost/model --out $O/mine &
$R eval $C --model $O/boost/model --split dev --limit 300 --out $O/eval-dev
wait
