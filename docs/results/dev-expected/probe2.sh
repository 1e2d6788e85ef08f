#!/usr/bin/env bash
# probe.py on the trained models once their noise-free analysis is done (after driver.sh's slot B).
cd /work/main
export TOKENIZERS_PARALLELISM=false
while [ "$(wc -l < /work/exp/expected/x1.jsonl)" -lt 100 ]; do sleep 20; done
.venv/bin/python docs/results/dev-expected/probe.py /work/exp/x1-expected/train/model /work/exp/expected/probe-x1.jsonl 100 > /work/exp/expected/probe-x1.log 2>&1
while [ ! -f /work/exp/expected/x3.jsonl ] || [ "$(wc -l < /work/exp/expected/x3.jsonl)" -lt 100 ]; do sleep 20; done
.venv/bin/python docs/results/dev-expected/probe.py /work/exp/x3-expected-batch/train/model /work/exp/expected/probe-x3.jsonl 100 > /work/exp/expected/probe-x3.log 2>&1
