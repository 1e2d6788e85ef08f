#!/usr/bin/env bash
# The new long run's boosted and trained models on Countdown from another distribution (task seed 7, numbers
# 1-50, targets up to 200), 500 test problems each; as §8c, code at 34145c1 (frozen worktree).
set -x
cd /work/exp/code-34145c1
export TOKENIZERS_PARALLELISM=false
C="--config configs/countdown-long.yaml --set model.threads=1 --task-opt seed=7 --task-opt max_number=50 --task-opt max_target=200"
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" eval $C --model /work/exp/s28/long-hint/$1/model --split test --limit 500 --out /work/exp/s28/heldout/$1
