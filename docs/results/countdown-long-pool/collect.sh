#!/usr/bin/env bash
# Plan addendum 15: archive pool replicate R's evidence here, everything a later sitting on any machine needs to
# recompute the pool's read-out (analyze-pool.sh): both evaluations' episodes gzipped, summaries, training metrics,
# timings, config, and the machine. Usage: R=0 RUN=/work/exp/s53/rep0 bash collect.sh
set -euo pipefail
R=${R:?set R}; RUN=${RUN:?set RUN to the replicate out_dir}
D=$(cd "$(dirname "$0")" && pwd)/rep$R
mkdir -p "$D"
for stage in eval-start eval-trained; do
  mkdir -p "$D/$stage"
  cp "$RUN/$stage/summary.json" "$RUN/$stage/eval_identity.json" "$D/$stage/"
  gzip -n -c "$RUN/$stage/samples.jsonl" > "$D/$stage/samples.jsonl.gz"
done
cp "$RUN/config.yaml" "$RUN/timings.json" "$RUN/report.md" "$D/"
cp "$RUN/mine/stats.json" "$D/mine-stats.json"
cp "$RUN/train/metrics.jsonl" "$D/train-metrics.jsonl"
L=$RUN.logs
cp "$L/start" "$D/start"; cp "$L/end" "$D/end"; cp "$L/rc" "$D/rc"
sed -n '/Command being timed/,$p' "$L/run.err" > "$D/time-v.txt"
[ -f "$L/commit" ] && cp "$L/commit" "$D/commit"
{ lscpu | grep -E 'Model name|^CPU\(s\)|Hypervisor'; grep -o 'avx2\|avx512_bf16\|amx_bf16' /proc/cpuinfo | sort | uniq -c
  free -g | sed -n 2p; } > "$D/machine.txt"
du -sh "$D"
