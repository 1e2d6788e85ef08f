"""Leaks (reflections.leaked_answer) whose equation keeps the failed attempt's numbers in its order: a misquote of the
failed equation or the same numbers with another operator, as opposed to a new arrangement."""
import json, re, sys
from reflectrl.reflections import leaked_answer
from reflectrl.tasks import get_task
from reflectrl.tasks.countdown_equation import parse_equation
task = get_task("countdown")
for spec in sys.argv[1:]:
    name, d = spec.split("=")
    n = leak = mis = mis_right = 0
    for line in open(f"{d}/samples.jsonl"):
        r = json.loads(line)
        if r.get("reflection") is None: continue
        p = str(r["prompt"])
        ex = {"nums": [int(x) for x in re.search(r"\[([0-9, ]+)\]", p).group(1).split(",")], "target": int(re.search(r"equals (\d+)", p).group(1))}
        n += 1
        lk = leaked_answer(task, ex, r["attempt"], r["reflection"])
        if lk is None: continue
        leak += 1
        failed = task.answer_in(ex, r["attempt"])
        try:
            same = failed is not None and parse_equation(lk)[0] == parse_equation(failed)[0]
        except Exception:
            same = False
        mis += same; mis_right += same and bool(r["retry_success"])
    print(f"{name}: {n} reflections, {leak} leaks, {mis} use the failed attempt's numbers in its order (retry right after {mis_right})")
