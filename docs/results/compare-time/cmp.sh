#!/usr/bin/env bash
# R3 vs GRPO at equal training wall time (300 s each), from the long run's boosted model and mined failures;
# 100 test problems, 2 turns. Run alone on the machine, one algorithm after another, 2 threads.
set -euo pipefail
cd /work/exp
export PYTHONPATH=/work/exp/code-fc23500
/work/main/.venv/bin/reflectrl compare --config /work/main/configs/countdown-long.yaml \
  --set out_dir=/work/exp/cmp-time --set train.budget_seconds=300 --set train.steps=1000 \
  --set train.lr_scheduler=constant --set train.remine_every=null --set eval.limit=100 \
  --set 'compare.algorithms=[reflect-prompt, grpo, r3]' --set compare.turns=2
