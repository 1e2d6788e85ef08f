#!/bin/bash
# After l120's training (pid $1) ends: the noise-free probe at `auto` precision (bf16 inference here) exactly as
# l80-probe.sh / s30's probes ran (no AVX2 caps, no REFLECTRL_FAST_BF16 override), then the sampled dev eval as
# l80-eval.sh ran it (fp32, AVX2 caps). Replaces l120b.sh's last two commands, which inherited the training's caps.
while kill -0 $1 2>/dev/null; do sleep 20; done
date -u +%FT%TZ > /work/exp/s31/l120.trained
[ -f /work/exp/s31/l120/train/model/config.json ] || { echo "no trained model"; exit 1; }
export TOKENIZERS_PARALLELISM=false REFLECTRL_CACHE=/work/exp/s30/cache
cd /work/exp/code-7d86cfd
rr() { /work/main/.venv/bin/python -c "from reflectrl.cli import main; main()" "$@"; }
rr probe --config configs/countdown-long.yaml --set model.threads=2 --model /work/exp/s31/l120/train/model \
  --failures /work/exp/s30/long/eval-start/samples.jsonl --out /work/exp/s31/probe-l120 --baseline /work/exp/s30/probe-boost
date -u +%FT%TZ > /work/exp/s31/l120.probed
export REFLECTRL_FAST_BF16=0 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
rr eval --config configs/countdown-long.yaml --set model.threads=2 --model /work/exp/s31/l120/train/model \
  --split dev --out /work/exp/s31/l120/eval-trained
date -u +%FT%TZ > /work/exp/s31/l120.end
