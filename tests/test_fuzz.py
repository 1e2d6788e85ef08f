"""Property fuzzing of the built-in verifiers (hypothesis, derandomized for CI): never raise, always a
Verdict with a reason, and a success is re-checked by an independent implementation written here.
10,000+ generated inputs per verifier: random text plus near-valid answers (so successes do occur)."""

from __future__ import annotations

import itertools
import json
import re
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflectrl.tasks import Verdict, get_task


def fuzz(n: int):
    return settings(
        max_examples=n, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )


# Successes each near-valid test must find (derandomized, so the counts are fixed): a generator that
# stopped producing valid answers would leave the independent re-checks untested.
MIN_SUCCESSES = {"countdown": 500, "bfcl": 500, "xlam": 500}
COUNTDOWN = get_task("countdown", train_size=1, test_size=1)
FC = get_task("function_calling")


def _check(task, example, completion: Any, recheck) -> Verdict:
    v = task.verify(example, completion)
    assert isinstance(v, Verdict) and isinstance(v.success, bool)
    assert isinstance(v.reason, str) and v.reason
    if v.success:
        assert recheck(example, completion), (example, completion)
    return v


def successes_of(n: int, strategy, check) -> int:
    """Run ``check(case) -> Verdict`` on ``n`` generated cases; how many verified. Each near-valid test
    counts its own successes, so it passes alone and in any order."""
    found = 0

    @fuzz(n)
    @given(strategy)
    def run(case):
        nonlocal found
        found += check(case).success

    run()
    return found


# ---------------------------------------------------------------------------------------------
# Countdown: an independent exact evaluator (recursive descent over tokens, not Python's ast).

_TOKEN = re.compile(r"\s*(\d+|[-+*/()])")


def _tokens(text: str) -> list[str] | None:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            return None
        out.append(m.group(1))
        pos = m.end()
    return out


def independent_countdown(example: dict, completion: str) -> bool:
    """True when the answer in the last <answer> tag uses each number once and equals the target."""
    if "<answer>" not in completion:
        return False
    inner = completion.rsplit("<answer>", 1)[1]
    if "</answer>" not in inner:
        return False
    toks = _tokens(inner.split("</answer>", 1)[0])
    if not toks:
        return False
    used: list[int] = []
    pos = 0

    def factor() -> Fraction:
        nonlocal pos
        tok = toks[pos]
        pos += 1
        if tok == "(":
            value = expr()
            assert toks[pos] == ")"
            pos += 1
            return value
        assert tok.isdigit()
        used.append(int(tok))
        return Fraction(int(tok))

    def term() -> Fraction:
        nonlocal pos
        value = factor()
        while pos < len(toks) and toks[pos] in "*/":
            op = toks[pos]
            pos += 1
            right = factor()
            value = value * right if op == "*" else value / right
        return value

    def expr() -> Fraction:
        nonlocal pos
        value = term()
        while pos < len(toks) and toks[pos] in "+-":
            op = toks[pos]
            pos += 1
            right = term()
            value = value + right if op == "+" else value - right
        return value

    try:
        value = expr()
    except (AssertionError, IndexError, ZeroDivisionError):
        return False
    return pos == len(toks) and sorted(used) == sorted(example["nums"]) and value == example["target"]


nums_st = st.lists(st.integers(1, 30), min_size=2, max_size=4)


@st.composite
def countdown_near_valid(draw) -> tuple[dict, str]:
    """A random well-formed equation over the numbers, its value as target when whole, then perturbed."""
    nums = draw(nums_st)
    items = [str(n) for n in draw(st.permutations(nums))]
    values = [Fraction(n) for n in (int(x) for x in items)]
    while len(items) > 1:
        i = draw(st.integers(0, len(items) - 2))
        op = draw(st.sampled_from("+-*/"))
        a, b = values[i], values[i + 1]
        if op == "/" and b == 0:
            op = "+"
        value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else a}[op]
        items[i : i + 2] = [f"({items[i]} {op} {items[i + 1]})"]
        values[i : i + 2] = [value]
    value = values[0]
    target = int(value) if value.denominator == 1 else draw(st.integers(-100, 1000))
    answer = items[0]
    kind = draw(st.sampled_from(["none", "none", "drop_paren", "char", "number", "op", "space", "wrap", "dup"]))
    if kind == "drop_paren" and "(" in answer:
        answer = answer.replace("(", "", 1)
    elif kind == "char":
        pos = draw(st.integers(0, len(answer)))
        answer = answer[:pos] + draw(st.sampled_from(list("0123456789+-*/() x.\x00٣−×"))) + answer[pos:]
    elif kind == "number":
        answer = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), answer, count=1)
    elif kind == "op":
        answer = answer.replace(draw(st.sampled_from("+-*/")), draw(st.sampled_from(["+", "-", "*", "/", "**"])), 1)
    elif kind == "space":
        answer = answer.replace(" ", "")
    elif kind == "dup":
        answer = f"{answer} + {answer}"
    prefix = draw(st.sampled_from(["", "Let me think. ", "<answer> 1 </answer> then ", "<answer>"]))
    suffix = draw(st.sampled_from(["", " done", " <answer>", "</answer>"]))
    completion = f"{prefix}<answer> {answer} </answer>{suffix}" if kind != "wrap" else answer
    return {"id": "cd", "nums": nums, "target": target}, completion


def test_countdown_near_valid():
    found = successes_of(5_000, countdown_near_valid(), lambda case: _check(COUNTDOWN, *case, independent_countdown))
    assert found >= MIN_SUCCESSES["countdown"], found  # the near-valid generator exercises success


@fuzz(5_000)
@given(
    nums_st,
    st.integers(-10, 200),
    st.one_of(
        st.text(max_size=300),
        st.text(alphabet="0123456789+-*/() <>answer/\n", max_size=300),
        st.builds(lambda s: f"<answer>{s}</answer>", st.text(alphabet="0123456789+-*/() ", max_size=60)),
        st.binary(max_size=40),
        st.integers(),
        st.none(),
    ),
)
def test_countdown_random(nums, target, completion):
    _check(COUNTDOWN, {"id": "cd", "nums": nums, "target": target}, completion, independent_countdown)


# ---------------------------------------------------------------------------------------------
# Function calling: independent re-checks against the answer set.

PARAMS = {"a": "integer", "b": "string", "c": "float", "d": "boolean"}
FUNCTIONS = [
    {
        "name": name,
        "description": "",
        "parameters": {"type": "dict", "properties": {k: {"type": t} for k, t in PARAMS.items()}, "required": ["a"]},
    }
    for name in ("f", "g")
]


def _value(kind: str):
    return {
        "integer": st.integers(-5, 5),
        "string": st.sampled_from(["Paris", "new york", "New-York", "x y", ""]),
        "float": st.sampled_from([0.5, 1.0, 2.5, -3.0]),
        "boolean": st.booleans(),
    }[kind]


@st.composite
def bfcl_case(draw) -> tuple[dict, list[tuple[str, dict]]]:
    """A BFCL-style example (1-2 ground-truth calls) and a list of calls near one of its answers."""
    gts, calls = [], []
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(["f", "g"]))
        answer, call = {}, {}
        for arg, kind in PARAMS.items():
            if arg != "a" and draw(st.booleans()):
                continue
            acceptable = draw(st.lists(_value(kind), min_size=1, max_size=2, unique_by=repr))
            optional = arg != "a" and draw(st.booleans())
            answer[arg] = acceptable + ([""] if optional else [])
            if not (optional and draw(st.booleans())):
                call[arg] = draw(st.sampled_from(acceptable))
        gts.append({name: answer})
        calls.append((name, call))
    calls = _perturb(draw, calls, list(PARAMS))
    example = {"id": "b", "source": "bfcl", "category": "x", "messages": [], "functions": FUNCTIONS, "answers": gts}
    return example, calls


def _perturb(draw, calls: list[tuple[str, dict]], arg_names: list[str]) -> list[tuple[str, dict]]:
    calls = [(n, dict(a)) for n, a in calls]
    kind = draw(st.sampled_from(["none", "none", "none", "value", "drop", "add", "name", "dup", "del", "type"]))
    i = draw(st.integers(0, len(calls) - 1))
    _, args = calls[i]
    if kind == "value" and args:
        key = draw(st.sampled_from(sorted(args)))
        args[key] = draw(st.one_of(st.integers(-5, 5), st.text(max_size=5), st.booleans(), st.floats(-9, 9)))
    elif kind == "drop" and args:
        args.pop(draw(st.sampled_from(sorted(args))))
    elif kind == "add":
        args[draw(st.sampled_from([*arg_names, "zz"]))] = draw(st.integers(-5, 5))
    elif kind == "name":
        calls[i] = (draw(st.sampled_from(["f", "g", "h"])), args)
    elif kind == "dup":
        calls.append(calls[i])
    elif kind == "del" and len(calls) > 1:
        calls.pop(i)
    elif kind == "type" and args:
        key = draw(st.sampled_from(sorted(args)))
        v = args[key]
        args[key] = str(v) if not isinstance(v, str) else (float(v) if v.isdigit() else 1)
    return draw(st.permutations(calls))


def _render(draw, calls: list[tuple[str, dict]]) -> str:
    """Faithful renderings the parser accepts: the asked-for list, tool_call tags, fences, OpenAI style."""
    style = draw(st.sampled_from(["list", "list", "tool_call", "fence", "openai", "parameters", "prose"]))
    if style == "tool_call":
        return "".join(f"<tool_call>{json.dumps({'name': n, 'arguments': a})}</tool_call>\n" for n, a in calls)
    if style == "openai":
        return json.dumps([{"type": "function", "function": {"name": n, "arguments": json.dumps(a)}} for n, a in calls])
    if style == "parameters":
        return json.dumps([{"name": n, "parameters": a} for n, a in calls])
    text = json.dumps([{"name": n, "arguments": a} for n, a in calls])
    if style == "fence":
        return f"Here you go:\n```json\n{text}\n```\nthanks"
    if style == "prose":
        return f"The call is {text} and that is all."
    return text


def _std(s: str) -> str:
    return "".join(c for c in s if c not in " ,./-_*^").lower().replace("'", '"')


def _arg_ok(kind: str, value: Any, acceptable: list) -> bool:
    if kind == "integer":
        return type(value) is int and value in [a for a in acceptable if type(a) is int]
    if kind == "float":
        return type(value) in (int, float) and float(value) in [float(a) for a in acceptable if type(a) is float]
    if kind == "boolean":
        return type(value) is bool and value in [a for a in acceptable if type(a) is bool]
    return type(value) is str and _std(value) in [_std(a) for a in acceptable if type(a) is str]


def _call_ok(call: tuple[str, dict], gt: dict) -> bool:
    (gt_name, answer), (name, args) = next(iter(gt.items())), call
    if name != gt_name or "a" not in args or not set(args) <= set(answer):
        return False
    if not all(_arg_ok(PARAMS[k], v, answer[k]) for k, v in args.items()):
        return False
    return all(k in args or "" in acceptable for k, acceptable in answer.items())


def independent_bfcl(calls: list[tuple[str, dict]], example: dict) -> bool:
    gts = example["answers"]
    if len(calls) != len(gts):
        return False
    return any(all(_call_ok(c, g) for c, g in zip(perm, gts, strict=True)) for perm in itertools.permutations(calls))


def _same(a: Any, b: Any) -> bool:
    """Exact JSON equality, except that a whole float equals the int (5.0 == 5); bools are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b and abs(a) < 2**53
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def independent_xlam(calls: list[tuple[str, dict]], example: dict) -> bool:
    left = list(calls)
    for ans in example["answers"]:
        hit = next((c for c in left if c[0] == ans["name"] and _same(c[1], ans["arguments"])), None)
        if hit is None:
            return False
        left.remove(hit)
    return not left


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([1.0, 2.5]) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def xlam_case(draw) -> tuple[dict, list[tuple[str, dict]]]:
    answers = [
        {
            "name": draw(st.sampled_from(["f", "g"])),
            "arguments": draw(st.dictionaries(st.sampled_from("pqr"), json_values)),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    calls = [(a["name"], a["arguments"]) for a in answers]
    calls = _perturb(draw, calls, ["p", "q", "r"])
    if draw(st.booleans()):  # ints written as whole floats are the same value
        calls = [(n, {k: float(v) if type(v) is int else v for k, v in a.items()}) for n, a in calls]
    example = {"id": "x", "source": "xlam", "category": None, "messages": [], "functions": [], "answers": answers}
    return example, calls


@pytest.mark.parametrize("source", ["bfcl", "xlam"])
def test_function_calling_near_valid(source):
    case, independent = {"bfcl": (bfcl_case, independent_bfcl), "xlam": (xlam_case, independent_xlam)}[source]

    def check(data):
        example, calls = data.draw(case())
        return _check(FC, example, _render(data.draw, calls), lambda ex, _: independent(calls, ex))

    found = successes_of(3_000, st.data(), check)
    assert found >= MIN_SUCCESSES[source], found


def _json_text_recheck(example: dict, completion: str) -> bool:
    """For random text: a success needs a JSON list of calls in the text that matches the answers."""
    start = completion.find("[")
    try:
        value, _ = json.JSONDecoder().raw_decode(completion, start)
    except ValueError:
        return False
    calls = [(c.get("name"), c.get("arguments", {})) for c in value if isinstance(c, dict)]
    return independent_xlam(calls, example)


@fuzz(4_000)  # two verdicts per input: 8,000 calls, 14,000 in all for function calling
@given(
    st.one_of(
        st.text(max_size=300),
        st.text(alphabet='[]{}":,0123456789.eE-+ nulltrufas\\', max_size=200),
        st.builds(lambda v: json.dumps(v), json_values),
        st.binary(max_size=30),
        st.integers(),
        st.none(),
    )
)
def test_function_calling_random(completion):
    example = {
        "id": "x",
        "source": "xlam",
        "category": None,
        "messages": [],
        "functions": [],
        "answers": [{"name": "f", "arguments": {}}],
    }
    _check(FC, example, completion, _json_text_recheck)
    irrelevance = {**example, "answers": []}
    _check(FC, irrelevance, completion, lambda ex, c: c.strip() == "" or "[" in c or "{" not in c)
