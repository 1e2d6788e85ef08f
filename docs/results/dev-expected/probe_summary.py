"""Summary of probe.py beside expected.py for one model: mean P(retry is a reference answer) per reflection kind,
and each kind minus the empty reflection, paired, with a bootstrap CI over the same failures.

python probe_summary.py <expected.jsonl> <probe.jsonl>
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


expected, probe = load(sys.argv[1]), load(sys.argv[2])
ids = sorted(set(expected) & set(probe))
kinds = {
    "fresh attempt (no failed attempt in context)": [expected[i]["fresh"] for i in ids],
    "retry after an empty reflection": [probe[i]["empty"] for i in ids],
    "retry after the model's own reflection (mean of G)": [statistics.fmean(expected[i]["retry"]) for i in ids],
    "retry after the best of its G reflections": [max(expected[i]["retry"]) for i in ids],
    "retry after the verifier's exact finding": [probe[i]["verifier"] for i in ids],
    "retry after the first step of a correct equation": [probe[i].get("first_step") for i in ids],
    "retry after a correct equation (oracle)": [probe[i]["oracle"] for i in ids],
}
empty = kinds["retry after an empty reflection"]
print(f"{len(ids)} dev failures; P(retry is a reference answer), %\n")
print("| context before the retry | mean | minus empty reflection (paired) |")
print("|---|---|---|")
for name, values in kinds.items():
    if None in values:  # an older probe.py output without this kind
        continue
    d, lo, hi = boot([v - e for v, e in zip(values, empty, strict=True)])
    print(f"| {name} | {100 * statistics.fmean(values):.2f} | {100 * d:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] |")
