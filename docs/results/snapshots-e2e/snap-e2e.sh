#!/usr/bin/env bash
# Stop 52: train.snapshot_every end to end on the embedded model (the main job's boost and failures), 1 thread.
cd /work/main && export TOKENIZERS_PARALLELISM=false
date -u +%FT%TZ
.venv/bin/reflectrl train --config configs/countdown-default.yaml --model /work/exp/s52/fresh-run/runs/countdown-default/boost/model --failures /work/exp/s52/fresh-run/runs/countdown-default/mine/failures.jsonl \
  --set train.steps=2 --set train.snapshot_every=1 --set model.threads=1 --out /work/exp/s52/snap-e2e; echo "train rc=$?"
ls -la /work/exp/s52/snap-e2e /work/exp/s52/snap-e2e/snapshots /work/exp/s52/snap-e2e/snapshots/step-1
.venv/bin/reflectrl eval --config configs/countdown-default.yaml --model /work/exp/s52/snap-e2e/snapshots/step-1 --split dev \
  --limit 16 --set model.threads=1 --out /work/exp/s52/snap-e2e/eval-step1; echo "eval rc=$?"
date -u +%FT%TZ
