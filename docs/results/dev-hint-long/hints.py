"""How the dev reflections' hint ends ("I will start from ..."): an operation on two numbers, a bare number, or no
hint; and the retry's success after each. python hints.py name=<eval dir> ...  (prints a markdown table)"""

import json
import re
import sys

print(
    "| model | failures | hint is a step (a op b) | retry right after it "
    "| hint is a number | retry right after it | no hint |"
)
print("|---|---|---|---|---|---|---|")
for spec in sys.argv[1:]:
    name, path = spec.split("=", 1)
    with open(f"{path}/samples.jsonl") as f:
        failed = [r for r in map(json.loads, f) if not r["attempt_success"]]
    kinds = {"step": [], "number": [], "none": []}
    for r in failed:
        hints = re.findall(r"start from ([^.]*)\.", r["reflection"] or "")
        kind = "none" if not hints else "step" if re.search(r"\d+\s*[-+*/]\s*\d+", hints[-1]) else "number"
        kinds[kind].append(r["retry_success"])
    cell = lambda xs: f"{sum(xs)}/{len(xs)}" + (f" ({100 * sum(xs) / len(xs):.1f}%)" if xs else "")  # noqa: E731
    print(
        f"| {name} | {len(failed)} | {len(kinds['step'])} | {cell(kinds['step'])} | {len(kinds['number'])} "
        f"| {cell(kinds['number'])} | {len(kinds['none'])} |"
    )
