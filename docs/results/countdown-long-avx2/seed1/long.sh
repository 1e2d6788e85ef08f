#!/bin/bash
# configs/countdown-long.yaml (80 steps) in one piece, as an AVX2-only 2-core machine would run it (fp32, kernels
# capped at AVX2), dev split so test is not seen again, training seed 1 (the committed 80-step model is seed 0).
# Then the noise-free probe of the boost and the trained model on the same dev failures (auto = bf16 inference,
# as the earlier probes ran), the trained one against the seed-0 model's committed probe rows.
set -e
S=/work/exp/s33
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=$S/cache
cd /work/exp/code-6fa110a
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
date -u +%FT%TZ > $S/long.start
REFLECTRL_FAST_BF16=0 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
  /usr/bin/time -v -o $S/time-v.txt /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" \
  run --config configs/countdown-long.yaml --set out_dir=$S/long --set eval.split=dev --set train.seed=1
date -u +%FT%TZ > $S/long.end
rr probe --config configs/countdown-long.yaml --set model.threads=2 --model $S/long/boost/model \
  --failures $S/long/eval-start/samples.jsonl --out $S/probe-boost
rr probe --config configs/countdown-long.yaml --set model.threads=2 --model $S/long/train/model \
  --failures $S/long/eval-start/samples.jsonl --out $S/probe-train --baseline /work/main/docs/results/countdown-long-avx2/steps80
date -u +%FT%TZ > $S/probed
