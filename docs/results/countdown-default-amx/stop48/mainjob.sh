#!/usr/bin/env bash
# The README's main command from a fresh clone with an empty .venv, timed, on this AMX machine.
rm -rf /work/exp/s48/fresh-run && git clone -q /work/main /work/exp/s48/fresh-run
cd /work/exp/s48/fresh-run
date -u +%FT%TZ > ../main.start
( /usr/bin/time -v scripts/run.sh ) > ../main.log 2>&1; echo $? > ../main.rc
date -u +%FT%TZ > ../main.end
