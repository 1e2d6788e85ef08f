#!/usr/bin/env bash
# Paired dev numbers: 56 steps vs the boost and vs 80 steps (§8m's run, identical to §8h's).
R=/work/main/.venv/bin/reflectrl
cd /work/exp/code-60d70bd && export PYTHONPATH=$PWD
$R paired boost=/work/exp/s40/l56/eval-start steps56=/work/exp/s40/l56/eval-trained steps80=/work/exp/s39/long/eval-trained --out /work/exp/s40/paired-vs-boost.json
$R paired steps80=/work/exp/s39/long/eval-trained steps56=/work/exp/s40/l56/eval-trained --out /work/exp/s40/paired-56-vs-80.json
