#!/usr/bin/env bash
# Seeds 3 and 4 of the 56-step config on test: paired over the boost, the five-seed mean (bootstrap over problems
# and the t-interval over seeds, `reflectrl paired` at d83abd3), retry vs fresh and reflections per seed.
cd /work/main
R=/work/main/.venv/bin/reflectrl
runs="seed0=/work/exp/s40/test-trained seed1=/work/exp/s41/test-seed1 seed2=/work/exp/s42/test-seed2"
for S in 3 4; do [ -f /work/exp/s43/test-seed$S/summary.json ] && runs="$runs seed$S=/work/exp/s43/test-seed$S"; done
$R paired boost=/work/exp/s40/test-boost $runs --out /work/exp/s43/paired-test.json
echo
for S in 3 4; do
  f=/work/exp/s43/test-seed$S/summary.json; [ -f $f ] || continue
  /work/main/.venv/bin/python - "$f" "$S" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); r = d["retry_minus_resample"]; a = d["retry_after_failure"]; f = d["resample_after_failure"]
print(f"seed{sys.argv[2]}: retry after failure {a['k']}/{a['n']} vs fresh {f['k']}/{f['n']}: "
      f"{100*r['diff']:+.1f} pts [{100*r['ci_low']:+.1f}, {100*r['ci_high']:+.1f}], McNemar p={r['p_mcnemar']:.2f}; "
      f"mean reflection tokens {d['mean_reflection_tokens']:.1f}")
PY
done
