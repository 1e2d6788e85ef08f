"""The xLAM/APIGen verifier: exact match of the multiset of calls, as in the R3 paper.

Also the canonical form of a call (``call_key``) that answer keys and leak detection compare, for both sources.
"""

from __future__ import annotations

import json
from typing import Any

from reflectrl.tasks.base import Verdict
from reflectrl.tasks.function_calling.parse import Call


def canonical(value: Any) -> Any:
    """JSON value with integral floats as ints (``5.0`` equals ``5``) and dict keys sorted."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def call_key(name: str, arguments: dict[str, Any]) -> str:
    """One call as comparable text: equal calls (up to key order and ``5.0`` vs ``5``) give equal keys."""
    return json.dumps([name, canonical(arguments)], ensure_ascii=False, sort_keys=True)


def _dumps(value: Any) -> str:
    return json.dumps(canonical(value), ensure_ascii=False, sort_keys=True)


def check_exact(calls: list[Call], answers: list[dict[str, Any]]) -> Verdict:
    """The multiset of (name, canonical arguments) must equal the answer's."""
    if not calls:
        return Verdict.fail("no_call")
    if len(calls) != len(answers):
        return Verdict.fail("wrong_count")
    leftover = list(calls)
    missed = []
    for ans in answers:
        key = call_key(ans["name"], ans["arguments"])
        hit = next((c for c in leftover if call_key(c.name, c.arguments) == key), None)
        if hit is None:
            missed.append(ans)
        else:
            leftover.remove(hit)
    if not missed:
        return Verdict.ok()
    # Explain the first missed answer with a leftover call of the same name.
    want = missed[0]
    call = next((c for c in leftover if c.name == want["name"]), None)
    if call is None:
        return Verdict.fail("wrong_function")
    for name in want["arguments"]:
        if name not in call.arguments:
            return Verdict.fail(f"missing_arg:{name}")
    for name, value in call.arguments.items():
        if name not in want["arguments"]:
            return Verdict.fail(f"unexpected_arg:{name}")
        if _dumps(value) != _dumps(want["arguments"][name]):
            return Verdict.fail(f"wrong_value:{name}")
    return Verdict.fail("wrong_value")  # unreachable: same name and equal arguments would have matched
