"""Paired test comparison of a model's eval folder against the long run's boosted model (same 500 test problems)."""
import json
import sys

from reflectrl.jsonl import read_jsonl
from reflectrl.stats import mcnemar_exact, paired_diff_ci

base, other = sys.argv[1], sys.argv[2]
a = {r["id"]: r for r in read_jsonl(base + "/samples.jsonl")}
b = {r["id"]: r for r in read_jsonl(other + "/samples.jsonl")}
ids = sorted(set(a) & set(b))
for k in ("first_try", "second_try", "resample_second_try"):
    x = [a[i][k] for i in ids]
    y = [b[i][k] for i in ids]
    d, lo, hi = paired_diff_ci(x, y)
    print(f"{k}: {sum(x)} -> {sum(y)} of {len(ids)}: {100*d:+.1f} [{100*lo:+.1f}, {100*hi:+.1f}], p={mcnemar_exact(x, y):.4f}")
s = json.load(open(other + "/summary.json"))
print({k: (s[k]["k"], s[k]["n"], round(100 * s[k]["rate"], 1), round(100*s[k]["ci_low"],1), round(100*s[k]["ci_high"],1)) for k in ("first_try", "second_try", "resample_pass2", "retry_after_failure", "resample_after_failure")})
print(s["retry_minus_resample"])
print("leak", s.get("reflections", {}).get("leak"), "verifies", s.get("reflections", {}).get("leak_verifies"))
