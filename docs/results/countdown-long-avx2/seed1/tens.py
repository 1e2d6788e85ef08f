"""Mean step reward, KL and step time per ten steps, seed 0 (committed 80-step run) vs seed 1 (this run)."""
import json, statistics, sys
def tens(path):
    rows = {}
    for line in open(path):
        r = json.loads(line)
        if "kl" in r:
            rows[r["step"]] = r  # a resumed step: its last row
    out = {}
    for step, r in rows.items():
        out.setdefault((step - 1) // 10, []).append(r)
    m = statistics.fmean
    return {k: (m(r["reward"] for r in v if "reward" in r),  # a step that trained only carried groups has none
                 m(r["kl"] for r in v), m(r["step_time"] for r in v), len(v)) for k, v in out.items()}
a = tens("/work/main/docs/results/countdown-long-avx2/steps80/train-metrics.jsonl")
b = tens(sys.argv[1] if len(sys.argv) > 1 else "/work/exp/s33/long/train/metrics.jsonl")
print("steps   | seed0 reward  kl     s/step | seed1 reward  kl     s/step (n)")
for k in sorted(a):
    x, y = a[k], b.get(k)
    right = f"{y[0]:.3f}     {y[1]:.3f}  {y[2]:5.1f} ({y[3]})" if y else "-"
    print(f"{10*k+1:2d}-{10*k+10:2d}   |  {x[0]:.3f}     {x[1]:.3f}  {x[2]:5.1f}  |  {right}")
