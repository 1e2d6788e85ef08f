"""Per ten steps: seed 1 without (§8j) and with the format reward: expected retry reward, format_match, KL, s/step."""
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
    m = lambda v: statistics.fmean(v) if v else float("nan")
    # a step that trained only carried groups has no reward; seed 1's reward is its expected_success
    return {k: (m([r.get("expected_success", r.get("reward")) for r in v if "reward" in r]),
                m([r["format_match"] for r in v if "format_match" in r]),
                m([r["kl"] for r in v]), m([r["step_time"] for r in v]), len(v)) for k, v in out.items()}
a = tens(sys.argv[1])
b = tens(sys.argv[2])
print("steps  | seed 1: P(right retry)  kl     s/step | + format reward: P(right retry)  format_match  kl     s/step (n)")
for k in sorted(a):
    x, y = a[k], b.get(k)
    right = f"{y[0]:.3f}    {y[1]:.3f}    {y[2]:.3f}  {y[3]:5.1f} ({y[4]})" if y else "-"
    print(f"{10*k+1:2d}-{10*k+10:2d}  |  {x[0]:.3f}     {x[2]:.3f}  {x[3]:5.1f}  |  {right}")
