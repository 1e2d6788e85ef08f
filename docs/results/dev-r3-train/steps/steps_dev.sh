#!/usr/bin/env bash
# Dev evaluation of the long run's (40 steps) and long24's (24 steps) trained models: the steps axis on dev,
# t4's eval settings (code 7928048, countdown-long config, 1 thread, dev 300). $1 = run folder name.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-7928048
R=/work/main/.venv/bin/reflectrl
C="--config /work/exp/code-7928048/configs/countdown-long.yaml --set model.threads=1"
$R eval $C --model /work/exp/$1/train/model --split dev --limit 300 --out /work/exp/$1/eval-dev
