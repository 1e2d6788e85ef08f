#!/bin/bash
# After l80's training (pid $1) ends: the noise-free probe of its model on the same 100 dev failures, at `auto`
# precision (bf16 inference on this machine) as s30's probe-boost and probe-train were, vs s30's probe-boost.
while kill -0 $1 2>/dev/null; do sleep 20; done
date -u +%FT%TZ > /work/exp/s31/l80.trained
[ -f /work/exp/s31/l80/train/model/config.json ] || { echo "no trained model"; exit 1; }
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s30/cache
cd /work/exp/code-7d86cfd
/work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" probe --config configs/countdown-long.yaml \
  --set model.threads=2 --model /work/exp/s31/l80/train/model --failures /work/exp/s30/long/eval-start/samples.jsonl \
  --out /work/exp/s31/probe-l80 --baseline /work/exp/s30/probe-boost
date -u +%FT%TZ > /work/exp/s31/l80.end
