#!/usr/bin/env bash
# The README's main command from a fresh clone of main's HEAD with an empty .venv, timed.
rm -rf /work/exp/s53/fresh-run && git clone -q /work/main /work/exp/s53/fresh-run
cd /work/exp/s53/fresh-run
git rev-parse HEAD > ../main.commit
date -u +%FT%TZ > ../main.start
( /usr/bin/time -v scripts/run.sh ) > ../main.log 2>&1; echo $? > ../main.rc
date -u +%FT%TZ > ../main.end
