#!/usr/bin/env bash
# Seed 2 of the 56-step config on test: paired over the boost, the three-seed mean, the hollow-gain guard
# (`reflectrl paired` gives the non-hollow row since 37f9687; hollow_mean.py is stop 41's cross-check).
R=/work/main/.venv/bin/reflectrl
cd /work/main && export PYTHONPATH=$PWD:/work/exp/s42
$R paired boost=/work/exp/s40/test-boost seed0=/work/exp/s40/test-trained seed1=/work/exp/s41/test-seed1 \
  seed2=/work/exp/s42/test-seed2 --out /work/exp/s42/paired-test.json
/work/main/.venv/bin/python /work/exp/s42/hollow_mean.py /work/exp/s40/test-boost /work/exp/s40/test-trained \
  /work/exp/s41/test-seed1 /work/exp/s42/test-seed2
