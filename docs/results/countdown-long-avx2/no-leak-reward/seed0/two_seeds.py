"""The two no-leak-reward seeds together: per dev problem, the mean of the two trained models' outcomes minus the
boost's, with a 95% bootstrap interval over problems (the seeds share the 500 problems, so this stays paired)."""
import json, sys
sys.path.insert(0, "/work/main")
from reflectrl.stats import paired_diff_ci

load = lambda d: {json.loads(l)["id"]: json.loads(l) for l in open(f"{d}/samples.jsonl")}
base, *seeds = (load(d) for d in sys.argv[1:])
ids = sorted(set(base).intersection(*seeds))
for key in ("first_try", "second_try"):
    a = [base[i][key] for i in ids]
    b = [sum(s[i][key] for s in seeds) / len(seeds) for i in ids]
    m, lo, hi = paired_diff_ci(a, b)
    print(f"mean of {len(seeds)} seeds minus boost, {key}: {100*m:+.1f} pts [{100*lo:+.1f}, {100*hi:+.1f}] (n={len(ids)})")
