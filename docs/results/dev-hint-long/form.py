"""Which hint form GRPO favours from the hint boost: on the training failures of mixed queries (what hl2 trains
on), the model writes G reflections per failure; each gets the expected reward (P(retry is a reference answer),
HFEngine.score) and its group-normalised advantage; rows are summarised by how the hint ends (a step, a bare
number, none). Writes one JSON line per failure: {id, rewards, forms, tokens}.

python form.py <model> <failures.jsonl> <out.jsonl> [n_failures] [G]   (PYTHONPATH = a reflectrl checkout)

Frozen: the record of what produced the committed outputs. Its scoring is now the library's
(`rollout.episode.reference_probability`); for new measurements use `reflectrl probe` (reflectrl/probe.py).
"""

import json
import math
import os
import re
import statistics
import sys

import torch

from reflectrl.config_file import load_config
from reflectrl.models import load_model
from reflectrl.rollout.episode import after_attempt, continue_chat, reflection_context
from reflectrl.rollout.hf import HFEngine
from reflectrl.tasks import get_task

model_name, failures_path, out_path = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 60
g = int(sys.argv[5]) if len(sys.argv) > 5 else 8
torch.manual_seed(0)
cfg = load_config("configs/countdown-long.yaml", ["model.threads=1"])
model, tok = load_model(model_name, "auto", "cpu", 1, cfg.model)
engine = HFEngine(model, tok)
task = get_task("countdown", **cfg.task.options)
with open(failures_path) as f:
    rows = [r for r in map(json.loads, f) if r["query_success_rate"] >= cfg.train.min_query_success][:n]
prompts = cfg.episode.prompts()
reflect = cfg.episode.sampling("reflection", cfg.train)
t = cfg.train.temperature


def form(reflection: str) -> str:
    hints = re.findall(r"start from ([^.]*)\.", reflection)
    return "none" if not hints else "step" if re.search(r"\d+\s*[-+*/]\s*\d+", hints[-1]) else "number"


done = set()
if os.path.exists(out_path):
    with open(out_path) as f:
        done = {json.loads(line)["id"] for line in f}
with open(out_path, "a") as out:
    for i, r in enumerate(rows):
        if r["id"] in done:
            continue
        ex = r["example"]
        answers = [tok(a, add_special_tokens=False)["input_ids"] for a in task.reference_answers(ex)]
        ctx = reflection_context(engine, task, r, after_attempt(task, ex, r["attempt"], prompts, prompts.reflection))
        reflections = engine.generate([ctx], g, reflect, seed=2000 + i)[0]
        retry = cfg.episode.retry_prompt.format(question=task.question(ex))
        rewards = [
            min(1.0, sum(math.exp(x) for x in engine.score(continue_chat(tok, ctx, s, retry), answers, t)))
            for s in reflections
        ]
        tokens = [len(s.token_ids) for s in reflections]
        texts = [s.text for s in reflections]
        out.write(
            json.dumps(
                {
                    "id": r["id"],
                    "rewards": rewards,
                    "forms": [form(x) for x in texts],
                    "tokens": tokens,
                    "reflections": texts,
                }
            )
            + "\n"
        )
        out.flush()
        print(i, [form(x)[0] for x in texts], round(statistics.fmean(rewards), 4), flush=True)

# Summary: mean reward per hint form, and its mean advantage (the sign GRPO pushes a form's tokens) under each
# train.scale_rewards: group = (r - group mean) / group std; batch ~ / the std of all rewards; none = r - mean.
with open(out_path) as f:
    groups = [json.loads(line) for line in f]
batch_sd = statistics.pstdev([r for grp in groups for r in grp["rewards"]])
by_form: dict[str, dict[str, list[float]]] = {}
for grp in groups:
    mean, sd = statistics.fmean(grp["rewards"]), statistics.pstdev(grp["rewards"])
    for r, fm, k in zip(grp["rewards"], grp["forms"], grp["tokens"], strict=True):
        d = by_form.setdefault(fm, {"reward": [], "group": [], "batch": [], "none": [], "tokens": []})
        d["reward"].append(r)
        d["group"].append((r - mean) / (sd + 1e-4))
        d["batch"].append((r - mean) / (batch_sd + 1e-4))
        d["none"].append(r - mean)
        d["tokens"].append(k)
print(f"{len(groups)} failures x {g} reflections")
print("| hint form | reflections | mean reward (%) | mean advantage: group | batch | none (pts) | mean tokens |")
print("|---|---|---|---|---|---|---|")
for fm, d in sorted(by_form.items()):
    m = statistics.fmean
    print(
        f"| {fm} | {len(d['reward'])} | {100 * m(d['reward']):.2f} | {m(d['group']):+.3f} | {m(d['batch']):+.3f} "
        f"| {100 * m(d['none']):+.2f} | {m(d['tokens']):.1f} |"
    )
