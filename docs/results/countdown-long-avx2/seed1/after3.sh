#!/bin/bash
# Resume the seed-1 model's probe alone (after2.sh's was killed at 16 of 100: it crawled beside the CI tests).
S=/work/exp/s33
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=$S/cache
cd /work/exp/code-2f0ed68
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
P="probe --config configs/countdown-long.yaml --set model.threads=2 --failures $S/long/eval-start/samples.jsonl"
rr $P --model $S/long/train/model --out $S/probe-train --baseline /work/main/docs/results/countdown-long-avx2/steps80
date -u +%FT%TZ > $S/probed-train
