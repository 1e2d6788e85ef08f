"""Share of dev reflections in the hint form, and the retry's success with and without it, per eval folder."""
import json, re, sys
FORM = re.compile(r"start from \d+ [-+*/] \d+")  # train.reflection_format of the run
print("| model | reflections in the form | retry right, in the form | retry right, not in it |")
print("|---|---|---|---|")
for spec in sys.argv[1:]:
    name, d = spec.split("=")
    rows = [json.loads(line) for line in open(f"{d}/samples.jsonl")]
    eps = [(bool(FORM.search(r["reflection"])), r["retry_success"]) for r in rows if r.get("reflection") is not None]
    yes = [ok for f, ok in eps if f]
    no = [ok for f, ok in eps if not f]
    share = lambda v: f"{sum(v)}/{len(v)} ({100 * sum(v) / max(len(v), 1):.1f}%)"
    print(f"| {name} | {len(yes)}/{len(eps)} | {share(yes)} | {share(no)} |")
