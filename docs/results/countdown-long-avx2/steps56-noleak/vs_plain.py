"""Per problem, the mean over training seeds of the no-leak models' outcome minus the mean over the same seeds of
the plain 56-step models' (same boost, same seeds), with reflectrl.stats' paired bootstrap over problems.
Usage: vs_plain.py plain0,nl0 plain1,nl1 ... (evaluation folders)."""
import json
import sys

from reflectrl.stats import paired_diff_ci


def load(folder):
    return {d["id"]: d for d in map(json.loads, open(f"{folder}/samples.jsonl"))}


pairs = [tuple(map(load, arg.split(","))) for arg in sys.argv[1:]]
ids = sorted(set.intersection(*[set(p) & set(n) for p, n in pairs]))
for key in ("first_try", "second_try"):
    a = [sum(float(p[i][key]) for p, _ in pairs) / len(pairs) for i in ids]
    b = [sum(float(n[i][key]) for _, n in pairs) / len(pairs) for i in ids]
    mean, low, high = paired_diff_ci(a, b)
    print(f"{key}: no-leak minus plain, mean of {len(pairs)} seeds: {100 * mean:+.1f} pts [{100 * low:+.1f}, {100 * high:+.1f}], {len(ids)} problems")
