#!/usr/bin/env bash
# Vanilla GRPO (answer reward, group std scaling) from the same hint boost and mined queries, at R3's measured
# training wall time (hlb = the long config's train stage: train_seconds 2127), constant lr 2e-5 (as §8b), 1 thread;
# then its one test evaluation with the long config's settings. Code: frozen worktree at 34145c1.
set -x
cd /work/exp/code-34145c1
export TOKENIZERS_PARALLELISM=false
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
C="-c configs/countdown-long.yaml --set model.threads=1"
O=/work/exp/s28/grpo
rr train $C --algorithm grpo --set train.scale_rewards=group --set train.budget_seconds=2127 --set train.steps=1000 \
  --set train.lr_scheduler=constant --model /work/exp/s28/long-hint/boost/model \
  --failures /work/exp/s28/long-hint/mine/failures.jsonl --out $O/train || exit 1
rr eval $C --model $O/train/model --split test --limit 500 --out $O/eval-test
