#!/usr/bin/env bash
# The new long config in one piece (1 thread: a dev job shares the machine), from a frozen worktree at 34145c1.
set -x
cd /work/exp/code-34145c1
git log --oneline -1
export TOKENIZERS_PARALLELISM=false
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" run -c configs/countdown-long.yaml --set model.threads=1 --set out_dir=/work/exp/s28/long-hint
