"""Dev comparison table from eval-dev/summary.json + samples.jsonl of several run folders."""
import json, sys
sys.path.insert(0, "/work/main")
from reflectrl.stats import paired_diff_ci, mcnemar_exact

def load(d):
    s = json.load(open(f"{d}/summary.json"))
    r = {json.loads(l)["id"]: json.loads(l) for l in open(f"{d}/samples.jsonl")}
    return s, r

def pct(x): return f"{100*x['rate']:.1f}% [{100*x['ci_low']:.1f}, {100*x['ci_high']:.1f}] ({x['k']}/{x['n']})"

rows = sys.argv[1:]
base_s, base_r = load(rows[0].split("=")[1])
print("| run | first try | second try | retry after failure | resample after failure | retry - resample (paired) | reflections with an answer (verify) |")
print("|---|---|---|---|---|---|---|")
for spec in rows:
    name, d = spec.split("=")
    s, r = load(d)
    p = s["retry_minus_resample"]
    refl = s.get("reflections", {})
    leak = refl.get("leak", {}); lv = refl.get("leak_verifies", {})
    print(f"| {name} | {pct(s['first_try'])} | {pct(s['second_try'])} | {pct(s['retry_after_failure'])} | {pct(s['resample_after_failure'])} | {100*p['diff']:+.1f} pts [{100*p['ci_low']:+.1f}, {100*p['ci_high']:+.1f}], McNemar p={p['p_mcnemar']:.2f} | {leak.get('k')}/{leak.get('n')} ({lv.get('k')}) |")
print()
for spec in rows[1:]:
    name, d = spec.split("=")
    s, r = load(d)
    ids = sorted(set(r) & set(base_r))
    for key in ("first_try", "second_try"):
        a = [base_r[i][key] for i in ids]; b = [r[i][key] for i in ids]
        m, lo, hi = paired_diff_ci(a, b)
        print(f"{name} minus {rows[0].split('=')[0]}, {key}: {100*m:+.1f} pts [{100*lo:+.1f}, {100*hi:+.1f}], McNemar p={mcnemar_exact(a, b):.2f} (n={len(ids)})")
