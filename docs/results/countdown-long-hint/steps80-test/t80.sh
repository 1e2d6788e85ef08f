#!/usr/bin/env bash
# The 80-step variant (hlb80's model: the long config with train.steps=80) on the test split, once; evaluated
# after §8e's 40-step test figures were known (dev evidence: §7l). Code: frozen worktree 34145c1.
set -x
cd /work/exp/code-34145c1
export TOKENIZERS_PARALLELISM=false
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" eval -c configs/countdown-long.yaml --set model.threads=1 --model /work/exp/s27/hlb80/train/model --split test --limit 500 --out /work/exp/s28/t80/eval-test
