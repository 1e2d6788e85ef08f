"""The eval's new leak measures (reflections.describe with Countdown's prose-equation answer_in) recomputed on
existing samples.jsonl files: reflections with a leak, how many verify, how many retries copy them, and the retry
success with and without a leak."""
import json, re, sys  # run from the repo root with its venv
from reflectrl.reflections import describe
from reflectrl.tasks import get_task

task = get_task("countdown")
print("| model | reflections | leak (verifies) | retry copies it | retry right: leak / no leak |")
print("|---|---|---|---|---|")
for spec in sys.argv[1:]:
    name, d = spec.split("=")
    n = leak = ver = copies = 0
    right = {True: [0, 0], False: [0, 0]}
    for line in open(f"{d}/samples.jsonl"):
        r = json.loads(line)
        if r.get("reflection") is None:
            continue
        p = str(r["prompt"])
        ex = {"nums": [int(x) for x in re.search(r"\[([0-9, ]+)\]", p).group(1).split(",")],
              "target": int(re.search(r"equals (\d+)", p).group(1))}
        m = describe(task, ex, r["attempt"], r["reflection"], r["retry"] or "", 0)
        n += 1; leak += m["leak"]; ver += m["leak_verifies"]; copies += m["retry_copies_leak"]
        right[m["leak"]][0] += bool(r["retry_success"]); right[m["leak"]][1] += 1
    f = lambda k: f"{right[k][0]}/{right[k][1]}"
    print(f"| {name} | {n} | {leak} ({ver}) | {copies} | {f(True)} / {f(False)} |")
