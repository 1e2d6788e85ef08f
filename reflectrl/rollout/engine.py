"""The generation engine interface: token-id prompts in, n sampled continuations per prompt out.

Engines work on token ids, not text, so a multi-turn episode continues from exactly the tokens the
model sampled (re-tokenizing text can drift) and training sees the same ids the engine produced.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reflectrl.config import Sampling  # defined with the settings it is built from; re-exported here
from reflectrl.errors import ReflectrlError


@dataclass
class Sample:
    text: str  # decoded without special tokens
    token_ids: list[int]  # generated ids, ending with the end-of-turn token when ``finished``
    finished: bool  # False when cut off by max_new_tokens
    # log-prob of each generated id under the sampler: softmax(logits / temperature) before top-k/top-p
    # filtering (greedy: temperature 1). Training uses them as the behaviour policy (train/loss.py).
    logprobs: list[float] | None = None


# Called after each batch with (sequences done in this batch, new tokens generated in this batch).
ProgressFn = Callable[[int, int], None]


class Engine(ABC):
    tokenizer: object
    eos_ids: set[int]  # the tokens that end a turn: sampling stops at them

    @abstractmethod
    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        sampling: Sampling,
        seed: int = 0,
        on_progress: ProgressFn | None = None,
    ) -> list[list[Sample]]:
        """``n`` samples for each prompt, in prompt order. Deterministic for a seed and batch layout."""

    def score(
        self, prompt: list[int], continuations: list[list[int]], temperature: float, then: Sequence[int] = ()
    ) -> list[float]:
        """log P(continuation | prompt) for each continuation, with the sampler's softmax(logits / temperature);
        with ``then``, log P(the continuation, then any one of those ids), e.g. of ending the turn there."""
        raise ReflectrlError(f"the {type(self).__name__} cannot score continuations: use engine.name=hf")

    def sync_weights(self, model: object) -> None:  # noqa: B027 - optional for engines that own a copy
        """Load the training policy's current weights (engines that share the model need nothing)."""
