"""Fill RESULTS §8j's probe paragraph from the probe rows done (first N of 100 failures)."""
import json, sys
sys.path.insert(0, "/work/main")
from reflectrl.probe import summarize
from reflectrl.jsonl import read_jsonl
s1 = read_jsonl("/work/exp/s33/probe-train/probe.jsonl")
s0all = read_jsonl("/work/main/docs/results/countdown-long-avx2/steps80/probe.jsonl")
ids = {r["id"] for r in s1}
s0 = [r for r in s0all if r["id"] in ids]
a, b = summarize(s1, s0all), summarize(s0)
n = len(s1)
c = lambda d: f"{100*d['diff']:+.2f} [{100*d['ci_low']:+.2f}, {100*d['ci_high']:+.2f}]"
hint = lambda rows: (sum("start from" in t for r in rows for t in r["reflections"]), sum(len(r["reflections"]) for r in rows))
h1, h0 = hint(s1), hint(s0)
part = "all 100" if n == 100 else f"the first {n} of the 100 (the probe was stopped for the session's time; pairs are over those {n})"
text = f"""**Without sampling noise** (`reflectrl probe`, G = 8, on §8g's 100 dev failures, `auto` = bf16 inference;
{part}):

| P(right) in %, {n} dev failures | fresh attempt | retry after a reflection | retry after the best of 8 | spread (mean sd) | retry − fresh (paired) |
|---|---|---|---|---|---|
| after R3, 80 steps, seed 0 (§8h) | {100*b['fresh']:.2f} | {100*b['retry']:.2f} | {100*b['retry_best_of_g']:.2f} | {100*b['retry_spread']:.2f} | {c(b['retry_minus_fresh'])} |
| after R3, 80 steps, **seed 1** | {100*a['fresh']:.2f} | {100*a['retry']:.2f} | {100*a['retry_best_of_g']:.2f} | {100*a['retry_spread']:.2f} | {c(a['retry_minus_fresh'])} |
| seed 1 − seed 0 (paired) | {c(a['minus_baseline']['fresh'])} | {c(a['minus_baseline']['retry'])} | | | |

Why the seeds differ shows in the reflections themselves. The hint boost taught reflections that end in a first
step ("I will start from 98 - 54."): 417 of the boosted model's 454 dev reflections have one, and so do {h0[0]} of seed 0's
{h0[1]} probe reflections on these failures. Seed 1's R3 training drifted away from that form, to rule-like text with no step
("The numbers are right, so the operations or their order are wrong."): {h1[0]} of {h1[1]} probe reflections and 39 of
its 451 sampled dev reflections still give a step. Without the step the retry has nothing to build on: the
spread across a failure's 8 reflections and the best of 8 collapse toward the fresh attempt. So the reward did
not hold the one form the boost made useful; which way a run goes depended on its seed.
"""
open("/work/exp/s33/an/probe-para.md", "w").write(text)
print(text)
