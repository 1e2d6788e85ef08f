#!/usr/bin/env bash
# Stop 52: replaces chain.sh after seed 6 started (stopped before seed 7): wait for seed 6's evaluations, run the
# fresh-clone CI in the gap (so it never runs beside a seed), then guard seed 7.
cd /work/exp/s52
while kill -0 4271 2>/dev/null; do sleep 20; done
bash ci.sh
S=7 bash guard.sh
date -u +%FT%TZ > chain.done
