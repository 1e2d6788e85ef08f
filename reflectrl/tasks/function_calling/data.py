"""Function-calling examples from BFCL's question and answer files or from xLAM/APIGen files.

Every record is checked before it becomes an example (docs/TASKS.md, "Malformed records"): a malformed one
is skipped and counted in one warning, or with ``strict`` is a one-line error naming ``file:line``. What
passes here cannot crash the verifier later.
"""

from __future__ import annotations

import importlib.util
import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import BadLine, data_records
from reflectrl.tasks.base import Example, Messages, stable_hash
from reflectrl.tasks.function_calling.bfcl_check import PY_TYPES

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
IRRELEVANCE = frozenset({"irrelevance", "live_irrelevance"})  # no answer file: the right answer is no call


class _Bad(Exception):
    """A malformed record: ``reason`` is counted, ``detail`` is shown in strict mode."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


class _Skips:
    """Malformed records of one source: counted per reason and reported once, or an error on the first (strict)."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.counts: dict[str, int] = {}

    def skip(self, where: str, bad: _Bad) -> None:
        if self.strict:
            detail = f" ({bad.detail})" if bad.detail else ""
            raise ReflectrlError(f"{where}: {bad.reason}{detail}")
        self.counts[bad.reason] = self.counts.get(bad.reason, 0) + 1

    def report(self, what: str) -> None:
        if self.counts:
            from reflectrl.console import warn

            warn(f"{what}: skipped {sum(self.counts.values())} malformed record(s): {self.counts}")


def _records(path: Path) -> Iterable[tuple[str, Any]]:
    """(``file:line``, record) pairs; a line that is not JSON is a malformed record like any other."""
    for where, record in data_records(path):
        yield where, _Bad("invalid JSON", record.error) if isinstance(record, BadLine) else record


# ---------------------------------------------------------------------------------------------
# BFCL: BFCL_v4_<category>.json ({id, question, function}) and possible_answer/ ({id, ground_truth}).


def read_bfcl(root: Path, categories: Iterable[str], strict: bool) -> list[Example]:
    """Every well-formed question of ``categories`` under ``root`` (bfcl-eval's data folder layout)."""
    examples: list[Example] = []
    skips = _Skips(strict)
    seen: set[str] = set()
    for category in categories:
        questions = root / f"BFCL_v4_{category}.json"
        if not questions.is_file():
            raise ReflectrlError(f"BFCL data file not found: {questions}")
        answers: dict[str, Any] = {}
        if category not in IRRELEVANCE:
            answer_file = root / "possible_answer" / questions.name
            if not answer_file.is_file():
                raise ReflectrlError(f"BFCL possible-answer file not found: {answer_file}")
            for _, rec in _records(answer_file):
                if isinstance(rec, dict) and isinstance(rec.get("id"), str):
                    answers[rec["id"]] = rec
        for where, rec in _records(questions):
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
                skips.skip(where, bad)
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
    skips.report(str(root))
    return examples


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


# ---------------------------------------------------------------------------------------------
# xLAM/APIGen: {id, query, tools, answers}, tools and answers as JSON strings.


def read_xlam(path: Path, strict: bool) -> list[Example]:
    """Every well-formed record of an xLAM/APIGen file (JSON Lines, a JSON list, or Parquet)."""
    if not path.is_file():
        raise ReflectrlError(f"xLAM data file not found: {path}")
    examples: list[Example] = []
    skips = _Skips(strict)
    seen: set[str] = set()
    for where, rec in _records(path):
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
            skips.skip(where, bad)
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
    skips.report(str(path))
    return examples


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


# ---------------------------------------------------------------------------------------------
# Splits and order.


def split_key(messages: Messages) -> str:
    """Identical questions (BFCL repeats some across categories) always land in the same split."""
    text = "\n".join(m["content"] for m in messages if m["role"] == "user")
    return " ".join(text.lower().split())


def interleave(examples: list[Example], seed: int) -> list[Example]:
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
