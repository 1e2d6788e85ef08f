#!/usr/bin/env bash
# The KL drift guard (train.beta=0.04) on dev, beside the boost and the plain seeds (plan addenda 4-6).
# SEEDS: the guarded seeds evaluated on dev (stop 49 had 0 and 1; stop 50 evaluated seed 2; guard-dev.txt is all three).
SEEDS=${SEEDS:-"0 1 2"}
L=/work/exp/s47; G=/work/exp/s49
GUARDS=$(for S in $SEEDS; do printf 'guard%s=dev-guard%s ' $S $S; done)
PLAINS=$(for S in $SEEDS; do case $S in 0) printf '%s' $L/long/eval-trained;; *) printf '%s' $L/dev-seed$S;; esac; printf ','; done)
M=/work/main; P=$M/.venv/bin
cd $G
echo "## guarded seeds minus the boost"
$P/reflectrl paired boost=$L/long/eval-start $GUARDS
echo "## guarded minus plain, seed by seed"
$P/reflectrl paired plain=${PLAINS%,} $GUARDS
for S in $SEEDS; do
  echo "== hollow guard$S"; $P/python $M/docs/results/countdown-long-avx2/steps56/hollow.py $L/long/eval-start dev-guard$S
done
$P/python $M/docs/results/countdown-long-avx2/steps56-noleak/reasons.py boost=$L/long/eval-start $GUARDS
SEEDS="$SEEDS" $P/python - <<'PY'
import json, math, os, statistics as st
seeds = [int(x) for x in os.environ["SEEDS"].split()]
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776}  # t(0.975, df)
L = "/work/exp/s47"
plain = {0: f"{L}/long", 1: f"{L}/seed1", 2: f"{L}/seed2"}
ev = {"boost": f"{L}/long/eval-start", **{f"guard{S}": f"dev-guard{S}" for S in seeds}}
ev_plain = {0: f"{L}/long/eval-trained", 1: f"{L}/dev-seed1", 2: f"{L}/dev-seed2"}
for k, d in ev.items():
    s = json.load(open(f"{d}/summary.json"))
    r = s["retry_minus_resample"]
    print(k, f"retry - resample {100 * r['diff']:+.1f} [{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}] n={r['n']}",
          "retry", s["retry_after_failure"]["k"], "fresh", s["resample_after_failure"]["k"])
def last8(f):
    rows = [json.loads(line) for line in open(f)]
    out = {k: round(sum(v) / len(v), 4) for k in ("kl", "reflection_tokens", "reflection/leak")
           if (v := [r[k] for r in rows[-8:] if r.get(k) is not None])}
    return len(rows), out
for S in range(3):  # training metrics exist for all three guarded seeds
    print(f"seed{S} plain (beta 0.001): rows, last 8 steps", *last8(f"{plain[S]}/train/metrics.jsonl"))
    print(f"seed{S} guard (beta 0.04):  rows, last 8 steps", *last8(f"guard{S}/train/metrics.jsonl"))
def rate(d, key):
    v = json.load(open(f"{d}/summary.json"))[key]
    return 100 * (v["k"] / v["n"] if isinstance(v, dict) else v)
for key in ("first_try", "second_try"):
    for name, runs in (("plain", ev_plain), ("guard", {S: ev[f"guard{S}"] for S in seeds})):
        gains = [rate(runs[S], key) - rate(ev["boost"], key) for S in seeds]
        m, sd = st.mean(gains), st.stdev(gains)
        h = T975[len(seeds) - 1] * sd / math.sqrt(len(seeds))
        print(f"{key} {name}, seeds {seeds}: gains {[round(g, 1) for g in gains]}, mean {m:+.2f}, sd {sd:.2f}, "
              f"t-interval over the seeds [{m - h:+.2f}, {m + h:+.2f}]")
PY
