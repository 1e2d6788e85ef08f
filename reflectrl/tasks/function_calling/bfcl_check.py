"""BFCL's AST matching rules, re-implemented (docs/TASKS.md lists the rules and the few deliberate differences).

BFCL's own checker is never imported here; tests/test_function_calling.py runs it side by side with this one on
every shipped ground truth and its perturbations.
"""

from __future__ import annotations

import re
from typing import Any

from reflectrl.tasks.base import Verdict
from reflectrl.tasks.function_calling.parse import Call

# BFCL's parameter types as Python types (its PYTHON_TYPE_MAPPING; "any" is checked as a string).
PY_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}

_STRIP = re.compile(r"[ ,./\-_*^]")


def standardize(s: str) -> str:
    """BFCL's string normalisation: drop spaces and ``,./-_*^``, lowercase, single to double quotes."""
    return _STRIP.sub("", s).lower().replace("'", '"')


def _std_items(values: Any) -> Any:
    """Standardise the top-level strings of a list (BFCL does not look deeper)."""
    return [standardize(v) if isinstance(v, str) else v for v in values] if isinstance(values, list) else None


def _first_type(acceptable: list[Any]) -> type | None:
    return next((type(a) for a in acceptable if a != ""), None)


def _nested_types_ok(value: list[Any], acceptable: list[Any], nested: type) -> bool:
    """One level of item-type checking, as BFCL: some acceptable value is either not a list (e.g. the
    optional marker) or has an element type that every item of ``value`` has (or has ``nested``)."""
    for answer in acceptable:
        if not isinstance(answer, list):
            return True
        answer_type = _first_type(answer)
        if all(type(v) is nested or type(v) is answer_type for v in value):
            return True
    return False


def _dict_ok(value: dict[str, Any], acceptable: list[Any]) -> bool:
    for answer in acceptable:
        if not isinstance(answer, dict):
            continue
        ok = True
        for key, v in value.items():
            options = answer.get(key)
            if not isinstance(options, list):
                ok = False
                break
            options = [standardize(o) if isinstance(o, str) else o for o in options]
            if (standardize(v) if isinstance(v, str) else v) not in options:
                ok = False
                break
        if ok and all(key in value or (isinstance(v, list) and "" in v) for key, v in answer.items()):
            return True
    return False


def _list_of_dicts_ok(value: list[Any], acceptable: list[Any]) -> bool:
    for answer in acceptable:
        if not isinstance(answer, list | str) or len(answer) != len(value):
            continue
        if all(isinstance(v, dict) and _dict_ok(v, [a]) for v, a in zip(value, answer, strict=True)):
            return True
    return False


def _check_value(name: str, value: Any, schema: dict[str, Any], acceptable: list[Any]) -> str | None:
    """The reason one argument fails (``wrong_type:x`` / ``wrong_value:x``), or None."""
    kind = schema.get("type")
    expected = PY_TYPES.get(kind)  # type: ignore[arg-type]
    if expected is None:
        return f"wrong_type:{name}"
    nested = None
    if kind in ("array", "tuple"):
        nested = PY_TYPES.get((schema.get("items") or {}).get("type"))
    if kind == "float" and type(value) is int:  # Python's int -> float promotion
        value = float(value)
    answer_type = _first_type(acceptable)
    # A ground truth of another type than the schema's is a "variable" (BFCL compares it as is).
    is_variable = answer_type is not None and answer_type is not expected
    if type(value) is expected:
        if nested is not None and not _nested_types_ok(value, acceptable, nested):
            return f"wrong_type:{name}"
    elif answer_type is not None and type(value) is answer_type:
        is_variable = True
    else:
        return f"wrong_type:{name}"
    if not is_variable:
        if expected is dict:
            ok = _dict_ok(value, acceptable)
        elif expected is list and nested is dict:
            ok = _list_of_dicts_ok(value, acceptable)
        elif expected is str:
            ok = standardize(value) in [standardize(a) for a in acceptable if isinstance(a, str)]
        elif expected is list:
            ok = _std_items(value) in [_std_items(a if a != "" else []) for a in acceptable]
        else:
            ok = value in acceptable
        return None if ok else f"wrong_value:{name}"
    return None if value in acceptable else f"wrong_value:{name}"


def check_call(function: dict[str, Any], call: Call, answer: dict[str, list[Any]]) -> str | None:
    """Why ``call`` does not match one ground-truth call of ``function``, or None. The rules run in
    BFCL's order: name, required arguments, each given argument (known, type, value), then arguments
    the ground truth needs that were left out."""
    if call.name != function["name"]:
        return "wrong_function"
    params = function.get("parameters", {}).get("properties", {})
    for name in function.get("parameters", {}).get("required", []):
        if name not in call.arguments:
            return f"missing_arg:{name}"
    for name, value in call.arguments.items():
        if name not in params or name not in answer:
            return f"unexpected_arg:{name}"
        reason = _check_value(name, value, params[name], answer[name])
        if reason:
            return reason
    for name, acceptable in answer.items():
        if name not in call.arguments and "" not in acceptable:
            return f"missing_arg:{name}"
    return None


def _max_matching(ok: list[list[bool]]) -> list[int | None]:
    """For each row, the column it is matched to in a maximum bipartite matching (Kuhn's algorithm)."""
    col_owner: dict[int, int] = {}

    def augment(row: int, seen: set[int]) -> bool:
        for col, good in enumerate(ok[row]):
            if good and col not in seen:
                seen.add(col)
                if col not in col_owner or augment(col_owner[col], seen):
                    col_owner[col] = row
                    return True
        return False

    for row in range(len(ok)):
        augment(row, set())
    by_row: list[int | None] = [None] * len(ok)
    for col, row in col_owner.items():
        by_row[row] = col
    return by_row


def check_bfcl(functions: list[dict[str, Any]], calls: list[Call], ground_truth: list[dict[str, Any]]) -> Verdict:
    """BFCL's AST check for the relevance categories: as many calls as ground-truth calls, matched one
    to one in any order."""
    if not calls:
        return Verdict.fail("no_call")
    if len(calls) != len(ground_truth):
        return Verdict.fail("wrong_count")
    by_name = {f["name"]: f for f in functions}
    expected = [next(iter(gt.items())) for gt in ground_truth]
    reasons = [
        [check_call(by_name[name], call, answer) if name in by_name else "wrong_function" for call in calls]
        for name, answer in expected
    ]
    matched = _max_matching([[r is None for r in row] for row in reasons])
    used = {c for c in matched if c is not None}
    for (name, _), row, col in zip(expected, reasons, matched, strict=True):
        if col is None:  # explain with the first unused call of the same function, if any
            same = [row[j] for j, c in enumerate(calls) if c.name == name and j not in used]
            return Verdict.fail(same[0] if same else "wrong_function")
    return Verdict.ok()
