#!/bin/bash
# After nl0.sh: the probe (auto = bf16 inference, as §8h/§8l's) of the seed-0 no-leak model on the first 70 dev
# failures, paired with seed 0's 80-step probe rows (§8h, steps80/probe.jsonl).
S=/work/exp/s36
while [ ! -f $S/nl0.end ]; do sleep 15; done
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s33/cache
cd /work/exp/code-35d5c70
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
date -u +%FT%TZ > $S/probe0.start
rr probe --config configs/countdown-long.yaml --set model.threads=2 --failures /work/exp/s33/long/eval-start/samples.jsonl \
  --model $S/nl0/train/model --out $S/probe-nl0 --baseline docs/results/countdown-long-avx2/steps80 --set probe.limit=70
date -u +%FT%TZ > $S/probed0
