"""Summary of the seed-1 probe rows done so far vs the seed-0 rows on the same failures (first N of 100)."""
import json, sys
sys.path.insert(0, "/work/main")
from reflectrl.probe import summarize, format_summary
from reflectrl.jsonl import read_jsonl
s1 = read_jsonl("/work/exp/s33/probe-train/probe.jsonl")
s0 = read_jsonl("/work/main/docs/results/countdown-long-avx2/steps80/probe.jsonl")
ids = {r["id"] for r in s1}
print(format_summary(summarize(s1, s0), f"seed 1, 80 steps (vs seed 0), first {len(s1)} failures"))
print(format_summary(summarize([r for r in s0 if r["id"] in ids]), f"seed 0, 80 steps, the same {len(ids)} failures"))
json.dump(summarize(s1, s0), open("/work/exp/s33/probe-train/summary-vs-seed0-partial.json", "w"), indent=1)
