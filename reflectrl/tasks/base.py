"""What a task is: examples with train/test splits, a chat prompt, and a binary verifier with reason codes.

A task knows nothing about training. Everything the rollout, mining and training code needs from it
is on this class, so adding a task means writing one subclass in one file (see tasks/__init__.py).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Example = dict[str, Any]  # JSON-serialisable, always with a unique string "id"
Messages = list[dict[str, str]]
Split = Literal["train", "test"]


@dataclass(frozen=True)
class Verdict:
    """The verifier's answer: success, and a short machine-readable reason (``"ok"`` on success)."""

    success: bool
    reason: str

    @classmethod
    def ok(cls) -> Verdict:
        return cls(True, "ok")

    @classmethod
    def fail(cls, reason: str) -> Verdict:
        return cls(False, reason)


class TaskOptions(BaseModel):
    """Base for a task's options. Unknown keys are errors, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, description="Seed for generated problems and for the train/test split.")


class Task(ABC):
    """Subclass this, set ``name`` and ``Options``, and decorate with ``@register_task``."""

    name: ClassVar[str]
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    # Bounds on a user-registered verifier (tasks/guard.py): a longer completion fails with "too_long" before
    # the verifier sees it, a call that runs longer fails with "timeout" (None: no bound, a direct call), and
    # one that allocates more than verify_memory_mb beyond what its worker process started with fails with
    # "verifier_error:MemoryError" (None: no bound; Linux only). The answer_key / answer_in / feedback hooks
    # run under the same two bounds. Built-in tasks are direct calls with their own, tighter limits.
    max_completion_chars: ClassVar[int] = 1_000_000
    verify_timeout: ClassVar[float | None] = 5.0
    verify_memory_mb: ClassVar[int | None] = 1024

    def __init__(self, options: TaskOptions):
        self.options = options

    @abstractmethod
    def load(self, split: Split) -> list[Example]:
        """Examples of a split, deterministic for the options' seed; train and test never overlap."""

    @abstractmethod
    def messages(self, example: Example) -> Messages:
        """Chat messages of the first attempt."""

    @abstractmethod
    def verify(self, example: Example, completion: str) -> Verdict:
        """Binary verdict on a model completion. Must never raise and never execute model text."""

    def boost_examples(self, example: Example) -> list[tuple[Messages, str]]:
        """Verified (messages, completion) pairs to warm a model up on (SFT). Empty if the task has none."""
        return []

    def boost_reflections(self, example: Example, seed: int = 0) -> list[tuple[str, str]]:
        """(failed attempt, reflection) pairs grounded in the verifier, so a warm-up keeps the model able
        to reflect (an answer-only warm-up made every "reflection" another answer guess). Optional."""
        return []

    def reference_answers(self, example: Example) -> list[str]:
        """Completions that verify, written as the boost teaches them (every one the task can list), so a
        model's chance of writing a right answer can be computed instead of sampled (``train.retry_reward:
        expected``). Empty when the task cannot list them."""
        return []

    def feedback(self, example: Example, completion: str) -> str:
        """What the verifier can tell the model about ``completion``, in words (the ``episode.feedback``
        variant). Like ``verify``, it must never raise and never execute model text. Defaults to the reason."""
        verdict = self.verify(example, completion)
        return "The verifier accepted this answer." if verdict.success else f"The verifier says: {verdict.reason}."

    def answer_key(self, example: Example, completion: str) -> str | None:
        """Canonical form of a completion's answer, for majority votes; None when there is no answer."""
        return None

    def answer_in(self, example: Example, text: str) -> str | None:
        """The candidate answer ``text`` holds in the task's answer format (canonical, comparable), or None.
        Reflection analytics use it to spot a reflection that smuggles an answer. Defaults to ``answer_key``."""
        return self.answer_key(example, text)

    def answer_verifies(self, example: Example, text: str) -> bool:
        """Whether the answer ``answer_in`` finds in ``text`` passes the verifier. The default verifies ``text``,
        right where the verifier reads the answer where ``answer_in`` finds it (not for prose, e.g. Countdown's)."""
        return self.verify(example, text).success

    def question(self, example: Example) -> str:
        """The question text, repeated in the retry prompt. Defaults to the last user message."""
        return [m for m in self.messages(example) if m["role"] == "user"][-1]["content"]

    def tools(self, example: Example) -> list[dict] | None:
        """Tool schemas to pass to the chat template (function calling); None for plain chat."""
        return None

    def category(self, example: Example) -> str | None:
        """Optional sub-category for per-category breakdowns (e.g. BFCL categories)."""
        return None


def stable_hash(*parts: Any) -> int:
    """A hash that is the same in every process and Python version (unlike ``hash``)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")


def in_test_split(key: Any, seed: int, test_fraction: float) -> bool:
    """Assign an example to a split by hashing its content, so a split never depends on set sizes."""
    return stable_hash("split", seed, key) % 1_000_000 < test_fraction * 1_000_000
