#!/bin/bash
# After nl.sh: the probe (auto = bf16 inference, as §8j/§8k's) of the no-leak-reward model on the first 70 dev
# failures, paired with seed 1's probe rows (§8j); the probe now records leaks per reflection.
S=/work/exp/s35
while [ ! -f $S/nl.end ]; do sleep 15; done
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s33/cache
cd /work/exp/code-909c213
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
rr probe --config configs/countdown-long.yaml --set model.threads=2 --failures /work/exp/s33/long/eval-start/samples.jsonl   --model $S/nl/train/model --out $S/probe-nl --baseline /work/exp/s33/probe-train --set probe.limit=70
date -u +%FT%TZ > $S/probed
