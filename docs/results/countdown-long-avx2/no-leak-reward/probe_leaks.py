"""The probe's hollow-gain guard (reflectrl.probe.summarize with per-reflection leaks) applied to probe rows
written before probe recorded leaks: leaks are recomputed from each row's reflections with the product's
reflections.leaked_answer (Countdown: an answer tag or a whole equation in prose, not the failed one)."""
import sys
from pathlib import Path

from reflectrl.jsonl import read_jsonl
from reflectrl.probe import format_summary, load_failures, summarize
from reflectrl.reflections import leaked_answer
from reflectrl.tasks import get_task

task = get_task("countdown")
failures = {f["id"]: f for f in load_failures(Path("/work/exp/s33/long/eval-start/samples.jsonl"), task, None)}
specs = [a.split("=", 1) for a in sys.argv[1:]]
tables = {name: read_jsonl(Path(path)) for name, path in specs}
common = set.intersection(*({r["id"] for r in rows} for rows in tables.values()))
for name, rows in tables.items():
    rows = [r for r in rows if r["id"] in common]
    for r in rows:
        f = failures[r["id"]]
        r["leaks"] = [leaked_answer(task, f["example"], f["attempt"], t) is not None for t in r["reflections"]]
    print(format_summary(summarize(rows), f"{name} ({Path(specs[[n for n, _ in specs].index(name)][1]).parent.name})"))
    print()
