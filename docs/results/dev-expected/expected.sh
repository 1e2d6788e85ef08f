#!/usr/bin/env bash
# Noise-free retry analysis (docs/results/dev-expected/expected.py) for several models, one after another, 1 thread.
C=/work/exp/code-64acd22
cd $C
for spec in "$@"; do
  name=${spec%%=*}; model=${spec#*=}
  PYTHONPATH=$C /work/main/.venv/bin/python /work/main/docs/results/dev-expected/expected.py $model /work/exp/expected/$name.jsonl 100 8 > /work/exp/expected/$name.log 2>&1
done
