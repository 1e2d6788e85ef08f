#!/bin/bash
# Replaces long.sh's tail (its bash was killed; the run under /usr/bin/time, pid $1, went on): stamp the end, then
# the noise-free probes on the dev failures at auto precision (bf16 inference here), as the earlier probes ran:
# the trained model against the seed-0 model's committed rows, then its reflections greedy (paired with the first).
# (after.sh also had T=0.5 and the boost's probe; cut for the session's time: the host ran ~1.5x slower today.)
S=/work/exp/s33
while kill -0 $1 2>/dev/null; do sleep 15; done
date -u +%FT%TZ > $S/long.end
[ -f $S/long/train/model/config.json ] || { echo "no trained model"; exit 1; }
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=$S/cache
cd /work/exp/code-2f0ed68
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
P="probe --config configs/countdown-long.yaml --set model.threads=2 --failures $S/long/eval-start/samples.jsonl"
rr $P --model $S/long/train/model --out $S/probe-train --baseline /work/main/docs/results/countdown-long-avx2/steps80
cp $S/probe-train/summary.json $S/probe-train/summary-vs-seed0.json
date -u +%FT%TZ > $S/probed-train
rr $P --model $S/long/train/model --out $S/probe-train-t0 --set probe.reflection_temperature=0 --baseline $S/probe-train
date -u +%FT%TZ > $S/probed-t0
