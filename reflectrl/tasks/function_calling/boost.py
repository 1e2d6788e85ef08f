"""Boost (warm-up) data from the ground truth: right completions, and wrong ones with the reflection they deserve.

The task's ``boost_examples`` and ``boost_reflections`` keep only what the verifier confirms (a right
completion that passes, an attempt that fails for the reason the reflection names); this module only builds them.
"""

from __future__ import annotations

import random
from typing import Any

from reflectrl.tasks.base import Example, Verdict
from reflectrl.tasks.function_calling.parse import format_calls, parse_calls

Calls = list[tuple[str, dict[str, Any]]]  # (function name, arguments) per call

# Warm-up reflections, keyed by the verifier's reason: what a correct self-diagnosis says.
REFLECTIONS = {
    "missing_arg": 'My call to {fn} left out the argument "{arg}". The question gives it, so the call must include it.',
    "wrong_value": 'The value I gave "{arg}" in {fn} is not what the question asks for. I should take each '
    "value from the question exactly, in the type the function expects.",
    "wrong_type": 'I gave "{arg}" in {fn} a value of the wrong type. I should use the type the function\'s '
    "parameters say.",
    "unexpected_arg": 'I passed "{arg}" to {fn}, but that argument is not needed here. I should only pass the '
    "arguments the question specifies.",
    "wrong_function": "I called {fn}, which does not do what the question asks. I should pick the offered "
    "function whose description matches the request.",
    "wrong_count": "I made {n} call(s), but the question needs {more}. Each separate request in the question "
    "needs its own call.",
    "no_call": "I answered without calling a function, but one of the offered functions fits the question. "
    "I should call it with the arguments the question gives.",
    "should_not_call": "None of the offered functions can answer this question, yet I called {fn}. When no "
    "function fits, the answer is [].",
}


def reference_calls(example: Example) -> Calls:
    """The ground truth as concrete calls: xLAM's answers as given; for BFCL, ``pick_call`` of each answer."""
    if example["source"] == "xlam":
        return [(a["name"], dict(a["arguments"])) for a in example["answers"]]
    return [pick_call(gt, example["functions"]) for gt in example["answers"]]


def mistaken_attempt(example: Example, calls: Calls, rng: random.Random) -> str | None:
    """A plausible wrong completion: ``calls`` with one typical mistake, or for an irrelevance question (no
    calls) a call anyway; None when no function is offered to call."""
    if not calls:
        if not example["functions"]:
            return None
        return format_calls([(example["functions"][0]["name"], {})])
    return format_calls(_one_mistake(calls, example["functions"], rng))


def reflection_for(verdict: Verdict, attempt: str, calls: Calls) -> str | None:
    """What a correct self-diagnosis of a failed ``attempt`` says: the rule the verifier found broken, in
    words, naming the function and argument but not the right value. None when there is nothing to reflect on."""
    kind, _, arg = verdict.reason.partition(":")
    if verdict.success or kind not in REFLECTIONS:
        return None
    wrong = parse_calls(attempt)
    fn = wrong[0].name if isinstance(wrong, list) and wrong else calls[0][0]
    if arg:
        fn = next((c.name for c in wrong if arg in c.arguments), fn) if isinstance(wrong, list) else fn
    n = len(wrong) if isinstance(wrong, list) else 0
    return REFLECTIONS[kind].format(fn=fn, arg=arg, n=n, more="more" if n < len(calls) else "fewer")


def pick_call(gt: dict[str, Any], functions: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """One BFCL ground-truth call ``{name: {argument: [acceptable values]}}`` as a concrete call: the first
    acceptable value of each argument, leaving out optional arguments that may only be omitted."""
    name, args = next(iter(gt.items()))
    function = next((f for f in functions if f["name"] == name), {})
    required = function.get("parameters", {}).get("required", [])
    picked = {k: p for k, v in args.items() if (p := _pick(v)) is not _OMIT}
    # A required argument whose only acceptable value is "" must be given, as "".
    picked.update({k: "" for k, v in args.items() if k not in picked and k in required and v == [""]})
    return name, {k: picked[k] for k in args if k in picked}


_OMIT = object()


def _pick(acceptable: Any) -> Any:
    """The first acceptable value that is not the "may be omitted" marker; dicts (and lists of dicts)
    in BFCL's ground truth hold acceptable-value lists themselves, so pick inside them too."""
    if not isinstance(acceptable, list):
        return _OMIT
    value = next((a for a in acceptable if a != ""), _OMIT)
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        return {k: p for k, v in value.items() if (p := _pick(v)) is not _OMIT}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [{k: p for k, vs in d.items() if (p := _pick(vs)) is not _OMIT} for d in value]
    return value


def _one_mistake(calls: Calls, functions: list[dict[str, Any]], rng: random.Random) -> Calls:
    """The calls with one typical mistake: an argument left out or wrong, another function, a call
    missing, or no call at all."""
    i = rng.randrange(len(calls))
    name, args = calls[i]
    others = [f["name"] for f in functions if f["name"] != name]
    kinds = ["no_call"] + ["drop_arg", "change_value", "change_value"] * bool(args)
    kinds += ["other_function"] * bool(others) + ["drop_call"] * (len(calls) > 1)
    kind = rng.choice(kinds)
    if kind == "no_call":
        return []
    if kind == "drop_call":
        return calls[:i] + calls[i + 1 :]
    if kind == "other_function":
        return [*calls[:i], (rng.choice(others), args), *calls[i + 1 :]]
    key = rng.choice(sorted(args))
    if kind == "drop_arg":
        changed = {k: v for k, v in args.items() if k != key}
    else:
        changed = {**args, key: _wrong_value(args[key])}
    return [*calls[:i], (name, changed), *calls[i + 1 :]]


def _wrong_value(value: Any) -> Any:
    """Another value of the same kind; None for anything else (a dict), which is just as wrong."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2 + 1
    if isinstance(value, str):
        return value[: len(value) // 2] if len(value) > 3 else value + " other"
    if isinstance(value, list):
        return value[:-1] if len(value) > 1 else []
    return None
