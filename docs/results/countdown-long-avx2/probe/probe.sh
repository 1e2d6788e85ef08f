#!/bin/bash
# Noise-free reflection value of the fp32 long run's two models on the boosted model's first 100 dev failures.
cd /work/exp/code-7d86cfd
R=/work/exp/s30/long
export REFLECTRL_CACHE=/work/exp/s30/cache
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" probe --config configs/countdown-long.yaml \
  --set model.threads=1 --model $R/$1/model --failures $R/eval-start/samples.jsonl --out /work/exp/s30/probe-$1 $2
