"""Summary of expected.py's outputs: per model, the mean probability (over the same dev failures) that a fresh
attempt, a retry after one of the model's reflections, and a retry after the best of its G reflections is right;
how much the reflections differ; and each model minus the first, paired, with a bootstrap CI over failures.

python summarize.py boosted=boosted.jsonl t4=t4.jsonl ...
"""

import json
import random
import statistics
import sys


def load(path):
    with open(path) as f:
        return {r["id"]: r for r in map(json.loads, f)}


def boot(diffs, reps=10000, seed=0):
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(reps))
    return statistics.fmean(diffs), means[int(0.025 * reps)], means[int(0.975 * reps) - 1]


runs = [(spec.split("=")[0], load(spec.split("=")[1])) for spec in sys.argv[1:]]
ids = sorted(set.intersection(*(set(r) for _, r in runs)))
print(f"{len(ids)} dev failures of the boosted model (first try), G reflections each; probabilities in %\n")
print(
    "| model | fresh attempt | retry after a reflection | retry after the best of G | best / mean "
    "| spread across reflections (mean sd) | retry − fresh (paired) |"
)
print("|---|---|---|---|---|---|---|")
for name, r in runs:
    fresh = [r[i]["fresh"] for i in ids]
    mean = [statistics.fmean(r[i]["retry"]) for i in ids]
    best = [max(r[i]["retry"]) for i in ids]
    sd = [statistics.pstdev(r[i]["retry"]) for i in ids]
    d, lo, hi = boot([m - f for m, f in zip(mean, fresh, strict=True)])
    print(
        f"| {name} | {100 * statistics.fmean(fresh):.2f} | {100 * statistics.fmean(mean):.2f} | "
        f"{100 * statistics.fmean(best):.2f} | {statistics.fmean(best) / statistics.fmean(mean):.2f} | "
        f"{100 * statistics.fmean(sd):.2f} | {100 * d:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] |"
    )
base_name, base = runs[0]
print()
for name, r in runs[1:]:
    for key, f in (
        ("retry after a reflection", lambda x: statistics.fmean(x["retry"])),
        ("fresh attempt", lambda x: x["fresh"]),
    ):
        d, lo, hi = boot([f(r[i]) - f(base[i]) for i in ids])
        print(f"{name} minus {base_name}, {key}: {100 * d:+.2f} pts [{100 * lo:+.2f}, {100 * hi:+.2f}]")
