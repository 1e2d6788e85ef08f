#!/usr/bin/env bash
# The long run's boosted and trained models on a Countdown set from another distribution (task seed 7, numbers
# 1-50, targets up to 200: a number range and problems no stage of this project used), 500 test problems each.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-18cedf7
R=/work/main/.venv/bin/reflectrl
C="--config /work/exp/code-18cedf7/configs/countdown-long.yaml --set model.threads=1 --task-opt seed=7 --task-opt max_number=50 --task-opt max_target=200"
$R eval $C --model /work/exp/long/$1/model --split test --limit 500 --out /work/exp/heldout/$1
