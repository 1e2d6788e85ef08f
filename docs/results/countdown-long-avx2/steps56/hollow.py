"""Hollow-gain guard per evaluation: second try with and without retries after a reflection that already holds a
verified answer; paired difference vs the boost on the non-hollow second try (bootstrap over problems)."""
import json
import random
import sys


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
    m = [d.get("reflection_measures") or {} for d in failed]
    print(run_dir, f"second try {sum(d['second_try'] for d in run.values())}/{len(run)}",
          f"reflections with a whole equation {sum(x.get('leak', False) for x in m)}/{len(failed)}",
          f"of which verify {sum(x.get('leak_verifies', False) for x in m)}",
          f"right retries after a verified one {sum(d['second_try'] and (d.get('reflection_measures') or {}).get('leak_verifies', False) for d in failed)}",
          f"non-hollow second try {sum(solid(d) for d in run.values())}/{len(run)}")
    if run_dir != base_dir:
        ids = sorted(set(base) & set(run))
        diff = [solid(run[i]) - solid(base[i]) for i in ids]
        rng = random.Random(0)
        boot = sorted(sum(rng.choice(diff) for _ in ids) / len(ids) for _ in range(4000))
        print(f"  non-hollow second try minus boost: {100 * sum(diff) / len(ids):+.1f} pts "
              f"[{100 * boot[100]:+.1f}, {100 * boot[3899]:+.1f}] (bootstrap 95%, {len(ids)} problems)")
