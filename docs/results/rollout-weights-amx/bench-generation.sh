#!/usr/bin/env bash
# The generation part of the benchmark script that ran (its training-precision and bf16-kernel parts were stopped
# before they ran, to free the machine): three ways to hold the weights, rounds 1 and 2.
cd /work/main
for round in 1 2; do
  .venv/bin/python benchmarks/generation.py --problems 64 --dtype bf16 > gen-bf16-$round.txt 2>&1
  .venv/bin/python benchmarks/generation.py --problems 64 --dtype fp32 --autocast bf16 > gen-autocast-$round.txt 2>&1
  .venv/bin/python benchmarks/generation.py --problems 64 --dtype fp32 > gen-fp32-$round.txt 2>&1
done
