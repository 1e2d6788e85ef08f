#!/usr/bin/env bash
# The resized long config (24 steps, re-mining every 12) end to end in one piece, from an empty run folder, alone
# on the machine except for light editing; wall time by /usr/bin/time and the run's timings.json.
set -x
cd /work/exp
export PYTHONPATH=/work/exp/code-2441afb TOKENIZERS_PARALLELISM=false
/usr/bin/time -v /work/main/.venv/bin/reflectrl run --config /work/exp/long24.yaml --set out_dir=/work/exp/long24
