#!/usr/bin/env bash
# Dev training runs with LoRA adapters (train.lora.enabled) from E2's boosted model (rule-style reflections) and
# mined failures, t4's settings otherwise (configs/countdown-long.yaml cut to 16 steps: re-mining every 8 steps,
# mixed curriculum). $1 = name, rest = --set overrides (the learning rate). Code pinned at 83a8a95.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-83a8a95 TOKENIZERS_PARALLELISM=false
R=/work/main/.venv/bin/reflectrl
B=/work/exp/e2-rule
O=/work/exp/$1; shift
C="--config /work/exp/code-83a8a95/configs/countdown-long.yaml --set model.threads=1 --set train.steps=16 --set train.lora.enabled=true"
$R train $C "$@" --model $B/boost/model --failures $B/mine/failures.jsonl --out $O/train
$R eval $C "$@" --model $O/train/model --split dev --limit 300 --out $O/eval-dev
