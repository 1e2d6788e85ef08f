"""Function calling: pick the right tool(s) and produce exactly the right arguments.

Two sources of data:

* ``bfcl`` (default): the Berkeley Function Calling Leaderboard's single-turn categories, read from the
  data files shipped in the ``bfcl-eval`` package (its code is never imported here). The verifier is
  our own implementation of BFCL's AST matching rules (``check_bfcl``), cross-checked against BFCL's
  ``ast_checker`` in tests/test_function_calling.py.
* ``xlam``: a local file in the xLAM/APIGen format (``{"id", "query", "tools", "answers"}`` with tools and
  answers as JSON strings), verified by exact match of the multiset of calls, as in the R3 paper.

The model sees the tools in a system prompt and answers with a JSON list of calls,
``[{"name": ..., "arguments": {...}}]``, or ``[]`` when no tool fits (docs/TASKS.md). The parser also
takes ``<tool_call>...</tool_call>`` wrappers and fenced code. Model text is only ever read with
``json`` under size and depth bounds; it is never executed.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from reflectrl.errors import ReflectrlError
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

CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "irrelevance",
    "live_irrelevance",
)
IRRELEVANCE = frozenset({"irrelevance", "live_irrelevance"})
MAX_COMPLETION_CHARS = 20_000  # longer completions are rejected before any parsing
MAX_DEPTH = 32  # JSON nesting depth of an answer; BFCL's deepest ground truth is 5
MAX_CALLS = 64

SYSTEM_PROMPT = (
    "You are an expert in composing function calls. You are given a question and a set of possible "
    "functions. Make the function call(s) that answer the question.\n\n"
    "The functions you can call (JSON):\n{functions}\n\n"
    "Answer with only a JSON list of calls, in this format:\n"
    '[{{"name": "function_name", "arguments": {{"argument_name": value}}}}]\n'
    "Use several calls if the question needs several. If none of the functions fits, answer []."
)

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
_JSON_SCHEMA_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}


# ---------------------------------------------------------------------------------------------
# Parsing untrusted model text into calls.


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]


_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)(?:```|$)", re.S | re.I)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")
_DECODER = json.JSONDecoder()


def _too_deep(text: str) -> bool:
    depth = 0
    for m in _BRACKETS.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _decode_values(segment: str) -> list[Any] | str:
    """JSON values in ``segment`` from its first ``[`` or ``{``: one, or several separated by
    whitespace (``{call}\\n{call}``). Text after the last value is ignored."""
    starts = [i for i in (segment.find("["), segment.find("{")) if i >= 0]
    if not starts:
        return "no_call"
    pos, values = min(starts), []
    while pos < len(segment) and segment[pos] in "[{":
        try:
            value, pos = _DECODER.raw_decode(segment, pos)
        except (ValueError, RecursionError):  # ValueError covers ints over Python's digit limit
            return values or "bad_json"
        values.append(value)
        while pos < len(segment) and segment[pos] in " \t\r\n,":
            pos += 1
    return values


def _to_call(item: Any) -> Call | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict) and "name" not in item:  # {"type": "function", "function": {...}}
        item = item["function"]
    name = item.get("name")
    args = item.get("arguments", item.get("parameters", {}))
    if isinstance(args, str):  # OpenAI style: arguments as a JSON string
        try:
            args = json.loads(args) if args.strip() else {}
        except (ValueError, RecursionError):
            return None
    if not (isinstance(name, str) and name and isinstance(args, dict)):
        return None
    return Call(name, args)


def parse_calls(text: Any) -> list[Call] | str:
    """The calls in a completion, or the reason there are none.

    Reasons: ``not_text``, ``too_long``, ``no_call`` (no JSON at all), ``too_deep``, ``bad_json``,
    ``not_a_call`` (JSON that is not a list of ``{"name", "arguments"}`` objects), ``too_many_calls``.
    An explicit ``[]`` parses as an empty list of calls."""
    if not isinstance(text, str):
        return "not_text"
    if len(text) > MAX_COMPLETION_CHARS:
        return "too_long"
    if "<tool_call>" in text:
        segments = _TOOL_CALL.findall(text)
    elif fence := _FENCE.search(text):
        segments = [fence.group(1)]
    else:
        segments = [text]
    values: list[Any] = []
    for segment in segments:
        if _too_deep(segment):
            return "too_deep"
        decoded = _decode_values(segment)
        if isinstance(decoded, str):
            return decoded
        values.extend(decoded)
    items = [x for v in values for x in (v if isinstance(v, list) else [v])]
    if len(items) > MAX_CALLS:
        return "too_many_calls"
    calls = [_to_call(x) for x in items]
    if any(c is None for c in calls):
        return "not_a_call"
    return calls  # type: ignore[return-value]


def format_calls(calls: list[tuple[str, dict[str, Any]]]) -> str:
    """A completion in the format the prompt asks for (used for boost data)."""
    return json.dumps([{"name": n, "arguments": a} for n, a in calls], ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# BFCL's AST matching rules (re-implemented; see docs/TASKS.md for the few deliberate differences).

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


# ---------------------------------------------------------------------------------------------
# xLAM exact match.


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


# ---------------------------------------------------------------------------------------------
# Data.


class _Bad(Exception):
    """A malformed record: ``reason`` is counted, ``detail`` is shown in strict mode."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def _read_jsonl(path: Path) -> list[tuple[str, Any]]:
    """(``file:line``, record) pairs; a line that is not JSON becomes a _Bad to count or raise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReflectrlError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from e
    if path.suffix == ".json" and text.lstrip().startswith("["):  # a JSON list (xLAM's own release)
        try:
            rows = json.loads(text)
        except ValueError as e:
            raise ReflectrlError(f"{path}: invalid JSON: {e}") from e
        return [(f"{path}:item {i}", r) for i, r in enumerate(rows)]
    out: list[tuple[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((f"{path}:{lineno}", json.loads(line)))
            except ValueError as e:
                out.append((f"{path}:{lineno}", _Bad("invalid JSON", str(e))))
    return out


def _check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict) or schema.get("type") not in PY_TYPES:
        raise _Bad(
            "unknown parameter type",
            f"{where}: {schema.get('type') if isinstance(schema, dict) else schema!r}",
        )
    if schema["type"] in ("array", "tuple") and (schema.get("items") or {}).get("type") not in PY_TYPES:
        raise _Bad("array parameter without a known item type", where)


def _bfcl_functions(functions: Any, irrelevance: bool) -> list[dict[str, Any]]:
    # live_irrelevance has a few questions with no functions at all: the answer is still "no call".
    if not (isinstance(functions, list) and (functions or irrelevance)):
        raise _Bad("'function' must be a non-empty list")
    for f in functions:
        if not (isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("parameters"), dict)):
            raise _Bad("function without a name or parameters")
        params = f["parameters"]
        if not isinstance(params.get("properties", {}), dict) or not isinstance(params.get("required", []), list):
            raise _Bad("function parameters need 'properties' (object) and 'required' (list)", f["name"])
        for name, schema in params.get("properties", {}).items():
            _check_schema(schema, f"{f['name']}.{name}")
    return functions


def _messages(turns: Any) -> Messages:
    if not (isinstance(turns, list) and len(turns) == 1 and isinstance(turns[0], list)):
        raise _Bad("'question' must be a single turn (a list of one message list)")
    messages = turns[0]
    for m in messages:
        if not (isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")):
            raise _Bad("message without a system/user/assistant role")
        if not isinstance(m.get("content"), str):
            raise _Bad("message content is not a string")
    if not any(m["role"] == "user" for m in messages):
        raise _Bad("question has no user message")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _ground_truth(answer: Any, functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {f["name"] for f in functions}
    gt = answer.get("ground_truth") if isinstance(answer, dict) else None
    if not (isinstance(gt, list) and gt):
        raise _Bad("'ground_truth' must be a non-empty list")
    for call in gt:
        if not (isinstance(call, dict) and len(call) == 1):
            raise _Bad("a ground-truth call must be {function: {argument: [values]}}")
        name, args = next(iter(call.items()))
        if name not in names:
            raise _Bad("ground truth calls a function that is not offered", name)
        if not (isinstance(args, dict) and all(isinstance(v, list) for v in args.values())):
            raise _Bad("ground-truth arguments must map to lists of acceptable values", name)
    return gt


def bfcl_data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ReflectrlError(
            "the BFCL data needs the bfcl-eval package: run scripts/setup.sh, or "
            "pip install --no-deps bfcl-eval==2026.3.23 (or set the task option data_path)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _xlam_tools(raw: Any) -> list[dict[str, Any]]:
    tools = _json_field(raw, "tools")
    if not (isinstance(tools, list) and tools):
        raise _Bad("'tools' must be a non-empty list")
    for t in tools:
        if not (isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"]):
            raise _Bad("tool without a name")
        params = t.get("parameters", {})
        if not isinstance(params, dict) or not all(
            isinstance(p, dict) and isinstance(p.get("type", "str"), str) for p in params.values()
        ):
            raise _Bad("tool parameters must map names to {description, type, default?}", t["name"])
    return tools


def _xlam_answers(raw: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers = _json_field(raw, "answers")
    if not isinstance(answers, list):
        raise _Bad("'answers' must be a list")
    params = {t["name"]: t.get("parameters", {}) for t in tools}
    for a in answers:
        if not (isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("arguments", {}), dict)):
            raise _Bad("an answer must be {name, arguments}")
        if a["name"] not in params:
            raise _Bad("answer calls a tool that is not offered", a["name"])
        unknown = set(a.get("arguments", {})) - set(params[a["name"]])
        if unknown:
            raise _Bad("answer uses an argument the tool does not have", f"{a['name']}.{sorted(unknown)[0]}")
    return [{"name": a["name"], "arguments": a.get("arguments", {})} for a in answers]


def _json_field(raw: Any, key: str) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError as e:
            raise _Bad(f"'{key}' is not valid JSON", str(e)) from None
    if raw is None:
        raise _Bad(f"missing '{key}'")
    return raw  # already decoded (some conversions of the data set store lists)


def _split_key(messages: Messages) -> str:
    """Identical questions (BFCL repeats some across categories) always land in the same split."""
    text = "\n".join(m["content"] for m in messages if m["role"] == "user")
    return " ".join(text.lower().split())


def _xlam_type(text: str) -> tuple[str, bool]:
    """JSON-schema type of an xLAM type string (``"List[int]"``, ``"float, optional"``) and whether the
    parameter is optional."""
    base = text.split(",")[0].strip().lower()
    optional = "optional" in text.lower()
    for prefix, kind in (("str", "string"), ("int", "integer"), ("float", "number"), ("bool", "boolean")):
        if base == prefix:
            return kind, optional
    if base.startswith(("list", "tuple", "set")):
        return "array", optional
    if base.startswith("dict"):
        return "object", optional
    return "string", optional


def _bfcl_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """BFCL's parameter schema as JSON Schema (for chat templates with tool support)."""
    out = {k: v for k, v in schema.items() if k not in ("type", "properties", "items")}
    out["type"] = _JSON_SCHEMA_TYPES.get(schema.get("type", "string"), schema.get("type", "string"))
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _bfcl_json_schema(v) for k, v in schema["properties"].items()}
    if isinstance(schema.get("items"), dict):
        out["items"] = _bfcl_json_schema(schema["items"])
    return out


class FunctionCallingOptions(TaskOptions):
    source: Literal["bfcl", "xlam"] = Field(
        "bfcl", description="'bfcl': BFCL data from the bfcl-eval package; 'xlam': a local xLAM/APIGen file."
    )
    categories: tuple[str, ...] | None = Field(
        None, description=f"BFCL categories to use (default: all of {', '.join(CATEGORIES)})."
    )
    data_path: str | None = Field(
        None,
        description="xlam: the JSON/JSONL file (required). bfcl: a folder of BFCL_v4_*.json files "
        "with possible_answer/ (default: the bfcl-eval package's).",
    )
    test_fraction: float = Field(
        0.3, gt=0, lt=1, description="Share of questions hashed (with seed) into the test split."
    )
    train_size: int | None = Field(None, ge=0, description="At most this many train examples (None: all).")
    test_size: int | None = Field(None, ge=0, description="At most this many test examples (None: all).")
    tool_format: Literal["system_prompt", "chat_template"] = Field(
        "system_prompt",
        description="'system_prompt': tools listed as JSON in a system message (works for every model); "
        "'chat_template': tools passed to the chat template's `tools` (templates that support it).",
    )
    strict: bool = Field(False, description="Reject the data on the first malformed record instead of skipping it.")

    @field_validator("categories")
    @classmethod
    def _known(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            unknown = [c for c in value if c not in CATEGORIES]
            if unknown or not value:
                raise ValueError(f"unknown categories {unknown}; choose from {', '.join(CATEGORIES)}")
        return value

    @model_validator(mode="after")
    def _source(self) -> FunctionCallingOptions:
        if self.source == "xlam" and not self.data_path:
            raise ValueError("source 'xlam' needs data_path (a JSON or JSONL file in the xLAM format)")
        if self.source == "xlam" and self.categories is not None:
            raise ValueError("categories apply to source 'bfcl' only")
        return self


@register_task
class FunctionCalling(Task):
    """Call the right function(s) with the right arguments: BFCL (bfcl-eval's data) or xLAM/APIGen files."""

    name = "function_calling"
    Options = FunctionCallingOptions
    options: FunctionCallingOptions

    def __init__(self, options: FunctionCallingOptions):
        super().__init__(options)
        self._examples: list[Example] | None = None

    # -- data --------------------------------------------------------------------------------

    def load(self, split: Split) -> list[Example]:
        if split not in ("train", "test"):
            raise ReflectrlError(f"unknown split {split!r}; expected 'train' or 'test'")
        o = self.options
        if self._examples is None:
            self._examples = self._read_bfcl() if o.source == "bfcl" else self._read_xlam()
        chosen = [
            ex
            for ex in self._examples
            if in_test_split(_split_key(ex["messages"]), o.seed, o.test_fraction) == (split == "test")
        ]
        size = o.train_size if split == "train" else o.test_size
        return _interleave(chosen, o.seed)[:size]

    def _skip_or_raise(self, where: str, bad: _Bad, skipped: dict[str, int]) -> None:
        if self.options.strict:
            detail = f" ({bad.detail})" if bad.detail else ""
            raise ReflectrlError(f"{where}: {bad.reason}{detail}")
        skipped[bad.reason] = skipped.get(bad.reason, 0) + 1

    def _warn(self, what: str, skipped: dict[str, int]) -> None:
        if skipped:
            from reflectrl.console import warn

            warn(f"{what}: skipped {sum(skipped.values())} malformed record(s): {skipped}")

    def _read_bfcl(self) -> list[Example]:
        root = Path(self.options.data_path) if self.options.data_path else bfcl_data_dir()
        examples: list[Example] = []
        skipped: dict[str, int] = {}
        seen: set[str] = set()
        for category in self.options.categories or CATEGORIES:
            questions = root / f"BFCL_v4_{category}.json"
            if not questions.is_file():
                raise ReflectrlError(f"BFCL data file not found: {questions}")
            answers: dict[str, Any] = {}
            if category not in IRRELEVANCE:
                answer_file = root / "possible_answer" / questions.name
                if not answer_file.is_file():
                    raise ReflectrlError(f"BFCL possible-answer file not found: {answer_file}")
                for _, rec in _read_jsonl(answer_file):
                    if isinstance(rec, dict) and isinstance(rec.get("id"), str):
                        answers[rec["id"]] = rec
            for where, rec in _read_jsonl(questions):
                try:
                    if isinstance(rec, _Bad):
                        raise rec
                    if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
                        raise _Bad("record is not an object with a string 'id'")
                    if rec["id"] in seen:
                        raise _Bad("duplicate id", rec["id"])
                    functions = _bfcl_functions(rec.get("function"), category in IRRELEVANCE)
                    messages = _messages(rec.get("question"))
                    gt: list[dict[str, Any]] = []
                    if category not in IRRELEVANCE:
                        if rec["id"] not in answers:
                            raise _Bad("no possible answer for this id", rec["id"])
                        gt = _ground_truth(answers[rec["id"]], functions)
                except _Bad as bad:
                    self._skip_or_raise(where, bad, skipped)
                    continue
                seen.add(rec["id"])
                examples.append(
                    {
                        "id": rec["id"],
                        "source": "bfcl",
                        "category": category,
                        "messages": messages,
                        "functions": functions,
                        "answers": gt,
                    }
                )
        self._warn(str(root), skipped)
        return examples

    def _read_xlam(self) -> list[Example]:
        path = Path(self.options.data_path)  # type: ignore[arg-type]
        if not path.is_file():
            raise ReflectrlError(f"xLAM data file not found: {path}")
        examples: list[Example] = []
        skipped: dict[str, int] = {}
        seen: set[str] = set()
        for where, rec in _read_jsonl(path):
            try:
                if isinstance(rec, _Bad):
                    raise rec
                if not isinstance(rec, dict):
                    raise _Bad("record is not a JSON object")
                if not isinstance(rec.get("id"), int | str) or isinstance(rec.get("id"), bool):
                    raise _Bad("missing 'id' (an integer or string)")
                ex_id = f"xlam-{rec['id']}"
                if ex_id in seen:
                    raise _Bad("duplicate id", str(rec["id"]))
                if not (isinstance(rec.get("query"), str) and rec["query"].strip()):
                    raise _Bad("'query' must be a non-empty string")
                tools = _xlam_tools(rec.get("tools"))
                answers = _xlam_answers(rec.get("answers"), tools)
            except _Bad as bad:
                self._skip_or_raise(where, bad, skipped)
                continue
            seen.add(ex_id)
            examples.append(
                {
                    "id": ex_id,
                    "source": "xlam",
                    "category": None,
                    "messages": [{"role": "user", "content": rec["query"]}],
                    "functions": tools,
                    "answers": answers,
                }
            )
        self._warn(str(path), skipped)
        return examples

    # -- prompt ------------------------------------------------------------------------------

    def messages(self, example: Example) -> Messages:
        messages = [dict(m) for m in example["messages"]]
        if self.options.tool_format == "chat_template":
            return messages
        system = SYSTEM_PROMPT.format(functions=json.dumps(example["functions"], ensure_ascii=False))
        if messages and messages[0]["role"] == "system":  # one system message: ours, then the data's
            messages[0]["content"] = system + "\n\n" + messages[0]["content"]
            return messages
        return [{"role": "system", "content": system}, *messages]

    def tools(self, example: Example) -> list[dict] | None:
        if self.options.tool_format != "chat_template":
            return None
        out = []
        for f in example["functions"]:
            if example["source"] == "bfcl":
                parameters = _bfcl_json_schema(f["parameters"])
            else:
                props, required = {}, []
                for name, spec in f.get("parameters", {}).items():
                    kind, optional = _xlam_type(str(spec.get("type", "str")))
                    props[name] = {"type": kind, "description": spec.get("description", "")}
                    if not optional and "default" not in spec:
                        required.append(name)
                parameters = {"type": "object", "properties": props, "required": required}
            fn = {"name": f["name"], "description": f.get("description", ""), "parameters": parameters}
            out.append({"type": "function", "function": fn})
        return out

    def category(self, example: Example) -> str | None:
        return example.get("category")

    # -- verifier ----------------------------------------------------------------------------

    def verify(self, example: Example, completion: str) -> Verdict:
        try:
            calls = parse_calls(completion)
            if not example["answers"]:  # irrelevance: the right answer is no call at all
                if calls == "no_call" or calls == []:
                    return Verdict.ok()
                return Verdict.fail("should_not_call" if isinstance(calls, list) else calls)
            if isinstance(calls, str):
                return Verdict.fail(calls)
            if example["source"] == "bfcl":
                return check_bfcl(example["functions"], calls, example["answers"])
            return check_exact(calls, example["answers"])
        except Exception as e:  # a verifier bug must cost one sample, not a training run
            return Verdict.fail(f"verifier_error:{e.__class__.__name__}")

    def answer_in(self, example: Example, text: str) -> str | None:
        """A call list in ``text`` (canonical), or None: prose with no call is no answer here, unlike in
        ``answer_key``, where it means "no call" (BFCL's irrelevance answer)."""
        calls = parse_calls(text)
        if isinstance(calls, str) or not calls:
            return None
        return json.dumps(sorted(call_key(c.name, c.arguments) for c in calls))

    def answer_key(self, example: Example, completion: str) -> str | None:
        calls = parse_calls(completion)
        if calls == "no_call":
            return "[]"
        if isinstance(calls, str):
            return None
        return json.dumps(sorted(call_key(c.name, c.arguments) for c in calls))

    def boost_examples(self, example: Example) -> list[tuple[Messages, str]]:
        """The ground truth as a completion: the first acceptable value of each argument, leaving out
        optional arguments that may only be omitted. Nothing when that does not pass the verifier (a
        few BFCL ground truths are unsatisfiable, e.g. an argument with no acceptable value)."""
        if example["source"] == "xlam":
            completion = format_calls([(a["name"], a["arguments"]) for a in example["answers"]])
        else:
            completion = format_calls([_pick_call(gt, example["functions"]) for gt in example["answers"]])
        if not self.verify(example, completion).success:
            return []
        return [(self.messages(example), completion)]

    def boost_reflections(self, example: Example, seed: int = 0) -> list[tuple[str, str]]:
        """A plausible wrong call (the ground truth with one mistake) and a reflection that names, in words,
        the rule the verifier says it broke, without giving away the right value."""
        rng = random.Random(stable_hash("reflect", seed, example["id"]))
        functions = example["functions"]
        if example["source"] == "xlam":
            calls = [(a["name"], dict(a["arguments"])) for a in example["answers"]]
        else:
            calls = [_pick_call(gt, functions) for gt in example["answers"]]
        if not calls:  # irrelevance: the mistake is calling anyway
            if not functions:
                return []
            attempt = format_calls([(functions[0]["name"], {})])
        else:
            attempt = format_calls(_one_mistake(calls, functions, rng))
        verdict = self.verify(example, attempt)
        kind, _, arg = verdict.reason.partition(":")
        if verdict.success or kind not in REFLECTIONS:
            return []
        wrong = parse_calls(attempt)
        fn = wrong[0].name if isinstance(wrong, list) and wrong else calls[0][0]
        if arg:
            fn = next((c.name for c in wrong if arg in c.arguments), fn) if isinstance(wrong, list) else fn
        n = len(wrong) if isinstance(wrong, list) else 0
        reflection = REFLECTIONS[kind].format(fn=fn, arg=arg, n=n, more="more" if n < len(calls) else "fewer")
        return [(attempt, reflection)]


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


def _one_mistake(calls: list[tuple[str, dict[str, Any]]], functions: list[dict[str, Any]], rng: random.Random):
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
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2 + 1
    if isinstance(value, str):
        return value[: len(value) // 2] if len(value) > 3 else value + " other"
    if isinstance(value, list):
        return value[:-1] if len(value) > 1 else []
    return None


def _pick_call(gt: dict[str, Any], functions: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    name, args = next(iter(gt.items()))
    function = next((f for f in functions if f["name"] == name), {})
    required = function.get("parameters", {}).get("required", [])
    picked = {k: p for k, v in args.items() if (p := _pick(v)) is not _OMIT}
    # A required argument whose only acceptable value is "" must be given, as "".
    picked.update({k: "" for k, v in args.items() if k not in picked and k in required and v == [""]})
    return name, {k: picked[k] for k in args if k in picked}


def _interleave(examples: list[Example], seed: int) -> list[Example]:
    """Each category shuffled (seeded), then dealt round-robin, so the first N examples of a split
    cover the categories evenly (``--limit`` gives per-category rows of similar size)."""
    by_category: dict[str, list[Example]] = {}
    for ex in examples:
        by_category.setdefault(str(ex.get("category")), []).append(ex)
    queues = []
    for category, items in by_category.items():
        items = sorted(items, key=lambda e: e["id"])
        random.Random(stable_hash("order", seed, category)).shuffle(items)
        queues.append(items)
    out: list[Example] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out
