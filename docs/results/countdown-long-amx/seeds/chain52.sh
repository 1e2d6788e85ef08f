#!/usr/bin/env bash
# Stop 52: one job at a time: main job, then guard seeds 6 and 7.
cd /work/exp/s52
bash mainjob.sh
S=6 bash guard.sh
S=7 bash guard.sh
date -u +%FT%TZ > chain.done
