#!/bin/bash
# After the format model's probe on 70 failures (PID 16148): forgetting of the format-reward model vs its boost,
# MMLU cloze on 1,000 stratified questions (fp32, as §8f) and function calling on 100 (as §8i's fc.sh).
S=/work/exp/s34
while kill -0 16148 2>/dev/null; do sleep 10; done
date -u +%FT%TZ > $S/probed70
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s33/cache
cd /work/exp/code-499481b
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
B=/work/exp/s33/long/boost/model
T=$S/fmt/train/model
rr forgetting --model $B --model $T --benchmarks function_calling --limit 100 --set engine.batch_size=16 \
  --set model.threads=2 --out $S/forget-fc
date -u +%FT%TZ > $S/fc.end
rr forgetting --model $B --model $T --benchmarks mmlu --limit 1000 --set model.dtype=fp32 --set model.threads=2 \
  --out $S/forget-mmlu
date -u +%FT%TZ > $S/mmlu.end
