"""Per problem, the mean over training seeds of the no-leak models' outcome minus the mean over the same seeds of
the plain 56-step models' (same boost, same seeds), with reflectrl.stats' paired bootstrap over problems, and
the t-interval over the seeds' own differences (no-leak minus plain, seed by seed; it covers reruns of training).
Usage: vs_plain.py plain0,nl0 plain1,nl1 ... (evaluation folders)."""
import json
import sys

from reflectrl.stats import paired_diff_ci, t_interval


def load(folder):
    return {d["id"]: d for d in map(json.loads, open(f"{folder}/samples.jsonl"))}


pairs = [tuple(map(load, arg.split(","))) for arg in sys.argv[1:]]
ids = sorted(set.intersection(*[set(p) & set(n) for p, n in pairs]))
for key in ("first_try", "second_try"):
    a = [sum(float(p[i][key]) for p, _ in pairs) / len(pairs) for i in ids]
    b = [sum(float(n[i][key]) for _, n in pairs) / len(pairs) for i in ids]
    mean, low, high = paired_diff_ci(a, b)
    print(f"{key}: no-leak minus plain, mean of {len(pairs)} seeds: {100 * mean:+.1f} pts [{100 * low:+.1f}, {100 * high:+.1f}], {len(ids)} problems")
    per_seed = [sum(float(n[i][key]) - float(p[i][key]) for i in ids) / len(ids) for p, n in pairs]
    if len(per_seed) > 1:
        _, t_low, t_high = t_interval(per_seed)
        shown = ", ".join(f"{100 * d:+.1f}" for d in per_seed)
        print(f"  per seed {shown}; t-interval over seeds [{100 * t_low:+.1f}, {100 * t_high:+.1f}]")
