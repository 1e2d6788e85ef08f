#!/usr/bin/env bash
# Stop 52, plan addendum 13: the README's main command from a fresh clone of main's HEAD with an empty .venv, timed.
rm -rf /work/exp/s52/fresh-run && git clone -q /work/main /work/exp/s52/fresh-run
cd /work/exp/s52/fresh-run
git rev-parse HEAD > ../main.commit
date -u +%FT%TZ > ../main.start
( /usr/bin/time -v scripts/run.sh ) > ../main.log 2>&1; echo $? > ../main.rc
date -u +%FT%TZ > ../main.end
