#!/usr/bin/env bash
# Seed 1 of the 56-step config on test: paired over the boost, the two-seed mean, the hollow-gain guard.
R=/work/main/.venv/bin/reflectrl
cd /work/exp/code-60d70bd && export PYTHONPATH=$PWD:/work/exp/s41
$R paired boost=/work/exp/s40/test-boost seed0=/work/exp/s40/test-trained seed1=/work/exp/s41/test-seed1 \
  --out /work/exp/s41/paired-test.json
/work/main/.venv/bin/python /work/exp/s41/hollow_mean.py /work/exp/s40/test-boost /work/exp/s40/test-trained \
  /work/exp/s41/test-seed1
