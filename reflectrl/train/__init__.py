"""Training algorithms. Each is one module with a ``train`` function of this signature::

    train(model, tokenizer, task, mined: Mined, cfg: RunConfig, out_dir, resume=True) -> Path

where ``mined`` is what ``reflectrl mine`` found (train/pool.py: the failures and the train queries; each
algorithm reads the part it learns from) and the returned path is an HF model folder. Add an algorithm by
adding a module and a line below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from reflectrl.errors import ReflectrlError

if TYPE_CHECKING:
    from reflectrl.config import TrainConfig

ALGORITHMS: dict[str, str] = {
    "r3": "reflectrl.train.r3:train_r3",
    "r3-answer": "reflectrl.train.r3:train_r3_answer",
    "grpo": "reflectrl.train.grpo:train_grpo",
    "rise": "reflectrl.train.rise:train_rise",
}

# What comes between sequential attempts when an algorithm's model is evaluated over several turns
# (episode.between_turns): RISE is trained on a plain retry message, every other one meets a reflection.
BETWEEN_TURNS: dict[str, str] = {"rise": "retry"}

# What a reflection earns: read by r3 and r3-answer only, whose groups are reflections.
REFLECTION_REWARD_SETTINGS = (
    "retries_per_reflection",
    "retry_reward",
    "reflection_format",
    "format_reward",
    "reward_leaks",
)


def ignored_settings(train: TrainConfig) -> list[str]:
    """The reflection-reward settings changed from their defaults that train.algorithm does not read (grpo and
    rise train answers, not reflections), so a run can say so instead of ignoring them silently."""
    if train.algorithm in ("r3", "r3-answer"):
        return []
    fields = type(train).model_fields
    return [f"train.{name}" for name in REFLECTION_REWARD_SETTINGS if getattr(train, name) != fields[name].default]


def warn_ignored(train: TrainConfig) -> None:
    if ignored := ignored_settings(train):
        from reflectrl.console import warn

        names = ", ".join(ignored)
        warn(f"train.algorithm={train.algorithm} trains no reflections and ignores {names} (read by r3, r3-answer)")


def get_algorithm(name: str) -> Callable:
    if name not in ALGORITHMS:
        untrained = " (reflect-prompt trains nothing: it is the starting model, a baseline of `reflectrl compare`)"
        raise ReflectrlError(
            f"unknown algorithm {name!r}; available: {', '.join(ALGORITHMS)}"
            + (untrained if name == "reflect-prompt" else "")
        )
    module, _, function = ALGORITHMS[name].partition(":")
    return getattr(importlib.import_module(module), function)
