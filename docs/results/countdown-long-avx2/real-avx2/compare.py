"""Does the real AVX2-only run reproduce the AVX2-capped imitation (docs/results/countdown-long-avx2)? Stage by stage."""
import json, sys
from pathlib import Path

NEW = Path("/work/exp/s39/long")
OLD = Path("/work/main/docs/results/countdown-long-avx2")
KEYS = ["first_try", "second_try", "retry_after_failure", "resample_after_failure"]


def rows(p):
    return [json.loads(x) for x in open(p)]


def boost():
    f = NEW / "boost/boost.json"
    if not f.exists():
        return "boost: not finished"
    a = [h for h in json.load(open(f))["log_history"] if "loss" in h]
    b = [h for h in json.load(open(OLD / "boost/boost.json"))["log_history"] if "loss" in h]
    same = sum(x["loss"] == y["loss"] and x["grad_norm"] == y["grad_norm"] for x, y in zip(a, b))
    md = max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b))
    return f"boost: {same}/{len(b)} logged (loss, grad_norm) bit-identical, max |dloss| {md:.2e}"


def evals(new, old_summary, old_samples):
    f = NEW / new / "summary.json"
    if not f.exists():
        return f"{new}: not finished"
    a, b = json.load(open(f)), json.load(open(old_summary))
    out = [f"{new}: " + ", ".join(f"{k} {a[k]['k']}/{a[k]['n']} vs {b[k]['k']}/{b[k]['n']}" for k in KEYS)]
    drop = lambda r: {k: v for k, v in r.items() if k != "reflection_measures"}  # measures computed by later code
    mine = [drop(r) for r in rows(NEW / new / "samples.jsonl")[:40]]
    theirs = [drop(r) for r in rows(old_samples)]
    out.append(f"  first 40 episodes identical (text, verdicts): {sum(x == y for x, y in zip(mine, theirs))}/{len(theirs)}")
    return "\n".join(out)


def mine():
    f = NEW / "mine/stats.json"
    if not f.exists():
        return "mine: not finished"
    a, b = json.load(open(f)), json.load(open(OLD / "mine/stats.json"))
    return f"mine: identical stats {a == b}: failure_pairs {a['failure_pairs']} vs {b['failure_pairs']}, mixed {a['queries_mixed']} vs {b['queries_mixed']}"


def train():
    f = NEW / "train/metrics.jsonl"
    if not f.exists():
        return "train: not started"
    a, b = rows(f), rows(OLD / "steps80/train-metrics.jsonl")
    same = sum(x.get("loss") == y.get("loss") and x.get("reward") == y.get("reward") for x, y in zip(a, b))
    first = next((x["step"] for x, y in zip(a, b) if x.get("loss") != y.get("loss")), None)
    st = [x["step_time"] for x in a]
    return (f"train: {len(a)} steps; {same}/{len(a)} with identical loss and reward vs steps80; first differing step {first}; "
            f"mean step_time {sum(st)/len(st):.1f} s (steps80: {sum(y['step_time'] for y in b[:len(a)])/len(a):.1f} s on the same steps)")


print(boost()); print(evals("eval-start", OLD / "eval-start/summary.json", OLD / "eval-start/samples-first40.jsonl"))
print(mine()); print(train())
print(evals("eval-trained", OLD / "steps80/eval-dev-summary.json", OLD / "steps80/eval-dev-samples-first40.jsonl"))
t = NEW / "timings.json"
print("timings:", json.load(open(t)) if t.exists() else "none yet")
