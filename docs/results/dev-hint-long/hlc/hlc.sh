#!/usr/bin/env bash
# hlc: hlb's settings (R3, expected reward, batch scaling, 40 steps, lr 2e-5) with a CONSTANT lr, as GRPO had at
# equal wall time (§8e). Same integrated lr as hlb80 (cosine over 80) in half the steps. Dev only.
set -x
cd /work/exp/code-4ad51ee
export TOKENIZERS_PARALLELISM=false
PY=/work/main/.venv/bin/python
rr() { $PY -c "from reflectrl.cli import main; main()" "$@"; }
B=/work/exp/h-hint
O=/work/exp/s29/hlc
C="-c configs/countdown-long.yaml --set model.threads=1 --set task.options.reflection_style=hint"
rr train $C --set train.steps=40 --set train.learning_rate=2e-5 --set train.lr_scheduler=constant --set train.remine_every=null --set train.retry_reward=expected --set train.scale_rewards=batch --model $B/boost/model --failures $B/mine/failures.jsonl --out $O/train --resume || exit 1
PYTHONPATH=/work/exp/code-4ad51ee $PY /work/main/docs/results/dev-expected/expected.py $O/train/model $O/expected.jsonl 100 > $O/expected.log 2>&1
rr eval $C --model $O/train/model --split dev --limit 300 --out $O/eval-dev
