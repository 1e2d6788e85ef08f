#!/usr/bin/env bash
# The KL drift guard (train.beta=0.04), seeds 0-2 on dev, beside the boost and the plain seeds (plan addendum 4).
L=/work/exp/s47; G=/work/exp/s49
M=/work/main; P=$M/.venv/bin
cd $G
echo "## guarded seeds minus the boost"
$P/reflectrl paired boost=$L/long/eval-start guard0=dev-guard0 guard1=dev-guard1 guard2=dev-guard2
echo "## guarded minus plain, seed by seed"
$P/reflectrl paired plain=$L/long/eval-trained,$L/dev-seed1,$L/dev-seed2 guard0=dev-guard0 guard1=dev-guard1 guard2=dev-guard2
for S in 0 1 2; do
  echo "== hollow guard$S"; $P/python $M/docs/results/countdown-long-avx2/steps56/hollow.py $L/long/eval-start dev-guard$S
done
$P/python $M/docs/results/countdown-long-avx2/steps56-noleak/reasons.py boost=$L/long/eval-start guard0=dev-guard0 guard1=dev-guard1 guard2=dev-guard2
$P/python - <<'PY'
import json, math, statistics as st
L = "/work/exp/s47"
plain = {0: f"{L}/long", 1: f"{L}/seed1", 2: f"{L}/seed2"}
ev = {"boost": f"{L}/long/eval-start", **{f"guard{S}": f"dev-guard{S}" for S in range(3)}}
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
for S in range(3):
    print(f"seed{S} plain (beta 0.001): rows, last 8 steps", *last8(f"{plain[S]}/train/metrics.jsonl"))
    print(f"seed{S} guard (beta 0.04):  rows, last 8 steps", *last8(f"guard{S}/train/metrics.jsonl"))
def rate(d, key):
    v = json.load(open(f"{d}/summary.json"))[key]
    return 100 * (v["k"] / v["n"] if isinstance(v, dict) else v)
for key in ("first_try", "second_try"):
    for name, runs in (("plain", ev_plain), ("guard", {S: ev[f"guard{S}"] for S in range(3)})):
        gains = [rate(runs[S], key) - rate(ev["boost"], key) for S in range(3)]
        m, sd = st.mean(gains), st.stdev(gains)
        h = 4.303 * sd / math.sqrt(3)  # t(0.975, df=2)
        print(f"{key} {name}: per-seed gains {[round(g, 1) for g in gains]}, mean {m:+.2f}, sd {sd:.2f}, "
              f"t-interval over 3 seeds [{m - h:+.2f}, {m + h:+.2f}]")
PY
