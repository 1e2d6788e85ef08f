#!/usr/bin/env bash
# probe.py again on the boosted model, with the first-step row (after probe2.sh's x3 probe).
cd /work/main
export TOKENIZERS_PARALLELISM=false
while [ ! -f /work/exp/expected/probe-x3.jsonl ] || [ "$(wc -l < /work/exp/expected/probe-x3.jsonl)" -lt 100 ]; do sleep 20; done
.venv/bin/python docs/results/dev-expected/probe.py /work/exp/e2-rule/boost/model /work/exp/expected/probe-boosted-v2.jsonl 100 > /work/exp/expected/probe-boosted-v2.log 2>&1
