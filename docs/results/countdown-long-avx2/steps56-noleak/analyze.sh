#!/usr/bin/env bash
# The no-leak format reward at 56 steps on test: paired over the boost (per seed and the mean of seeds),
# each seed against the plain 56-step model of the same training seed, the hollow-gain guard, retry vs fresh.
R=/work/main/.venv/bin/reflectrl
# hollow.py and hollow_mean.py are byte-identical to ../steps56/hollow.py and ../steps56-seed1/hollow_mean.py
cd /work/exp/code-7a37a4d && export PYTHONPATH=$PWD:/work/exp/s44
B=/work/exp/s40/test-boost; P0=/work/exp/s40/test-trained; P1=/work/exp/s41/test-seed1; P2=/work/exp/s42/test-seed2
runs=""; for S in 0 1 2; do [ -f /work/exp/s44/test-seed$S/summary.json ] && runs="$runs nl$S=/work/exp/s44/test-seed$S"; done
$R paired boost=$B $runs --out /work/exp/s44/paired-test.json
[ -f /work/exp/s44/test-seed0/summary.json ] && $R paired plain0=$P0 nl0=/work/exp/s44/test-seed0 --out /work/exp/s44/paired-vs-plain0.json
[ -f /work/exp/s44/test-seed1/summary.json ] && $R paired plain1=$P1 nl1=/work/exp/s44/test-seed1 --out /work/exp/s44/paired-vs-plain1.json
[ -f /work/exp/s44/test-seed2/summary.json ] && $R paired plain2=$P2 nl2=/work/exp/s44/test-seed2 --out /work/exp/s44/paired-vs-plain2.json
echo
/work/main/.venv/bin/python /work/exp/s44/hollow_mean.py $B ${runs//nl?=/}
echo
for S in 0 1 2; do
  f=/work/exp/s44/test-seed$S/summary.json; [ -f $f ] || continue
  /work/main/.venv/bin/python - "$f" "$S" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); r = d["retry_minus_resample"]; a = d["retry_after_failure"]; f = d["resample_after_failure"]
print(f"nl{sys.argv[2]}: retry after failure {a['k']}/{a['n']} vs fresh {f['k']}/{f['n']}: "
      f"{100*r['diff']:+.1f} pts [{100*r['ci_low']:+.1f}, {100*r['ci_high']:+.1f}], McNemar p={r['p_mcnemar']:.2f}; "
      f"mean reflection tokens {d['mean_reflection_tokens']:.1f}")
PY
done
