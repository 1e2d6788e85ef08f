#!/usr/bin/env bash
# Addendum 3's 06:50 UTC cut: stop chain4.sh's process group (seed 4) if it still runs then.
sleep $(( $(date -d 06:50 +%s) - $(date +%s) ))
if pgrep -g 13124 >/dev/null; then
  date -u +%FT%TZ > /work/exp/s45/chain4.cut; kill -- -13124
fi
