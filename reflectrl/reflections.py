"""What a reflection looks like, measured the same way wherever reflections are sampled.

``describe`` measures one (attempt, reflection, retry) episode; ``summarize`` aggregates episodes and
conditions retry success on each measure, so a reader sees which kinds of reflection help:

- ``tokens``: length in tokens (from the engine).
- ``leak``: the reflection holds a candidate answer (``Task.answer_in``; Countdown's also finds a whole equation
  in prose) other than the failed attempt's; ``leak_verifies``: that answer is correct (``Task.answer_verifies``);
  ``retry_copies_leak``: the retry gives the same answer.
  A second try can rise because reflections became bare guesses that the retry copies.
- ``copy_overlap``: share of the reflection's words that also occur in the failed attempt (1.0 = a copy).
- ``retry_differs``: the retry is not the failed attempt again (whitespace aside).
- ``answer_like``: the reflection starts with an answer (``<answer>``, a call list, an equation) instead of prose.
- ``distinct_2``: distinct word bigrams / bigrams: low means the reflection repeats itself.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise
from typing import Any

from reflectrl.stats import rate
from reflectrl.tasks import Example, Task

FLAGS = ("leak", "leak_verifies", "retry_copies_leak", "retry_differs", "answer_like")
# Bin edges for retry success by a continuous measure (a value v goes to the first bin whose edge exceeds it).
BINS = {"tokens": (16, 32, 64), "copy_overlap": (0.25, 0.5, 0.75), "distinct_2": (0.5, 0.8, 0.95)}
_WORD = re.compile(r"\w+|[^\w\s]")
_ANSWER_START = ("<answer>", "[", "{", "```", "<tool_call>")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def copy_overlap(reflection: list[str], attempt: list[str]) -> float:
    if not reflection:
        return 0.0
    shared = Counter(reflection) & Counter(attempt)
    return sum(shared.values()) / len(reflection)


def distinct(tokens: list[str], n: int = 2) -> float:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def answer_like(text: str) -> bool:
    head = text.strip()
    first_line = head.split("\n", 1)[0]
    equation = bool(re.fullmatch(r"[\d\s()+\-*/=.x×÷]+", first_line)) and any(c.isdigit() for c in first_line)
    return head.startswith(_ANSWER_START) or equation


def leaked_answer(task: Task, example: Example, attempt: str, reflection: str) -> str | None:
    """The candidate answer ``reflection`` holds (``Task.answer_in``), unless it only restates the failed one."""
    leaked = task.answer_in(example, reflection)
    return None if leaked is None or leaked == task.answer_in(example, attempt) else leaked


def describe(task: Task, example: Example, attempt: str, reflection: str, retry: str, tokens: int) -> dict[str, Any]:
    """The measures of one episode (see the module docstring)."""
    leaked = leaked_answer(task, example, attempt, reflection)
    refl_words = words(reflection)
    return {
        "tokens": tokens,
        "leak": leaked is not None,
        "leak_verifies": leaked is not None and task.answer_verifies(example, reflection),
        "retry_copies_leak": leaked is not None and task.answer_in(example, retry) == leaked,
        # None for an empty reflection: it neither copies nor varies, and must not pull the means.
        "copy_overlap": round(copy_overlap(refl_words, words(attempt)), 4) if refl_words else None,
        "retry_differs": " ".join(retry.split()) != " ".join(attempt.split()),
        "answer_like": answer_like(reflection),
        "distinct_2": round(distinct(refl_words, 2), 4) if refl_words else None,
    }


def _labels(edges: tuple[float, ...]) -> list[str]:
    return [f"< {edges[0]}", *(f"[{lo}, {hi})" for lo, hi in pairwise(edges)), f">= {edges[-1]}"]


def _bin(value: float, edges: tuple[float, ...]) -> str:
    below = sum(value >= e for e in edges)
    return _labels(edges)[below]


def summarize(episodes: list[tuple[dict[str, Any], bool]]) -> dict[str, Any] | None:
    """(measures, retry succeeded) per episode -> shares, means, and retry success per flag and per bin."""
    if not episodes:
        return None
    out: dict[str, Any] = {"n": len(episodes)}
    for key in BINS:
        values = [m[key] for m, _ in episodes if m[key] is not None]
        out[f"mean_{key}"] = sum(values) / len(values) if values else None
    for flag in FLAGS:
        out[flag] = rate([m[flag] for m, _ in episodes]).as_dict()
    groups: dict[str, dict[str, list[bool]]] = {}  # measure -> value or bin -> retry successes
    for flag in FLAGS:
        groups[flag] = {v: [ok for m, ok in episodes if m[flag] == (v == "yes")] for v in ("yes", "no")}
    for key, edges in BINS.items():
        binned = [(_bin(m[key], edges), ok) for m, ok in episodes if m[key] is not None]
        groups[key] = {b: [ok for lab, ok in binned if lab == b] for b in _labels(edges)}
    # Empty groups are left out: a rate of nothing is no number (and NaN is not JSON).
    out["retry_success_by"] = {k: {v: rate(oks).as_dict() for v, oks in g.items() if oks} for k, g in groups.items()}
    return out


# What training logs per step, as ``reflection/<measure>``: shares of the flags, means of the rest.
STEP_MEASURES = ("leak", "leak_verifies", "retry_copies_leak", "answer_like", "copy_overlap", "distinct_2")


def step_means(measures: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each step measure over a step's reflections; a measure no reflection has (empty ones) is left out."""
    out = {}
    for key in STEP_MEASURES:
        values = [float(m[key]) for m in measures if m[key] is not None]
        if values:
            out[key] = sum(values) / len(values)
    return out


def from_records(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``summarize`` over evaluation records (samples.jsonl) that carry ``reflection_measures``."""
    measured = [r for r in records if "reflection_measures" in r]
    return summarize([(r["reflection_measures"], bool(r["retry_success"])) for r in measured])
