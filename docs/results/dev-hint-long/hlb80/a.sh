#!/usr/bin/env bash
cd /work/main
SKIP_EXPECTED=1 bash docs/results/dev-hint-long/hl.sh hlb80 80 2e-5 --set train.scale_rewards=batch
