#!/usr/bin/env bash
# Seeds 0-2 of the AMX long-config read-out on dev (plan addenda 1 and 3).
cd /work/exp/s47
M=/work/main; P=$M/.venv/bin
$P/reflectrl paired boost=long/eval-start seed0=long/eval-trained seed1=dev-seed1 seed2=dev-seed2
for S in 1 2; do
  echo "== hollow seed$S"; $P/python $M/docs/results/countdown-long-avx2/steps56/hollow.py long/eval-start dev-seed$S
done
$P/python $M/docs/results/countdown-long-avx2/steps56-noleak/reasons.py boost=long/eval-start seed0=long/eval-trained seed1=dev-seed1 seed2=dev-seed2
$P/python - <<'PY'
import json, math, statistics as st
ev = {"boost": "long/eval-start", "seed0": "long/eval-trained", "seed1": "dev-seed1", "seed2": "dev-seed2"}
for k, d in ev.items():
    s = json.load(open(f"{d}/summary.json"))
    print(k, "retry - resample:", s["retry_minus_resample"], "retry", s["retry_after_failure"]["k"], "/", s["retry_after_failure"]["n"], "fresh", s["resample_after_failure"]["k"])
for S, f in ((0, "long/train/metrics.jsonl"), (1, "seed1/train/metrics.jsonl"), (2, "seed2/train/metrics.jsonl")):
    rows = [json.loads(l) for l in open(f)]
    last = rows[-8:]
    out = {k: round(sum(v) / len(v), 4) for k in ("kl", "reflection_tokens", "reflection/leak") if (v := [r[k] for r in last if r.get(k) is not None])}
    print(f"seed{S}: {len(rows)} metric rows, steps {[r['step'] for r in rows][:1]}..{rows[-1]['step']}, last 8 steps {out}, groups drawn", sum(r["groups_drawn"] for r in rows), "trained", sum(r["groups_trained"] for r in rows))
def rate(d, key):
    v = json.load(open(f"{d}/summary.json"))[key]
    return 100 * (v["k"] / v["n"] if isinstance(v, dict) else v)
for key in ("first_try", "second_try"):
    gains = [rate(ev[f"seed{S}"], key) - rate(ev["boost"], key) for S in range(3)]
    m, sd = st.mean(gains), st.stdev(gains)
    h = 4.303 * sd / math.sqrt(3)  # t(0.975, df=2)
    print(f"{key}: per-seed gains {[round(g, 1) for g in gains]}, mean {m:+.2f}, t-interval over 3 seeds [{m - h:+.2f}, {m + h:+.2f}]")
PY
