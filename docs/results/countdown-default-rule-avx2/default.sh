#!/usr/bin/env bash
# Stop 43: the README's main command, timed from a fresh clone with a fresh .venv and an empty model cache,
# on the real AVX2-only EPYC (the default config has not been timed on an AVX2-only machine since the rule-style
# boost and our own RL update loop landed).
R=/work/exp/s43
rm -rf /tmp/fresh-run /tmp/fresh-run-cache && git clone -q /work/main /tmp/fresh-run && cd /tmp/fresh-run || exit 1
git log --oneline -1 > $R/default.start; date -u +%FT%TZ >> $R/default.start
REFLECTRL_CACHE=/tmp/fresh-run-cache /usr/bin/time -v scripts/run.sh > $R/default.log 2>&1
echo "rc=$?" > $R/default.rc; date -u +%FT%TZ > $R/default.end
