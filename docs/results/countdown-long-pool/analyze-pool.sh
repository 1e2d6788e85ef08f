#!/usr/bin/env bash
# Plan addendum 15's read-out, from the archived replicates in this folder alone (no run folder needed): each
# replicate's trained model minus its own boost on fresh dev 500-1499, paired per problem; with several, their mean
# (interval over problems and t-interval over replicates); retry - fresh sample, the hollow-gain guard, the machine.
# Usage: bash analyze-pool.sh [path to reflectrl] > pool.txt   (the decision waits for ten replicates)
set -euo pipefail
cd "$(dirname "$0")"
RL=${1:-reflectrl}
REPS=$(for d in rep*/; do [ -f "$d/eval-trained/samples.jsonl.gz" ] && printf '%s ' "${d%/}"; done)
echo "replicates archived: $REPS"
BASES=$(for r in $REPS; do printf '%s/eval-start,' "$r"; done)
"$RL" paired "boost=${BASES%,}" $(for r in $REPS; do printf '%s=%s/eval-trained ' "$r" "$r"; done) --out pool.json
for r in $REPS; do
  python3 - "$r" <<'PY'
import json, sys
r = sys.argv[1]
machine = next(" ".join(line.split()[2:]) for line in open(f"{r}/machine.txt") if line.startswith("Model name"))
flags = " ".join(line.split()[1] for line in open(f"{r}/machine.txt") if line.strip().split()[-1] in ("avx512_bf16", "amx_bf16"))
machine += f" ({flags or 'avx2 only'})"
print(f"{r}: machine {machine}; stage minutes", {k: round(v / 60, 1) for k, v in json.load(open(f"{r}/timings.json")).items()})
for stage in ("eval-start", "eval-trained"):
    s = json.load(open(f"{r}/{stage}/summary.json"))
    d, refl = s["retry_minus_resample"], s["reflections"]
    print(f"  {stage:12s} first {s['first_try']['k']}/{s['n']}  second {s['second_try']['k']}/{s['n']}  "
          f"retry - fresh sample {100 * d['diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] n={d['n']}  "
          f"reflections holding an answer {refl['leak']['k']}/{refl['leak']['n']}, a right one {refl['leak_verifies']['k']}")
PY
done
