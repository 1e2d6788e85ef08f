"""Untrusted model text -> function calls, read only with ``json`` and under size and depth bounds.

The prompt asks for a JSON list of calls, ``[{"name": ..., "arguments": {...}}]``; the parser also takes
``<tool_call>...</tool_call>`` blocks (what chat templates with tools ask for), the first fenced code block,
single call objects and several objects in a row. Nothing is ever evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_COMPLETION_CHARS = 20_000  # longer completions are rejected before any parsing
MAX_DEPTH = 32  # JSON nesting depth of an answer; BFCL's deepest ground truth is 5
MAX_CALLS = 64


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
    """Bracket depth outside strings, counted before decoding, so a deep answer never reaches ``json``'s recursion."""
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
    """A completion in the format the prompt asks for (boost data, tests)."""
    return json.dumps([{"name": n, "arguments": a} for n, a in calls], ensure_ascii=False)
