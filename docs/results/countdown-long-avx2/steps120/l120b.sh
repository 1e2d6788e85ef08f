#!/bin/bash
# 120 cosine steps of the long config from the s30 fp32 run's hint boost and mined failures (only train.steps
# differs from s30's 40-step train stage), then the noise-free probe on the same 100 dev failures, then the sampled dev eval (500).
set -e
export REFLECTRL_FAST_BF16=0 TOKENIZERS_PARALLELISM=false ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
export REFLECTRL_CACHE=/work/exp/s30/cache
cd /work/exp/code-7d86cfd
R=/work/exp/s30/long
O=/work/exp/s31
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
date -u +%FT%TZ > $O/l120.start
rr train --config configs/countdown-long.yaml --set model.threads=2 --set train.steps=120 \
  --model $R/boost/model --failures $R/mine/failures.jsonl --out $O/l120/train --resume
date -u +%FT%TZ > $O/l120.trained
rr probe --config configs/countdown-long.yaml --set model.threads=2 --model $O/l120/train/model \
  --failures $R/eval-start/samples.jsonl --out $O/probe-l120 --baseline /work/exp/s30/probe-boost
date -u +%FT%TZ > $O/l120.probed
rr eval --config configs/countdown-long.yaml --set model.threads=2 --model $O/l120/train/model --split dev --out $O/l120/eval-trained
date -u +%FT%TZ > $O/l120.end
