"""Function calling: pick the right tool(s) and produce exactly the right arguments.

Two sources of data (``data.py``):

* ``bfcl`` (default): the Berkeley Function Calling Leaderboard's single-turn categories, read from the
  data files shipped in the ``bfcl-eval`` package (its code is never imported here). The verifier is
  our own implementation of BFCL's AST matching rules (``bfcl_check.py``), cross-checked against BFCL's
  ``ast_checker`` in tests/test_function_calling.py.
* ``xlam``: a local file in the xLAM/APIGen format (``{"id", "query", "tools", "answers"}`` with tools and
  answers as JSON strings), verified by exact match of the multiset of calls, as in the R3 paper
  (``xlam_check.py``).

The model sees the tools in a system prompt (``prompt.py``) and answers with a JSON list of calls,
``[{"name": ..., "arguments": {...}}]``, or ``[]`` when no tool fits (docs/TASKS.md). Model text is only
ever read with ``json`` under size and depth bounds (``parse.py``); it is never executed. ``boost.py``
builds the warm-up data from the ground truth. This module is the task itself: options, and the ``Task``
methods that tie the parts together.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from reflectrl.errors import ReflectrlError
from reflectrl.tasks import register_task
from reflectrl.tasks.base import Example, Messages, Split, Task, TaskOptions, Verdict, in_test_split, stable_hash
from reflectrl.tasks.function_calling.bfcl_check import PY_TYPES, check_bfcl, check_call, standardize
from reflectrl.tasks.function_calling.boost import (
    REFLECTIONS,
    mistaken_attempt,
    pick_call,
    reference_calls,
    reflection_for,
)
from reflectrl.tasks.function_calling.data import (
    CATEGORIES,
    IRRELEVANCE,
    bfcl_data_dir,
    interleave,
    read_bfcl,
    read_xlam,
    split_key,
)
from reflectrl.tasks.function_calling.parse import (
    MAX_CALLS,
    MAX_COMPLETION_CHARS,
    MAX_DEPTH,
    Call,
    format_calls,
    parse_calls,
)
from reflectrl.tasks.function_calling.prompt import SYSTEM_PROMPT, template_tools, with_system_prompt
from reflectrl.tasks.function_calling.xlam_check import call_key, canonical, check_exact

# The names this module had before it became a package, which tests import.
_pick_call, _split_key = pick_call, split_key

__all__ = [
    "CATEGORIES",
    "FEEDBACK",
    "IRRELEVANCE",
    "MAX_CALLS",
    "MAX_COMPLETION_CHARS",
    "MAX_DEPTH",
    "PY_TYPES",
    "REFLECTIONS",
    "SYSTEM_PROMPT",
    "Call",
    "FunctionCalling",
    "FunctionCallingOptions",
    "bfcl_data_dir",
    "call_key",
    "canonical",
    "check_bfcl",
    "check_call",
    "check_exact",
    "format_calls",
    "parse_calls",
    "standardize",
]


# The verifier's reasons in words, for the ``episode.feedback`` variant; they name what is wrong, not the fix.
_UNREADABLE = "the answer is not a JSON list of calls it can read"
FEEDBACK = {
    "missing_arg": 'the call to {fn} leaves out the argument "{arg}", which this question needs',
    "wrong_value": 'the call to {fn} gives "{arg}" a value that is not what the question asks for',
    "wrong_type": 'the call to {fn} gives "{arg}" a value of the wrong type',
    "unexpected_arg": 'the call to {fn} passes "{arg}", an argument this question does not need',
    "wrong_function": "a call names a function that does not do what the question asks",
    "wrong_count": "the answer makes {n} call(s), but the question needs {more}",
    "no_call": "the answer calls no function, but one of the offered functions fits the question",
    "should_not_call": "the answer calls {fn}, but none of the offered functions fits this question",
    "not_text": _UNREADABLE,
    "too_long": "the answer is too long to check",
    "too_deep": _UNREADABLE + " (nested too deeply)",
    "bad_json": _UNREADABLE + " (malformed JSON)",
    "not_a_call": _UNREADABLE + ' (an item is not {{"name": ..., "arguments": {{...}}}})',
    "too_many_calls": "the answer makes more calls than it can check",
    "verifier_error": "it could not check this answer",
}


class FunctionCallingOptions(TaskOptions):
    source: Literal["bfcl", "xlam"] = Field(
        "bfcl", description="'bfcl': BFCL data from the bfcl-eval package; 'xlam': a local xLAM/APIGen file."
    )
    categories: tuple[str, ...] | None = Field(
        None, description=f"BFCL categories to use (default: all of {', '.join(CATEGORIES)})."
    )
    data_path: str | None = Field(
        None,
        description="xlam: the JSON, JSONL or Parquet file (required). bfcl: a folder of BFCL_v4_*.json files "
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
        self._examples: list[Example] | None = None  # both splits, read once

    # -- data --------------------------------------------------------------------------------

    def load(self, split: Split) -> list[Example]:
        if split not in ("train", "test"):
            raise ReflectrlError(f"unknown split {split!r}; expected 'train' or 'test'")
        o = self.options
        if self._examples is None:
            if o.source == "bfcl":
                root = Path(o.data_path) if o.data_path else bfcl_data_dir()
                self._examples = read_bfcl(root, o.categories or CATEGORIES, o.strict)
            else:
                self._examples = read_xlam(Path(o.data_path), o.strict)  # type: ignore[arg-type]
        chosen = [
            ex
            for ex in self._examples
            if in_test_split(split_key(ex["messages"]), o.seed, o.test_fraction) == (split == "test")
        ]
        size = o.train_size if split == "train" else o.test_size
        return interleave(chosen, o.seed)[:size]

    # -- prompt ------------------------------------------------------------------------------

    def messages(self, example: Example) -> Messages:
        if self.options.tool_format == "chat_template":
            return [dict(m) for m in example["messages"]]
        return with_system_prompt(example)

    def tools(self, example: Example) -> list[dict] | None:
        return template_tools(example) if self.options.tool_format == "chat_template" else None

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

    def feedback(self, example: Example, completion: str) -> str:
        """The verifier's finding in words (``episode.feedback``): the rule broken, naming the function and
        argument, never the right value."""
        verdict = self.verify(example, completion)
        if verdict.success:
            return "The verifier accepted this answer."
        kind, _, arg = verdict.reason.partition(":")
        calls = parse_calls(completion)
        calls = calls if isinstance(calls, list) else []
        declares = {f["name"]: f.get("parameters", {}).get("properties", {}) for f in example["functions"]}
        fn = next((c.name for c in calls if arg in c.arguments or arg in declares.get(c.name, {})), None)
        fn = fn or (calls[0].name if calls else "the function")
        more = "more" if len(calls) < len(example["answers"]) else "fewer"
        why = FEEDBACK.get(kind, "the answer is wrong ({reason})")
        return "The verifier says: " + why.format(fn=fn, arg=arg, n=len(calls), more=more, reason=verdict.reason) + "."

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

    # -- boost (warm-up) data ----------------------------------------------------------------

    def boost_examples(self, example: Example) -> list[tuple[Messages, str]]:
        """The ground truth as a completion (``boost.reference_calls``). Nothing when that does not pass the
        verifier (a few BFCL ground truths are unsatisfiable, e.g. an argument with no acceptable value)."""
        completion = format_calls(reference_calls(example))
        if not self.verify(example, completion).success:
            return []
        return [(self.messages(example), completion)]

    def boost_reflections(self, example: Example, seed: int = 0) -> list[tuple[str, str]]:
        """A plausible wrong call (the ground truth with one mistake) and a reflection that names, in words,
        the rule the verifier says it broke, without giving away the right value."""
        rng = random.Random(stable_hash("reflect", seed, example["id"]))
        calls = reference_calls(example)
        attempt = mistaken_attempt(example, calls, rng)
        if attempt is None:
            return []
        reflection = reflection_for(self.verify(example, attempt), attempt, calls)
        return [] if reflection is None else [(attempt, reflection)]
