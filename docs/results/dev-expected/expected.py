"""Noise-free retry analysis on dev failures: for each first-try failure of the boosted model on dev (its failed
attempt fixed), the model under test writes G reflections; for each, the probability that its retry is one of the
reference answers is computed (HFEngine.score), as is the probability for a fresh first attempt. Writes one JSON
line per failure: {id, fresh, retry: [G probabilities]}.

python expected.py <model> <out.jsonl> [n_failures] [G]    (PYTHONPATH = a reflectrl checkout with HFEngine.score)

Frozen: the record of what produced the committed outputs. Its scoring is now the library's
(`rollout.episode.reference_probability`); for new measurements use `reflectrl probe` (reflectrl/probe.py).
"""

import json
import math
import os
import sys

import torch

from reflectrl.config_file import load_config
from reflectrl.models import load_model
from reflectrl.rollout.episode import after_attempt, attempt_prompt, continue_chat, reflection_context
from reflectrl.rollout.hf import HFEngine
from reflectrl.tasks import get_task

model_name, out_path = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
g = int(sys.argv[4]) if len(sys.argv) > 4 else 8
torch.manual_seed(0)
cfg = load_config("configs/countdown-long.yaml", ["model.threads=1"])
model, tok = load_model(model_name, "auto", "cpu", 1, cfg.model)
engine = HFEngine(model, tok)
task = get_task("countdown", **cfg.task.options)
with open("/work/exp/e2-rule/eval-dev/samples.jsonl") as f:
    failed = [r for r in map(json.loads, f) if not r["attempt_success"]][:n]
by_id = {e["id"]: e for e in task.load("train")}
prompts = cfg.episode.prompts()
reflect = cfg.episode.sampling("reflection", cfg.train)
t = cfg.train.temperature


def p_correct(context, answers):
    return min(1.0, sum(math.exp(x) for x in engine.score(context, answers, t)))


done = set()
if os.path.exists(out_path):
    with open(out_path) as f:
        done = {json.loads(line)["id"] for line in f}
with open(out_path, "a") as out:
    for i, r in enumerate(failed):
        if r["id"] in done:
            continue
        ex = by_id[r["id"]]
        answers = [tok(a, add_special_tokens=False)["input_ids"] for a in task.reference_answers(ex)]
        failure = {"example": ex, "prompt": task.messages(ex), "attempt": r["attempt"]}
        shown = after_attempt(task, ex, r["attempt"], prompts, prompts.reflection)
        ctx = reflection_context(engine, task, failure, shown)
        reflections = engine.generate([ctx], g, reflect, seed=1000 + i)[0]
        retry = cfg.episode.retry_prompt.format(question=task.question(ex))
        probs = [p_correct(continue_chat(tok, ctx, s, retry), answers) for s in reflections]
        fresh = p_correct(attempt_prompt(engine, task, ex), answers)
        out.write(json.dumps({"id": r["id"], "fresh": fresh, "retry": probs}) + "\n")
        out.flush()
        print(i, round(fresh, 4), round(sum(probs) / g, 4), round(max(probs), 4), flush=True)
