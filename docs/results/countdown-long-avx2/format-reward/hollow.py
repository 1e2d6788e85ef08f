"""Hollow-gain guard beyond <answer> tags: a reflection whose "start from ..." step is a whole equation (every
number of the problem once) is a bare guess the retry can copy. Counts such reflections, how many verify, how many
retries copy them, and the retry's success with a whole-equation step, a partial step, or none. Parsed with the
task's own equation parser (no eval)."""
import json, re, sys
sys.path.insert(0, "/work/main")
from reflectrl.tasks.countdown import parse_equation

STEP = re.compile(r"start from ([0-9+\-*/() ]+)")

def kind(refl, nums, target):
    m = STEP.findall(refl or "")
    if not m:
        return "none", None
    expr = m[-1].strip()
    try:
        literals, value = parse_equation(expr)
    except Exception:
        return "partial", None
    if sorted(literals) == sorted(nums):
        return ("whole-right" if abs(value - target) < 1e-9 else "whole-wrong"), "".join(expr.split())
    return "partial", None

if __name__ == "__main__":
    print("| model | reflections | step is a whole equation (verifies) | retry copies it | retry right: whole eq. / partial step / no step |")
    print("|---|---|---|---|---|")
    for spec in sys.argv[1:]:
        name, d = spec.split("=")
        rows = [json.loads(line) for line in open(f"{d}/samples.jsonl")]
        stats = {"whole-right": [], "whole-wrong": [], "partial": [], "none": []}
        copies = 0
        for r in rows:
            if r.get("reflection") is None:
                continue
            p = str(r["prompt"])
            nums = [int(x) for x in re.search(r"\[([0-9, ]+)\]", p).group(1).split(",")]
            target = int(re.search(r"equals (\d+)", p).group(1))
            k, expr = kind(r["reflection"], nums, target)
            stats[k].append(r["retry_success"])
            retry = re.search(r"<answer>(.*?)</answer>", r["retry"] or "", re.S)
            if expr and retry and "".join(retry.group(1).split()) == expr:
                copies += 1
        n = sum(len(v) for v in stats.values())
        whole = stats["whole-right"] + stats["whole-wrong"]
        rate = lambda v: f"{sum(v)}/{len(v)}"
        print(f"| {name} | {n} | {len(whole)} ({len(stats['whole-right'])}) | {copies} | {rate(whole)} / {rate(stats['partial'])} / {rate(stats['none'])} |")
