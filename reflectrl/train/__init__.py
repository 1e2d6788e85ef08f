"""Training algorithms. Each is one module with a ``train`` function of this signature::

    train(model, tokenizer, task, mined: Mined, cfg: RunConfig, out_dir, resume=True) -> Path

where ``mined`` is what ``reflectrl mine`` found (train/pool.py: the failures and the train queries; each
algorithm reads the part it learns from) and the returned path is an HF model folder. Add an algorithm by
adding a module and a line below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from reflectrl.errors import ReflectrlError

ALGORITHMS: dict[str, str] = {
    "r3": "reflectrl.train.r3:train_r3",
    "r3-answer": "reflectrl.train.r3:train_r3_answer",
    "grpo": "reflectrl.train.grpo:train_grpo",
    "rise": "reflectrl.train.rise:train_rise",
}

# What comes between sequential attempts when an algorithm's model is evaluated over several turns
# (episode.between_turns): RISE is trained on a plain retry message, every other one meets a reflection.
BETWEEN_TURNS: dict[str, str] = {"rise": "retry"}


def get_algorithm(name: str) -> Callable:
    if name not in ALGORITHMS:
        untrained = " (reflect-prompt trains nothing: it is the starting model, a baseline of `reflectrl compare`)"
        raise ReflectrlError(
            f"unknown algorithm {name!r}; available: {', '.join(ALGORITHMS)}"
            + (untrained if name == "reflect-prompt" else "")
        )
    module, _, function = ALGORITHMS[name].partition(":")
    return getattr(importlib.import_module(module), function)
