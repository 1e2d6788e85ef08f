#!/bin/bash
# After fmt.sh: the probe (auto = bf16 inference, as §8j's) of the format-reward model on the first 70 dev
# failures (paired with §8j's seed-1 rows), then seed 1's last 30, then the format model's last 30.
S=/work/exp/s34
while [ ! -f $S/fmt.end ]; do sleep 15; done
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s33/cache
cd /work/exp/code-499481b
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
P="probe --config configs/countdown-long.yaml --set model.threads=2 --failures /work/exp/s33/long/eval-start/samples.jsonl"
rr $P --model $S/fmt/train/model --out $S/probe-fmt --baseline /work/exp/s33/probe-train --set probe.limit=70
date -u +%FT%TZ > $S/probed70
rr $P --model /work/exp/s33/long/train/model --out /work/exp/s33/probe-train --baseline /work/main/docs/results/countdown-long-avx2/steps80
date -u +%FT%TZ > $S/probed-seed1
rr $P --model $S/fmt/train/model --out $S/probe-fmt --baseline /work/exp/s33/probe-train
date -u +%FT%TZ > $S/probed100
