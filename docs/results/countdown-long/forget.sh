#!/usr/bin/env bash
# Forgetting of the long run: boosted (A) vs R3-trained (B), MMLU cloze on 2,000 topic-stratified test
# questions, then BFCL function calling (first 100 test problems, greedy) as the cross-task check.
set -euo pipefail
cd /work/exp
export PYTHONPATH=/work/exp/code-75ca55d
R=/work/main/.venv/bin/reflectrl
M="--model /work/exp/long/boost/model --model /work/exp/long/train/model"
$R forgetting $M --benchmarks mmlu --limit 2000 --set model.dtype=fp32 --out /work/exp/forget-long-mmlu
$R forgetting $M --benchmarks function_calling --limit 100 --set engine.batch_size=16 --out /work/exp/forget-long-fc
