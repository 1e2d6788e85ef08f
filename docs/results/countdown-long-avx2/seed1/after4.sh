#!/bin/bash
# The seed-1 model's reflections greedy (probe.reflection_temperature=0, one per failure) on the failures
# probe-train finished ($1 of them), paired with probe-train.
S=/work/exp/s33
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=$S/cache
cd /work/exp/code-2f0ed68
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" probe --config configs/countdown-long.yaml \
  --set model.threads=2 --failures $S/long/eval-start/samples.jsonl --model $S/long/train/model \
  --out $S/probe-train-t0 --set probe.reflection_temperature=0 --set probe.limit=$1 --baseline $S/probe-train
