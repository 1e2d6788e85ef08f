"""The format-reward model's probe rows paired with seed 0's (§8h) on the same 70 dev failures."""
import json, sys
sys.path.insert(0, "/work/main")
from reflectrl.probe import summarize, format_summary
from reflectrl.jsonl import read_jsonl
f = read_jsonl("/work/exp/s34/probe-fmt/probe.jsonl")
s0 = read_jsonl("/work/main/docs/results/countdown-long-avx2/steps80/probe.jsonl")
print(format_summary(summarize(f, s0), f"seed 1 + format reward (vs seed 0), first {len(f)} failures"))
