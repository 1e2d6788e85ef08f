#!/usr/bin/env bash
# The no-leak format reward at 56 steps on test, five training seeds (0-2 in s44, 3-4 in s45): paired over the
# boost (per seed, and the mean of seeds with the t-interval over seeds), each against the plain 56-step model of
# the same seed, the mean no-leak minus mean plain (vs_plain.py), the hollow-gain guard, retry vs fresh.
R=/work/main/.venv/bin/reflectrl
cd /work/exp/code-7a37a4d && export PYTHONPATH=$PWD:/work/exp/s44   # hollow.py, hollow_mean.py of ../steps56*
B=/work/exp/s40/test-boost
declare -A PLAIN=([0]=/work/exp/s40/test-trained [1]=/work/exp/s41/test-seed1 [2]=/work/exp/s42/test-seed2
                  [3]=/work/exp/s43/test-seed3 [4]=/work/exp/s43/test-seed4)
nl() { [ "$1" -le 2 ] && echo /work/exp/s44/test-seed$1 || echo /work/exp/s45/test-seed$1; }
runs=""; dirs=""; pairs=""
for S in 0 1 2 3 4; do
  [ -f $(nl $S)/summary.json ] || continue
  runs="$runs nl$S=$(nl $S)"; dirs="$dirs $(nl $S)"; pairs="$pairs ${PLAIN[$S]},$(nl $S)"
done
$R paired boost=$B $runs --out /work/exp/s45/paired-test.json
for S in 2 3 4; do
  [ -f $(nl $S)/summary.json ] && $R paired plain$S=${PLAIN[$S]} nl$S=$(nl $S) --out /work/exp/s45/paired-vs-plain$S.json
done
echo
/work/main/.venv/bin/python /work/exp/s44/hollow_mean.py $B $dirs
echo
/work/main/.venv/bin/python /work/exp/s45/vs_plain.py $pairs
echo
# The same comparison with `reflectrl paired`'s per-run baseline (main's code from f847133, not the frozen 7a37a4d).
plains=$(for p in $pairs; do echo -n "${p%%,*},"; done); plains=${plains%,}
PYTHONPATH=/work/main $R paired plain=$plains $runs --out /work/exp/s45/paired-vs-plain.json
echo
for d in $dirs; do
  /work/main/.venv/bin/python - "$d/summary.json" "$d" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); r = d["retry_minus_resample"]; a = d["retry_after_failure"]; f = d["resample_after_failure"]
print(f"{sys.argv[2]}: retry after failure {a['k']}/{a['n']} vs fresh {f['k']}/{f['n']}: "
      f"{100*r['diff']:+.1f} pts [{100*r['ci_low']:+.1f}, {100*r['ci_high']:+.1f}], McNemar p={r['p_mcnemar']:.2f}; "
      f"mean reflection tokens {d['mean_reflection_tokens']:.1f}")
PY
done
