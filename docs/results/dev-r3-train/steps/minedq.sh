#!/usr/bin/env bash
# The long run's trained (40 steps) and boosted models on the 200 mining queries themselves (train split 720-919,
# the queries R3 trained on): does the training reward's rise show up there while dev falls? $1 = name, $2 = model.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-7928048
R=/work/main/.venv/bin/reflectrl
C="--config /work/exp/code-7928048/configs/countdown-long.yaml --set model.threads=1"
$R eval $C --model $2 --split train --set eval.offset=720 --limit 200 --out /work/exp/minedq/$1
