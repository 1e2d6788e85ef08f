#!/usr/bin/env bash
# hx: R3 (expected reward, t4's settings at 16 steps) from the hint-style boost: mine, train, dev eval.
set -x
cd /work/main
export TOKENIZERS_PARALLELISM=false
R=.venv/bin/reflectrl
B=/work/exp/h-hint
C="-c configs/countdown-long.yaml --set model.threads=1 --set task.options.reflection_style=hint"
$R mine $C --model $B/boost/model --out $B/mine
$R train $C --set train.steps=16 --set train.retry_reward=expected --model $B/boost/model --failures $B/mine/failures.jsonl --out /work/exp/hx/train
$R eval $C --model /work/exp/hx/train/model --split dev --limit 300 --out /work/exp/hx/eval-dev
