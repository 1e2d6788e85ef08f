#!/usr/bin/env bash
# After seed 2's dev evaluation: RISE collection A/B, then the bf16 and precision benchmarks on this AMX CPU, one at a time.
O=/work/exp/s48
while [ ! -f $O/dev2.rc ]; do sleep 20; done
./ab-rise.sh > $O/ab-rise.out 2>&1
cd /work/main
grep -o 'avx512_bf16\|amx_bf16\|amx_tile\|avx2' /proc/cpuinfo | sort | uniq -c > $O/flags.txt
echo "start $(date -u +%T)" > $O/bf16.out
/usr/bin/time -v .venv/bin/python benchmarks/bf16.py --threads 1 >> $O/bf16.out 2>&1
echo "start $(date -u +%T)" > $O/precision.out
/usr/bin/time -v .venv/bin/python benchmarks/precision.py --threads 2 --steps 4 --rounds 2 >> $O/precision.out 2>&1
date -u +%T > $O/bench.done
