"""Per ten steps, for each named metrics.jsonl: P(right retry) (expected_success, no bonus), format_match, share of
reflections with a leak (a whole equation other than the failed one), KL to the start, s/step."""
import json, statistics, sys
m = lambda v: statistics.fmean(v) if v else float("nan")
print("run     steps   P(right retry)  format_match  leak   kl     s/step")
for spec in sys.argv[1:]:
    name, path = spec.split("=")
    rows = {}
    for line in open(path):
        r = json.loads(line)
        if "kl" in r:
            rows[r["step"]] = r  # a resumed step: its last row
    tens = {}
    for step, r in rows.items():
        tens.setdefault((step - 1) // 10, []).append(r)
    for k, v in sorted(tens.items()):
        drawn = [r for r in v if "expected_success" in r]
        print(f"{name:7s} {10*k+1:2d}-{10*k+10:2d}   {m([r['expected_success'] for r in drawn]):.3f}           "
              f"{m([r['format_match'] for r in drawn]):.3f}         {m([r['reflection/leak'] for r in drawn]):.3f}  "
              f"{m([r['kl'] for r in v]):.3f}  {m([r['step_time'] for r in v]):5.1f}")
