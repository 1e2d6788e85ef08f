#!/usr/bin/env bash
# Plan addenda 10, 11 and 13: every guarded seed (train.beta=0.04) minus the boost, on dev 0-499 and on fresh dev 500-1499,
# with retry - fresh sample, the hollow-gain guard and the count of seeds whose fresh-dev second-try interval is above 0.
# Skips seeds not yet evaluated. Output: seeds.txt (and seeds-dev.json, seeds-fresh.json).
L=/work/exp/s47; M=/work/main; P=$M/.venv/bin
cd /work/exp/s52  # stop 51 ran it in /work/exp/s51, before seeds 6 and 7
where() {  # where seed $1's evaluation $2 (dev|fresh) lives
  case $1 in 0|1|2) [ $2 = dev ] && echo /work/exp/s49/dev-guard$1 || echo /work/exp/s50/fresh-guard$1;;
             3) echo /work/exp/s50/$2-guard3;; 4|5) echo /work/exp/s51/$2-guard$1;; *) echo /work/exp/s52/$2-guard$1;; esac; }
SEEDS=$(for S in 0 1 2 3 4 5 6 7 8 9; do [ -f "$(where $S fresh)/summary.json" ] && printf '%s ' $S; done)
echo "guarded seeds evaluated on both dev sets: $SEEDS"
for SET in dev fresh; do
  BOOST=$L/long/eval-start; [ $SET = fresh ] && BOOST=/work/exp/s50/fresh-boost
  echo "## $SET: guarded seeds minus the boost"
  $P/reflectrl paired boost=$BOOST $(for S in $SEEDS; do printf 'guard%s=%s ' $S "$(where $S $SET)"; done) --out seeds-$SET.json
  echo "## $SET: hollow-gain guard"
  $P/python $M/docs/results/countdown-long-avx2/steps56/hollow.py $BOOST $(for S in $SEEDS; do where $S $SET; done)
  for S in boost $SEEDS; do
    D=$BOOST; [ $S = boost ] || D=$(where $S $SET)
    $P/python -c "
import json; s = json.load(open('$D/summary.json')); r = s['retry_minus_resample']
print('$SET', '$S', f\"retry - fresh sample {100 * r['diff']:+.1f} [{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}] n={r['n']}\")"
  done
done
$P/python - <<'PY2'
import json
for name in ("dev", "fresh"):
    m = json.load(open(f"seeds-{name}.json"))["minus_base"]
    above = [k for k, v in m.items() if k.startswith("guard") and v["second_try"]["ci_low"] > 0]
    print(f"{name}: second-try interval above 0 for {len(above)} of {sum(k.startswith('guard') for k in m)} guarded seeds: {above}")
PY2
