"""hollow.py's count on `reflectrl probe` rows (8 reflections per dev failure): how many reflections' "start
from ..." step is a whole equation, and how many of those verify. Problems from the failures file by id."""
import json, re, sys
sys.path.insert(0, "/work/main/docs/results/countdown-long-avx2/format-reward")
from hollow import kind

failures = {}
for line in open("/work/exp/s33/long/eval-start/samples.jsonl"):
    r = json.loads(line)
    p = str(r["prompt"])
    failures[r["id"]] = ([int(x) for x in re.search(r"\[([0-9, ]+)\]", p).group(1).split(",")],
                         int(re.search(r"equals (\d+)", p).group(1)))
print("| model | failures | reflections | step is a whole equation (verifies) | partial step | no step |")
print("|---|---|---|---|---|---|")
for spec in sys.argv[1:]:
    name, path, *limit = spec.split("=")
    rows = [json.loads(line) for line in open(path)][: int(limit[0]) if limit else None]
    c = {"whole-right": 0, "whole-wrong": 0, "partial": 0, "none": 0}
    for r in rows:
        nums, target = failures[r["id"]]
        for refl in r["reflections"]:
            c[kind(refl, nums, target)[0]] += 1
    whole = c["whole-right"] + c["whole-wrong"]
    print(f"| {name} | {len(rows)} | {sum(c.values())} | {whole} ({c['whole-right']}) | {c['partial']} | {c['none']} |")
