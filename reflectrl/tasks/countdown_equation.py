"""Countdown's answers as untrusted text: parsed with ``ast`` and only whitelisted nodes evaluated, with exact
fractions and bounded sizes (model text is never ``eval``-ed). Also finds equations written in prose."""

from __future__ import annotations

import ast
import re
from fractions import Fraction

from reflectrl.tasks.base import Verdict

MAX_COMPLETION_CHARS = 100_000  # longer completions are rejected before any parsing
MAX_ANSWER_CHARS = 256  # bounds parse depth and literal sizes
ALLOWED_CHARS = frozenset("0123456789+-*/() \t\n")


class _Reject(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _literals(node: ast.AST) -> list[int]:
    if isinstance(node, ast.Expression):
        return _literals(node.body)
    if isinstance(node, ast.BinOp):
        return _literals(node.left) + _literals(node.right)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [node.value]
    raise _Reject("bad_syntax")


def _evaluate(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    assert isinstance(node, ast.BinOp)  # _literals already rejected everything else
    left, right = _evaluate(node.left), _evaluate(node.right)
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    if isinstance(node.op, ast.Div):
        if right == 0:
            raise _Reject("division_by_zero")
        return left / right
    raise _Reject("bad_syntax")  # **, //, %, @, bit operations


def extract_answer(completion: str) -> str | None:
    """Text inside the last ``<answer>...</answer>``, or None."""
    start = completion.rfind("<answer>")
    if start < 0:
        return None
    end = completion.find("</answer>", start)
    if end < 0:
        return None
    return completion[start + len("<answer>") : end]


def _parse(answer: str) -> ast.Expression:
    if len(answer) > MAX_ANSWER_CHARS:
        raise _Reject("too_long")
    if not answer.strip():
        raise _Reject("no_answer")
    if not set(answer) <= ALLOWED_CHARS:
        raise _Reject("bad_character")
    try:
        return ast.parse(answer.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise _Reject("bad_syntax") from None


def parse_equation(answer: str) -> tuple[list[int], Fraction]:
    """Numbers used and exact value of an answer. Raises _Reject with the failed rule."""
    tree = _parse(answer)
    return _literals(tree), _evaluate(tree)


def check_equation(nums: list[int], target: int, answer: str) -> Verdict:
    """TinyZero's order of rules: well-formed, then the right numbers, then the value."""
    try:
        tree = _parse(answer)
        if sorted(_literals(tree)) != sorted(nums):
            return Verdict.fail("wrong_numbers")
        value = _evaluate(tree)
    except _Reject as r:
        return Verdict.fail(r.reason)
    return Verdict.ok() if value == target else Verdict.fail("wrong_value")


# A run of equation characters that starts and ends like an equation; "=" and words end it. Bounded, so text of
# nothing but "(" costs linear time, not quadratic.
_PROSE_EQUATION = re.compile(rf"[\d(][\d+\-*/() \t]{{0,{MAX_ANSWER_CHARS - 2}}}[\d)]")


def equations_in(text: str, nums: list[int]) -> list[str]:
    """Whole equations written anywhere in ``text`` (each number of ``nums`` once, any value), in order and
    ``canonical``: "I will start from 82 + 52 - 28." holds "82+52-28". Parens a sentence wraps around an equation
    are dropped. The caller bounds ``text``; each candidate is bounded by MAX_ANSWER_CHARS."""
    found = []
    for match in _PROSE_EQUATION.finditer(text):
        expr = match.group()
        while expr.count(")") > expr.count("(") and expr.endswith(")"):
            expr = expr[:-1]
        while expr.count("(") > expr.count(")") and expr.startswith("("):
            expr = expr[1:]
        try:
            tree = _parse(expr)
            literals = _literals(tree)
        except _Reject:
            continue
        if len(literals) > 1 and sorted(literals) == sorted(nums):
            found.append("".join(ast.unparse(tree).split()))
    return found


def canonical(answer: str) -> str:
    """``answer`` without whitespace or redundant parens ("(3 + 5) + 7" is "3+5+7"), to compare answers."""
    try:
        _literals(tree := _parse(answer))
    except _Reject:
        return "".join(answer.split())
    return "".join(ast.unparse(tree).split())
