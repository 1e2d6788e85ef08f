#!/bin/bash
# Cross-task forgetting check for the 80-step config's model (fp32 path, §8h) vs its boost, as §8f's function-calling row.
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s30/cache
cd /work/exp/code-7d86cfd
date -u +%FT%TZ > /work/exp/s32/fc.start
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" forgetting --model /work/exp/s30/long/boost/model \
  --model /work/exp/s31/l80/train/model --benchmarks function_calling --limit 100 --set engine.batch_size=16 \
  --set model.threads=2 --out /work/exp/s32/forget-fc
date -u +%FT%TZ > /work/exp/s32/fc.end
