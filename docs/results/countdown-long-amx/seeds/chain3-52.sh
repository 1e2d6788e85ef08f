#!/usr/bin/env bash
# Stop 52, plan addendum 14: guard seeds 8 then 9; rerun to resume.
cd /work/exp/s52
S=8 bash guard.sh && S=9 bash guard.sh
date -u +%FT%TZ > chain3.done
