#!/usr/bin/env bash
# hl<name>: R3 (expected reward) from the hint boost, N steps, no re-mining, given lr; then dev eval + expected.py.
# usage: [SKIP_EXPECTED=1] hl.sh <name> <steps> <lr> [extra --set ...]
set -x
NAME=$1; STEPS=$2; LR=$3; shift 3
cd /work/exp/code-4ad51ee
export TOKENIZERS_PARALLELISM=false

PY=/work/main/.venv/bin/python
rr() { $PY -c "from reflectrl.cli import main; main()" "$@"; }
B=/work/exp/h-hint
O=/work/exp/s27/$NAME
C="-c configs/countdown-long.yaml --set model.threads=1 --set task.options.reflection_style=hint"
rr train $C --set train.steps=$STEPS --set train.learning_rate=$LR --set train.remine_every=null --set train.retry_reward=expected "$@" --model $B/boost/model --failures $B/mine/failures.jsonl --out $O/train || exit 1
rr eval $C --model $O/train/model --split dev --limit 300 --out $O/eval-dev
[ -n "$SKIP_EXPECTED" ] || PYTHONPATH=/work/exp/code-4ad51ee $PY /work/main/docs/results/dev-expected/expected.py $O/train/model $O/expected.jsonl 100 > $O/expected.log 2>&1 
