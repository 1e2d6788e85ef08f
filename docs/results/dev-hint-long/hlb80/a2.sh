#!/usr/bin/env bash
# hlb80 resumed after the tool restart killed it at step 24 (checkpoint-24).
set -x
cd /work/exp/code-4ad51ee
export TOKENIZERS_PARALLELISM=false
PY=/work/main/.venv/bin/python
rr() { $PY -c "from reflectrl.cli import main; main()" "$@"; }
B=/work/exp/h-hint
O=/work/exp/s27/hlb80
C="-c configs/countdown-long.yaml --set model.threads=1 --set task.options.reflection_style=hint"
rr train $C --set train.steps=80 --set train.learning_rate=2e-5 --set train.remine_every=null --set train.retry_reward=expected --set train.scale_rewards=batch --model $B/boost/model --failures $B/mine/failures.jsonl --out $O/train --resume || exit 1
rr eval $C --model $O/train/model --split dev --limit 300 --out $O/eval-dev
