#!/usr/bin/env bash
# dh: the long config's recipe (hint boost, expected reward, scale_rewards left unset -> batch, lr 2e-5, mixed
# curriculum) at the default config's size (boost 240, mine 150), 16 steps; both evaluations on dev (300). Dev only.
set -x
cd /work/exp/code-46a7439
export TOKENIZERS_PARALLELISM=false
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" run -c configs/countdown-default.yaml \
  --set model.threads=1 --set task.options.reflection_style=hint --set train.retry_reward=expected \
  --set train.learning_rate=2e-5 --set train.steps=16 --set train.min_query_success=0.01 \
  --set eval.split=dev --set eval.limit=300 --set out_dir=/work/exp/s29/dh
