"""Countdown: combine the given numbers with + - * / into an equation that equals the target.

Rules follow TinyZero's ``compute_score``: the answer is the last ``<answer>...</answer>``; every given
number is used exactly once and no other number appears; only ``+ - * / ( )``; division is real
division. Unlike TinyZero we never ``eval`` model text: the answer is parsed with ``ast`` and only
whitelisted nodes are evaluated, with exact fractions and bounded sizes.
"""

from __future__ import annotations

import ast
import contextlib
import json
import random
from collections.abc import Iterator
from fractions import Fraction
from functools import cache, lru_cache
from itertools import permutations
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import BadLine, atomic_write_text, cache_dir, data_records
from reflectrl.tasks import register_task
from reflectrl.tasks.base import (
    Example,
    Messages,
    Split,
    Task,
    TaskOptions,
    Verdict,
    in_test_split,
    stable_hash,
)
from reflectrl.tasks.countdown_equation import (
    MAX_ANSWER_CHARS,
    MAX_COMPLETION_CHARS,
    _literals,
    _parse,
    _Reject,
    canonical,
    check_equation,
    equations_in,
    extract_answer,
    parse_equation,
)

# TinyZero's prompt, shortened (every token is paid for in each attempt, reflection and retry on CPU).
PROMPT = (
    "Using the numbers {nums}, create an equation that equals {target}. Use +, -, *, / and each number "
    "exactly once. Give the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
)

# ---------------------------------------------------------------------------------------------
# Exhaustive solver over exact fractions.
# An expression is (value, text, precedence); precedence 3 = number, 2 = * /, 1 = + -.


def _combine(a: tuple[Fraction, str, int], b: tuple[Fraction, str, int]):
    (va, ta, pa), (vb, tb, pb) = a, b

    def wrap(text: str, prec: int, need: int) -> str:
        return f"({text})" if prec < need else text

    yield va + vb, f"{ta} + {tb}", 1
    yield va - vb, f"{ta} - {wrap(tb, pb, 2)}", 1
    yield va * vb, f"{wrap(ta, pa, 2)} * {wrap(tb, pb, 2)}", 2
    if vb != 0:
        yield va / vb, f"{wrap(ta, pa, 2)} / {wrap(tb, pb, 3)}", 2


def _expressions(items: tuple[tuple[Fraction, str, int], ...]):
    if len(items) == 1:
        yield items[0]
        return
    for i, j in permutations(range(len(items)), 2):
        rest = tuple(item for k, item in enumerate(items) if k not in (i, j))
        for combined in _combine(items[i], items[j]):
            yield from _expressions((combined, *rest))


def solve_all(nums: list[int] | tuple[int, ...], target: int) -> list[str]:
    """Every equation (as text) that uses each number once and equals target, deduplicated."""
    return sorted(_solutions_by_value(tuple(nums)).get(Fraction(target), ()))


def solve(nums: list[int] | tuple[int, ...], target: int) -> str | None:
    solutions = solve_all(nums, target)
    return min(solutions, key=len) if solutions else None


@lru_cache(maxsize=256)  # every expression's text: 5 numbers have ~10^6, so not kept for every problem
def _solutions_by_value(nums: tuple[int, ...]) -> dict[Fraction, tuple[str, ...]]:
    by_value: dict[Fraction, set[str]] = {}
    for value, text, _ in _expressions(tuple((Fraction(x), str(x), 3) for x in nums)):
        by_value.setdefault(value, set()).add(text)
    return {v: tuple(sorted(t)) for v, t in by_value.items()}


@cache
def _values(nums: tuple[int, ...]) -> frozenset[Fraction]:
    """Every value reachable using all of ``nums`` (sorted), by dynamic programming over splits."""
    if len(nums) == 1:
        return frozenset({Fraction(nums[0])})
    out: set[Fraction] = set()
    n = len(nums)
    for mask in range(1, 2 ** (n - 1)):  # unordered splits into two non-empty parts
        left = tuple(nums[i] for i in range(n) if mask >> i & 1)
        right = tuple(nums[i] for i in range(n) if not mask >> i & 1)
        for a in _values(left):
            for b in _values(right):
                out.update((a + b, a - b, b - a, a * b))
                if b:
                    out.add(a / b)
                if a:
                    out.add(b / a)
    return frozenset(out)


def reachable_targets(nums: tuple[int, ...] | list[int], lo: int, hi: int) -> list[int]:
    return sorted(int(v) for v in _values(tuple(sorted(nums))) if v.denominator == 1 and lo <= v <= hi)


# ---------------------------------------------------------------------------------------------
# Warm-up reflections: what a correct self-diagnosis of a failed equation says.

REFLECTIONS_WRONG_VALUE = (
    "My equation {expr} equals {value}, not {target}. The result was {direction}, so I need to combine "
    "the numbers {nums} in a different way.",
    "I wrote {expr}, which gives {value} instead of {target}. That is {direction}; I should try other "
    "operations or another order of the numbers {nums}.",
    "The answer {expr} = {value} misses the target {target} (it is {direction}). Next time I will check the "
    "value before answering and try a different combination of {nums}.",
)
REFLECTIONS_WRONG_NUMBERS = (
    "My equation {expr} did not use the numbers {nums} exactly once each. I must use every number exactly "
    "once and no other numbers.",
    "I used the wrong numbers in {expr}. The equation must use each of {nums} exactly once to make {target}.",
)
# The "rule" style: what the model can check without arithmetic (which numbers it used, that the value was
# wrong), so a small model's own reflections in this form carry no invented values.
REFLECTIONS_WRONG_OPERATIONS = (
    "My equation {expr} uses each of {nums} once, but it does not make {target}. The numbers are right, so the "
    "operations or their order are wrong. I will try a different combination.",
    "In {expr} every number of {nums} appears once, yet the result is not {target}. I should change the "
    "operations or the grouping, not the numbers.",
)
REFLECTIONS_NUMBER_RULE = (
    "My equation {expr} uses {used}, but the numbers are {nums}. {problem} I must use each number exactly once.",
    "I checked the numbers in {expr}: {used}. {problem} The equation must use each of {nums} exactly once.",
)


# ---------------------------------------------------------------------------------------------
# The task.


class CountdownOptions(TaskOptions):
    numbers: int = Field(3, ge=2, le=5, description="How many numbers per generated problem (3 or 4 in TinyZero).")
    min_number: int = Field(1, ge=1, description="Smallest number drawn.")
    max_number: int = Field(99, ge=1, le=10_000, description="Largest number drawn.")
    min_target: int = Field(1, description="Smallest target (targets are drawn uniformly from reachable ones).")
    max_target: int = Field(999, description="Largest target.")
    train_size: int = Field(5000, ge=0, description="Problems in the train split.")
    test_size: int = Field(1000, ge=0, description="Problems in the test split.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Share of problems hashed into the test split.")
    data_file: str | None = Field(
        None,
        description="File of TinyZero-format problems ({target, nums}, 1 to 5 nums): JSON, JSONL or Parquet.",
    )
    strict: bool = Field(False, description="Reject a data file with any malformed record instead of skipping it.")
    reflection_style: Literal["value", "rule", "hint"] = Field(
        "value",
        description="What the boost's reflections say about a wrong equation. 'value': its true value and whether "
        "it is too large or too small (needs arithmetic the model may get wrong at test time). 'rule': only what "
        "can be checked without arithmetic: which numbers it used, missed or added, or that the numbers were "
        "right and the operations wrong. 'hint': the rule sentence, then the first step of the correct equation "
        "the boost's retry goes on to write, so the retry learns to build on its reflection (a rule reflection "
        "says nothing the retry can use, and the boosted model's retry ignores it: RESULTS §7j).",
    )

    @model_validator(mode="after")
    def _ranges(self) -> CountdownOptions:
        if self.min_number > self.max_number:
            raise ValueError("min_number must be <= max_number")
        if self.min_target > self.max_target:
            raise ValueError("min_target must be <= max_target")
        return self


@cache
def _generated(o: CountdownOptions) -> list[Example]:
    """The seeded stream of distinct solvable problems, long enough to fill both splits. Four-number
    problems take ~10 ms each to generate, so the stream is cached on disk."""

    key = o.model_dump(include={"seed", "numbers", "min_number", "max_number", "min_target", "max_target"})
    key.update(train_size=o.train_size, test_size=o.test_size, test_fraction=o.test_fraction, version=1)
    path = cache_dir() / "countdown" / f"{stable_hash(key):016x}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    rng = random.Random(o.seed)
    seen: set[str] = set()
    out: list[Example] = []
    counts = {True: 0, False: 0}
    misses = 0  # stops if the ranges admit too few distinct problems
    while (counts[True] < o.test_size or counts[False] < o.train_size) and misses < 10_000:
        nums = [rng.randint(o.min_number, o.max_number) for _ in range(o.numbers)]
        targets = reachable_targets(nums, o.min_target, o.max_target)
        ex = _example(nums, rng.choice(targets)) if targets else None
        if ex is None or ex["id"] in seen:
            misses += 1
            continue
        seen.add(ex["id"])
        out.append(ex)
        counts[in_test_split((sorted(nums), ex["target"]), o.seed, o.test_fraction)] += 1
    with contextlib.suppress(OSError):  # a read-only cache only costs time
        atomic_write_text(path, json.dumps(out))
    return out


def _first_step(expr: str) -> str:
    """A first step of ``expr``: its leftmost operation on two numbers ("53 - 21" of "(53 - 21) * 2")."""
    steps = (n for n in ast.walk(_parse(expr)) if isinstance(n, ast.BinOp))
    return ast.unparse(next(n for n in steps if isinstance(n.left, ast.Constant) and isinstance(n.right, ast.Constant)))


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}" if len(numbers) > 1 else str(numbers[0])


def _number_problem(nums: list[int], used: list[int]) -> str:
    """What is wrong with the numbers ``used`` instead of ``nums``, by counting (no arithmetic)."""
    missing, extra = list(nums), []
    for n in used:
        if n in missing:
            missing.remove(n)
        else:
            extra.append(n)
    repeated = [n for n in extra if n in nums]
    foreign = [n for n in extra if n not in nums]
    said = [f"{_listed(missing)} {'is' if len(missing) == 1 else 'are'} missing." if missing else ""]
    said.append(f"{_listed(repeated)} {'is' if len(repeated) == 1 else 'are'} used too often." if repeated else "")
    said.append(
        f"{_listed(foreign)} {'is' if len(foreign) == 1 else 'are'} not one of the given numbers." if foreign else ""
    )
    return " ".join(s for s in said if s)


def _example(nums: list[int], target: int) -> Example:
    key = (sorted(nums), target)
    return {"id": f"cd-{stable_hash(key):016x}", "nums": list(nums), "target": target}


@register_task
class Countdown(Task):
    """Reach the target with + - * / using every given number exactly once (TinyZero's rules)."""

    name = "countdown"
    Options = CountdownOptions
    options: CountdownOptions

    def load(self, split: Split) -> list[Example]:
        if split not in ("train", "test"):
            raise ReflectrlError(f"unknown split {split!r}; expected 'train' or 'test'")
        size = self.options.train_size if split == "train" else self.options.test_size
        source = self._from_file() if self.options.data_file else self._generate()
        out: list[Example] = []
        for ex in source:
            if len(out) >= size:
                break
            is_test = in_test_split((sorted(ex["nums"]), ex["target"]), self.options.seed, self.options.test_fraction)
            if is_test == (split == "test"):
                out.append(ex)
        return out

    def _generate(self) -> list[Example]:
        return _generated(self.options)

    def _from_file(self) -> Iterator[Example]:
        path = Path(self.options.data_file)  # type: ignore[arg-type]
        if not path.is_file():
            raise ReflectrlError(f"data file not found: {path}")
        records = data_records(path)
        seen: set[str] = set()
        skipped: dict[str, int] = {}
        for where, rec in records:
            try:
                nums, target = _parse_record(rec)
            except ValueError as e:
                if self.options.strict:
                    raise ReflectrlError(f"{where}: {e}") from e
                skipped[str(e)] = skipped.get(str(e), 0) + 1
                continue
            ex = _example(nums, target)
            if ex["id"] not in seen:
                seen.add(ex["id"])
                yield ex
        if skipped:
            from reflectrl.console import warn

            warn(f"{self.options.data_file}: skipped malformed records: {skipped}")

    def messages(self, example: Example) -> Messages:
        return [{"role": "user", "content": PROMPT.format(nums=example["nums"], target=example["target"])}]

    def verify(self, example: Example, completion: str) -> Verdict:
        if not isinstance(completion, str):
            return Verdict.fail("not_text")
        if len(completion) > MAX_COMPLETION_CHARS:
            return Verdict.fail("too_long")
        answer = extract_answer(completion)
        if answer is None:
            return Verdict.fail("no_answer")
        return check_equation(example["nums"], example["target"], answer)

    def boost_examples(self, example: Example) -> list[tuple[Messages, str]]:
        pick = self._boost_solution(example)
        return [(self.messages(example), f"<answer> {pick} </answer>")] if pick else []

    def _boost_solution(self, example: Example) -> str | None:
        """The solution the boost teaches for ``example`` (also the retry after its reflection row)."""
        solutions = solve_all(example["nums"], example["target"])
        return random.Random(stable_hash("boost", example["id"])).choice(solutions) if solutions else None

    def reference_answers(self, example: Example) -> list[str]:
        return [f"<answer> {s} </answer>" for s in solve_all(example["nums"], example["target"])]

    def boost_reflections(self, example: Example, seed: int = 0) -> list[tuple[str, str]]:
        """A plausible wrong equation and a reflection that states, exactly, which rule it broke."""
        nums, target = example["nums"], example["target"]
        rng = random.Random(stable_hash("reflect", seed, example["id"]))
        if rng.random() < 0.75:
            # A well-formed equation over the right numbers with another whole-number value: the most
            # common way a warmed-up model fails.
            by_value = _solutions_by_value(tuple(nums))
            others = sorted(v for v in by_value if v != target and v.denominator == 1 and 0 < v < 1000)
            if not others:
                return []
            value = rng.choice(others)
            expr = rng.choice(by_value[value])
            direction = "too small" if value < target else "too large"
            by_rule = self.options.reflection_style != "value"  # rule and hint
            templates = REFLECTIONS_WRONG_OPERATIONS if by_rule else REFLECTIONS_WRONG_VALUE
            reflection = rng.choice(templates).format(
                expr=expr, value=value, target=target, direction=direction, nums=nums
            )
        else:
            wrong = list(nums)
            i = rng.randrange(len(wrong))
            if rng.random() < 0.5 and len(wrong) > 2:
                del wrong[i]
            else:
                wrong[i] = max(1, wrong[i] + rng.choice([-2, -1, 1, 2]))
            expr = rng.choice(sorted(t for ts in _solutions_by_value(tuple(wrong)).values() for t in ts))
            if self.options.reflection_style == "value":
                reflection = rng.choice(REFLECTIONS_WRONG_NUMBERS).format(expr=expr, target=target, nums=nums)
            else:
                reflection = rng.choice(REFLECTIONS_NUMBER_RULE).format(
                    expr=expr, used=_listed(parse_equation(expr)[0]), nums=nums, problem=_number_problem(nums, wrong)
                )
        if self.options.reflection_style == "hint" and (pick := self._boost_solution(example)):
            reflection += f" I will start from {_first_step(pick)}."  # the step its retry row starts with
        return [(f"<answer> {expr} </answer>", reflection)]

    def feedback(self, example: Example, completion: str) -> str:
        """The verifier's finding in words: the rule broken, the numbers used, or the equation's true value."""
        verdict = self.verify(example, completion)
        if verdict.success:
            return "The verifier accepted this answer."
        nums, target = example["nums"], example["target"]
        answer = extract_answer(completion) if verdict.reason != "too_long" else None
        expr = " ".join((answer or "").split())
        # verify parsed the answer already (and, for a wrong value, evaluated it), so these cannot reject.
        if verdict.reason == "wrong_numbers":
            used = _literals(_parse(expr))
            problem = _number_problem(nums, used)
            return f"The verifier says: {expr} uses {_listed(used)}, but the numbers are {_listed(nums)}. {problem}"
        if verdict.reason == "wrong_value":
            value = parse_equation(expr)[1]
            shown = str(value) if value.denominator == 1 else f"{value} (about {float(value):.2f})"
            size = "too small" if value < target else "too large"
            return f"The verifier says: {expr} equals {shown}, not {target} ({size})."
        why = {
            "no_answer": "there is no equation inside <answer> </answer> tags",
            "too_long": "the answer is too long",
            "bad_character": f"{expr} has characters other than numbers, + - * / and parentheses",
            "bad_syntax": f"{expr} is not a well-formed equation",
            "division_by_zero": f"{expr} divides by zero",
        }
        return f"The verifier says: {why.get(verdict.reason, verdict.reason)}."

    def answer_in(self, example: Example, text: str) -> str | None:
        """The last ``<answer>`` in ``text``, else the last whole equation in its prose ("I will start from
        82 + 52 - 28": a guess the retry can copy, RESULTS §8k), in ``canonical`` form."""
        if not isinstance(text, str) or len(text) > MAX_COMPLETION_CHARS:
            return None
        answer = extract_answer(text)
        if answer is not None:
            return canonical(answer)
        return next(reversed(equations_in(text, example["nums"])), None)

    def answer_verifies(self, example: Example, text: str) -> bool:
        answer = self.answer_in(example, text)
        return answer is not None and check_equation(example["nums"], example["target"], answer).success

    def answer_key(self, example: Example, completion: str) -> str | None:
        """Equations that use the right numbers are equivalent when their values are equal; others are
        keyed by their whitespace-free text."""
        ok = isinstance(completion, str) and len(completion) <= MAX_COMPLETION_CHARS
        answer = extract_answer(completion) if ok else None
        if answer is None:
            return None
        try:
            literals, value = parse_equation(answer)
        except _Reject:
            return "invalid:" + "".join(answer.split())[:MAX_ANSWER_CHARS]
        if sorted(literals) == sorted(example["nums"]):
            return f"value:{value}"
        return "expr:" + "".join(answer.split())


def _parse_record(rec: Any) -> tuple[list[int], int]:
    if isinstance(rec, BadLine):
        raise ValueError(f"invalid JSON ({rec.error})")
    if not isinstance(rec, dict):
        raise ValueError("record is not a JSON object")
    nums, target = rec.get("nums"), rec.get("target")
    if not (isinstance(nums, list) and 0 < len(nums) <= 5 and all(type(n) is int and n >= 0 for n in nums)):
        raise ValueError("'nums' must list 1 to 5 non-negative integers (the solver enumerates every expression)")
    if type(target) is not int:
        raise ValueError("'target' must be an integer")
    return nums, target
