#!/usr/bin/env bash
# The GRPO model (start of gr) on dev, for the paired comparison.
cd /work/exp/code-46a7439
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" eval -c configs/countdown-long.yaml --set model.threads=1 \
  --model /work/exp/s28/grpo/train/model --split dev --limit 300 --out /work/exp/s29/grpo-eval-dev
