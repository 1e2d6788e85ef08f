"""Hollow-gain guard per evaluation: second try with and without retries after a reflection that already holds a
verified answer; paired difference vs the boost on the non-hollow second try (reflectrl.stats' bootstrap, McNemar)."""

import json
import sys

from reflectrl.stats import mcnemar_exact, paired_diff_ci


def load(folder):
    return {d["id"]: d for d in map(json.loads, open(f"{folder}/samples.jsonl"))}


def solid(d):  # solved on the first try, or by a retry whose reflection did not already hold a right answer
    m = d.get("reflection_measures") or {}
    return d["first_try"] or (d["second_try"] and not m.get("leak_verifies"))


base_dir, *runs = sys.argv[1:]
base = load(base_dir)
for run_dir in [base_dir, *runs]:
    run = load(run_dir)
    failed = [d for d in run.values() if not d["first_try"]]
    measures = [d.get("reflection_measures") or {} for d in failed]
    equations = sum(x.get("leak", False) for x in measures)
    verified = sum(x.get("leak_verifies", False) for x in measures)
    after_verified = sum(
        d["second_try"] and x.get("leak_verifies", False) for d, x in zip(failed, measures, strict=True)
    )
    print(
        run_dir,
        f"second try {sum(d['second_try'] for d in run.values())}/{len(run)}",
        f"reflections with a whole equation {equations}/{len(failed)}",
        f"of which verify {verified}",
        f"right retries after a verified one {after_verified}",
        f"non-hollow second try {sum(solid(d) for d in run.values())}/{len(run)}",
    )
    if run_dir != base_dir:
        ids = sorted(set(base) & set(run))
        a, b = [solid(base[i]) for i in ids], [solid(run[i]) for i in ids]
        mean, low, high = paired_diff_ci(a, b)
        print(
            f"  non-hollow second try minus boost: {100 * mean:+.1f} pts [{100 * low:+.1f}, {100 * high:+.1f}] "
            f"(paired bootstrap 95%), McNemar p={mcnemar_exact(a, b):.2f}, {len(ids)} problems"
        )
