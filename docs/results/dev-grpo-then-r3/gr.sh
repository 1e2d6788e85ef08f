#!/usr/bin/env bash
# gr: R3 on top of GRPO. Start = §8e's equal-time GRPO model (a stronger solver); mine its failures, then hlb's
# R3 settings (expected reward, batch scaling, lr 2e-5 cosine, mixed curriculum) for 24 steps. Dev only.
set -x
cd /work/exp/code-46a7439
export TOKENIZERS_PARALLELISM=false
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
G=/work/exp/s28/grpo/train/model
O=/work/exp/s29/gr
C="-c configs/countdown-long.yaml --set model.threads=1"
rr mine $C --model $G --out $O/mine || exit 1
rr train $C --set train.steps=24 --model $G --failures $O/mine/failures.jsonl --out $O/train --resume || exit 1
rr eval $C --model $O/train/model --split dev --limit 300 --out $O/eval-dev
