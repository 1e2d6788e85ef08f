#!/bin/bash
# After nl2.sh: the probe (auto = bf16 inference, as §8l's) of the seed-2 no-leak model on the first 70 dev
# failures, paired with §8l seed 1's probe rows; skipped if the dev eval ends after 04:55 UTC (plan.txt).
S=/work/exp/s37
while [ ! -f $S/nl2.end ]; do sleep 15; done
[ "$(date -u +%H%M)" -lt 0455 ] || { echo "probe skipped: $(date -u)"; exit 0; }
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s33/cache
cd /work/exp/code-35d5c70
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
date -u +%FT%TZ > $S/probe2.start
rr probe --config configs/countdown-long.yaml --set model.threads=2 --failures /work/exp/s33/long/eval-start/samples.jsonl \
  --model $S/nl2/train/model --out $S/probe-nl2 --baseline /work/exp/s35/probe-nl --set probe.limit=70
date -u +%FT%TZ > $S/probed2
