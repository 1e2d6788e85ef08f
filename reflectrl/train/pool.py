"""What training learns from: the output of ``reflectrl mine`` (``Mined``), and the pool a rollout draws its
items from (mined failures for R3, train queries for GRPO).

Every process walks one seeded, shuffled order (reshuffled each epoch) and takes its own slots of each draw,
so processes never train on the same item in a round. The number of items drawn so far is the whole state:
a checkpoint stores it and a resumed run continues the order exactly. Curriculum weights and online
re-mining (``replace``) plug in here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import read_jsonl
from reflectrl.tasks import Example


@dataclass
class Mined:
    """What ``reflectrl mine`` found: the dataset of failures (r3, r3-answer) and every mined train query, solved
    or not (grpo, rise, and r3's re-mining). Each algorithm reads the part it trains on."""

    failures: list[dict[str, Any]] = field(default_factory=list)
    queries: list[Example] = field(default_factory=list)

    @classmethod
    def read(cls, failures_file: Path) -> Mined:
        """A mine folder's failures.jsonl and, beside it, mined.jsonl (without it: the failed queries only)."""
        if not failures_file.is_file():
            raise ReflectrlError(f"failures file not found: {failures_file} (run `reflectrl mine` first)")
        failures = read_jsonl(failures_file, input_file=True)
        mined = failures_file.parent / "mined.jsonl"
        if mined.is_file():
            return cls(failures, [r["example"] for r in read_jsonl(mined)])
        return cls(failures, list({f["query_id"]: f["example"] for f in failures}.values()))


class FailurePool:
    def __init__(self, items: list[Any], seed: int = 0):
        if not items:
            raise ReflectrlError("nothing to train on: the pool of failures (or queries) is empty")
        self.items = items
        self.seed = seed
        self.drawn = 0
        self._orders: dict[int, list[int]] = {}

    def draw(self, n: int, rank: int = 0, world: int = 1) -> list[Any]:
        """This process's ``n`` items of a round in which each of ``world`` processes draws ``n``."""
        slots = [self.drawn + i * world + rank for i in range(n)]
        self.drawn += n * world
        return [self.items[self._order(s // len(self.items))[s % len(self.items)]] for s in slots]

    def replace(self, items: list[Any]) -> None:
        """Swap in a fresh set of items (re-mined failures); the walk restarts on a new order."""
        if not items:
            raise ReflectrlError("re-mining found no failures to train on")
        self.items, self._orders = items, {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            order = list(range(len(self.items)))
            random.Random(f"{self.seed}/{epoch}/{len(self.items)}").shuffle(order)
            self._orders = {epoch: order}
        return self._orders[epoch]

    def state_dict(self) -> dict[str, int]:
        return {"drawn": self.drawn, "size": len(self.items)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["size"] != len(self.items):
            raise ReflectrlError(
                f"the checkpoint was trained on {state['size']} items, this run has {len(self.items)}: "
                "resume with the same failures file and train settings, or start a new --out"
            )
        self.drawn = state["drawn"]
