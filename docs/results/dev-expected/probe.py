"""How much the retry responds to what a reflection says: for the same dev failures as expected.py, the
probability that the retry is a reference answer after a reflection that is (a) empty, (b) the verifier's exact
finding on the failed attempt (what a perfect rule-style reflection could say), (c) the first step of a correct
equation in the hint style's words, (d) a correct equation (an oracle no reflection of this model could write).
One JSON line per failure: {id, empty, verifier, first_step, oracle}.

python probe.py <model> <out.jsonl> [n_failures]    (PYTHONPATH = a reflectrl checkout with HFEngine.score)
"""

import json
import math
import os
import sys

import torch

from reflectrl.config_file import load_config
from reflectrl.models import load_model
from reflectrl.rollout.engine import Sample
from reflectrl.rollout.episode import after_attempt, continue_chat, reflection_context
from reflectrl.rollout.hf import HFEngine
from reflectrl.tasks import get_task
from reflectrl.tasks.countdown import _first_step, solve_all

model_name, out_path = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
torch.manual_seed(0)
cfg = load_config("configs/countdown-long.yaml", ["model.threads=1"])
model, tok = load_model(model_name, "auto", "cpu", 1, cfg.model)
engine = HFEngine(model, tok)
task = get_task("countdown", **cfg.task.options)
with open("/work/exp/e2-rule/eval-dev/samples.jsonl") as f:
    failed = [r for r in map(json.loads, f) if not r["attempt_success"]][:n]
by_id = {e["id"]: e for e in task.load("train")}
prompts = cfg.episode.prompts()
t = cfg.train.temperature
end = sorted(engine.eos_ids)[0]


def p_correct(context, answers):
    return min(1.0, sum(math.exp(x) for x in engine.score(context, answers, t)))


def said(text):
    return Sample(text=text, token_ids=tok(text, add_special_tokens=False)["input_ids"] + [end], finished=True)


done = set()
if os.path.exists(out_path):
    with open(out_path) as f:
        done = {json.loads(line)["id"] for line in f}
with open(out_path, "a") as out:
    for r in failed:
        if r["id"] in done:
            continue
        ex = by_id[r["id"]]
        answers = [tok(a, add_special_tokens=False)["input_ids"] + [end] for a in task.reference_answers(ex)]
        failure = {"example": ex, "prompt": task.messages(ex), "attempt": r["attempt"]}
        shown = after_attempt(task, ex, r["attempt"], prompts, prompts.reflection)
        ctx = reflection_context(engine, task, failure, shown)
        retry = cfg.episode.retry_prompt.format(question=task.question(ex))
        reflections = {
            "empty": "",
            "verifier": task.feedback(ex, r["attempt"]).removeprefix("The verifier says: "),
            "first_step": f"I will start from {_first_step(solve_all(ex['nums'], ex['target'])[0])}.",
            "oracle": f"A correct equation is {solve_all(ex['nums'], ex['target'])[0]}.",
        }
        row = {k: p_correct(continue_chat(tok, ctx, said(v), retry), answers) for k, v in reflections.items()}
        out.write(json.dumps({"id": r["id"], **row}) + "\n")
        out.flush()
        print(r["id"], {k: round(v, 4) for k, v in row.items()}, flush=True)
