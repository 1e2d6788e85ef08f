#!/usr/bin/env bash
# E1: the current boost format ("value": the reflection states the failed equation's true value), 720 boost problems.
set -x
cd /work/main
R=.venv/bin/reflectrl
C="-c configs/countdown-default.yaml --set model.threads=1 --set boost.examples=720 --set mine.queries=200"
O=/work/exp/$1
$R boost $C ${2:+--set task.options.reflection_style=$2} --out $O/boost
$R eval $C --model $O/boost/model --split dev --limit 300 --out $O/eval-dev
$R mine $C --model $O/boost/model --out $O/mine
