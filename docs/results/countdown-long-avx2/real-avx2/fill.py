import json, re
from pathlib import Path
N = Path("/work/exp/s39/long")
t = json.load(open(N / "timings.json"))
A = [json.loads(x) for x in open(N / "train/metrics.jsonl")]
B = [json.loads(x) for x in open("/work/main/docs/results/countdown-long-avx2/steps80/train-metrics.jsonl")]
print({k: round(v / 60, 1) for k, v in t.items()})
print("steps", len(A), "mean step_time", sum(x["step_time"] for x in A) / len(A),
      "rollout/step (step_time - update)", sum(x["step_time"] - x["update_seconds"] for x in A) / len(A),
      "update/step", sum(x["update_seconds"] for x in A) / len(A),
      "drawn", sum(x.get("groups_drawn") or 0 for x in A), "trained", sum(x["groups_trained"] for x in A))
print("generated-token counts identical", sum(x["generated_tokens"] == y["generated_tokens"] for x, y in zip(A, B)),
      "max rel reward diff", max(abs(x["reward"] - y["reward"]) / max(abs(y["reward"]), 1e-9) for x, y in zip(A, B) if x.get("reward") is not None))
log = open("/work/exp/s39/long.log").read()
for k in ["Elapsed (wall clock)", "Maximum resident set size", "Percent of CPU"]:
    m = re.search(re.escape(k) + r".*?: (\S+)\n", log); print(k, m and m.group(1))
print(open("/work/exp/s39/long.start").read(), open("/work/exp/s39/long.end").read() if Path("/work/exp/s39/long.end").exists() else "")
