#!/usr/bin/env bash
# Forgetting of the new long run (§8e): hint boost (A) vs R3-trained hlb (B), MMLU cloze on 2,000
# topic-stratified test questions, then BFCL function calling (first 100 test problems, greedy).
set -euo pipefail
cd /work/exp/code-46a7439
run() { /work/main/.venv/bin/python -c 'from reflectrl.cli import main; main()' "$@"; }
M="--model /work/exp/s28/long-hint/boost/model --model /work/exp/s28/long-hint/train/model"
run forgetting $M --benchmarks mmlu --limit 2000 --set model.dtype=fp32 --set model.threads=1 --out /work/exp/s29/forget-mmlu
run forgetting $M --benchmarks function_calling --limit 100 --set engine.batch_size=16 --set model.threads=1 --out /work/exp/s29/forget-fc
