"""How much ending the turn changes the expected reward: P(answer) vs P(answer + end of turn), boosted model.

python eos_check.py <model>   (run from a reflectrl checkout at 809b483 or later)
"""

import math
import sys

import torch

from reflectrl.config_file import load_config
from reflectrl.models import load_model
from reflectrl.rollout.episode import attempt_prompt
from reflectrl.rollout.hf import HFEngine
from reflectrl.tasks import get_task

torch.manual_seed(0)
cfg = load_config("configs/countdown-long.yaml", ["model.threads=1"])
model, tok = load_model(sys.argv[1], "auto", "cpu", 1, cfg.model)
engine = HFEngine(model, tok)
task = get_task("countdown", **cfg.task.options)
exs = task.load("train")[1000:1040]
plain = ended = 0.0
for ex in exs:
    ans = [tok(a, add_special_tokens=False)["input_ids"] for a in task.reference_answers(ex)]
    p = attempt_prompt(engine, task, ex)
    plain += sum(map(math.exp, engine.score(p, ans, 0.9)))
    ended += sum(map(math.exp, engine.score(p, [a + [e] for a in ans for e in sorted(engine.eos_ids)], 0.9)))
n = len(exs)
print(f"{n} train problems 1000-1039, first try: P(answer) {plain / n:.4f}, P(answer then end of turn) {ended / n:.4f}")
print(f"ratio {ended / plain:.3f}, end-of-turn ids {sorted(engine.eos_ids)}")
