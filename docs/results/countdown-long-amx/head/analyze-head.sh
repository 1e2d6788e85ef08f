#!/usr/bin/env bash
# Plan addendum 12's read-out: the long config in one piece at HEAD (long-head) beside §8s's run at a76f0ad (s47/long).
M=/work/main; P=$M/.venv/bin; H=/work/exp/s51/long-head; A=/work/exp/s47/long
echo "## trained minus boosted, dev 0-499 (HEAD run)"
$P/reflectrl paired boost=$H/eval-start trained=$H/eval-trained
$P/python $M/docs/results/countdown-long-avx2/steps56/hollow.py $H/eval-start $H/eval-trained
echo "## the HEAD run beside §8s's (a76f0ad), each stage, and whether the boost's dev evaluation repeats"
H=$H A=$A $P/python - <<'PY'
import json, os
H, A = os.environ["H"], os.environ["A"]
th, ta = json.load(open(f"{H}/timings.json")), json.load(open(f"{A}/timings.json"))
for k in th:
    print(f"{k:13s} HEAD {th[k] / 60:6.1f} min   a76f0ad {ta.get(k, float('nan')) / 60:6.1f} min   ratio {th[k] / ta[k]:.2f}")
for stage in ("eval-start", "eval-trained"):
    s = json.load(open(f"{H}/{stage}/summary.json"))
    r = s["retry_minus_resample"]
    print(stage, "retry - fresh sample", f"{100 * r['diff']:+.1f} [{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}] n={r['n']}")
def eps(d):
    return {e["id"]: e for e in map(json.loads, open(f"{d}/eval-start/samples.jsonl"))}
h, a = eps(H), eps(A)
same = sum(h[i] == a[i] for i in h if i in a)
keys = ("first_try", "second_try")
same_outcomes = sum(all(h[i][k] == a[i][k] for k in keys) for i in h if i in a)
print(f"boost's dev evaluation: {same}/{len(h)} episodes identical to §8s's, {same_outcomes} with the same outcomes")
def last8(f):
    rows = [json.loads(line) for line in open(f)]
    return len(rows), {k: round(sum(v) / len(v), 3) for k in ("kl", "reflection/leak", "step_time")
                       if (v := [r[k] for r in rows[-8:] if r.get(k) is not None])}
for name, d in (("HEAD", H), ("a76f0ad", A)):
    rows = [json.loads(line) for line in open(f"{d}/train/metrics.jsonl")]
    st = [r["step_time"] for r in rows]
    print(name, "steps", len(rows), "mean step", round(sum(st) / len(st), 1), "s, of it rollout",
          round(rows[-1]["rollout_seconds"] / len(rows), 1), "s; drawn", sum(r["groups_drawn"] for r in rows),
          "trained", sum(r["groups_trained"] for r in rows), "; last 8:", last8(f"{d}/train/metrics.jsonl")[1])
PY
