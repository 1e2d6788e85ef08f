#!/usr/bin/env bash
# The 56-step config's one test evaluation: paired over the boost, and the hollow-gain guard.
R=/work/main/.venv/bin/reflectrl
cd /work/exp/code-60d70bd && export PYTHONPATH=$PWD
$R paired boost=/work/exp/s40/test-boost steps56=/work/exp/s40/test-trained --out /work/exp/s40/paired-test.json
/work/main/.venv/bin/python /work/exp/s40/hollow.py /work/exp/s40/test-boost /work/exp/s40/test-trained
