import collections
import json
import sys
import time
import types

import pytest

from reflectrl.errors import ReflectrlError
from reflectrl.tasks import get_task, list_tasks
from reflectrl.tasks.function_calling import (
    CATEGORIES,
    MAX_COMPLETION_CHARS,
    _pick_call,
    _split_key,
    format_calls,
    parse_calls,
)

# Lines in the shipped BFCL_v4_<category>.json files (SPEC §3).
SHIPPED = {
    "simple_python": 400,
    "multiple": 200,
    "parallel": 200,
    "parallel_multiple": 200,
    "live_simple": 258,
    "live_multiple": 1053,
    "live_parallel": 16,
    "live_parallel_multiple": 24,
    "irrelevance": 240,
    "live_irrelevance": 884,
}


@pytest.fixture(scope="module")
def bfcl():
    task = get_task("function_calling")
    return task, task.load("train"), task.load("test")


# ---------------------------------------------------------------------------------------------
# Data


def test_registered_and_options_validated(tmp_path):
    assert "function_calling" in list_tasks()
    with pytest.raises(ReflectrlError, match="categories"):
        get_task("function_calling", categories=["simple_java"])
    with pytest.raises(ReflectrlError, match="data_path"):
        get_task("function_calling", source="xlam")
    with pytest.raises(ReflectrlError, match="not found"):
        get_task("function_calling", source="xlam", data_path=str(tmp_path / "none.jsonl")).load("train")


def test_bfcl_splits_are_disjoint_complete_and_deterministic(bfcl, capsys):
    task, train, test = bfcl
    assert "skipped" not in capsys.readouterr().err  # the shipped data has no malformed record
    ids_train, ids_test = {e["id"] for e in train}, {e["id"] for e in test}
    assert not ids_train & ids_test
    assert len(ids_train) == len(train) and len(ids_test) == len(test)
    assert len(train) + len(test) == sum(SHIPPED.values())
    # Identical questions (BFCL repeats some across categories) never straddle the split.
    assert not {_split_key(e["messages"]) for e in train} & {_split_key(e["messages"]) for e in test}
    for split in (train, test):
        counts = collections.Counter(e["category"] for e in split)
        assert set(counts) == set(CATEGORIES)
    assert 0.25 < len(test) / (len(train) + len(test)) < 0.35
    # Deterministic, seed-dependent, and interleaved so that --limit covers every category.
    again = get_task("function_calling")
    assert [e["id"] for e in again.load("test")] == [e["id"] for e in test]
    assert {e["category"] for e in test[: len(CATEGORIES)]} == set(CATEGORIES)
    other = get_task("function_calling", seed=1).load("test")
    assert {e["id"] for e in other} != ids_test
    assert all(task.category(e) == e["category"] for e in test[:20])


def test_bfcl_categories_and_sizes_select():
    task = get_task("function_calling", categories=["parallel", "irrelevance"], test_size=7)
    test = task.load("test")
    assert len(test) == 7 and {e["category"] for e in test} == {"parallel", "irrelevance"}
    assert all(e["answers"] == [] for e in test if e["category"] == "irrelevance")
    assert all(len(e["answers"]) >= 2 for e in test if e["category"] == "parallel")


def _write_bfcl(root, questions, answers):
    (root / "possible_answer").mkdir(parents=True)
    (root / "BFCL_v4_simple_python.json").write_text("\n".join(questions) + "\n")
    (root / "possible_answer" / "BFCL_v4_simple_python.json").write_text("\n".join(answers) + "\n")


def test_bfcl_malformed_records_are_counted_or_rejected(tmp_path, capsys):
    fn = {
        "name": "f",
        "parameters": {"type": "dict", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
    }
    good = {"id": "simple_python_0", "question": [[{"role": "user", "content": "x is 1"}]], "function": [fn]}
    questions = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "id": "simple_python_1", "function": []}),
        json.dumps({**good, "id": "simple_python_2", "question": "hi"}),
        json.dumps({**good, "id": "simple_python_3"}),  # no possible answer
        json.dumps({**good, "id": "simple_python_0"}),  # duplicate
        json.dumps({**good, "id": "simple_python_4", "function": [{**fn, "parameters": {"properties": {"x": {}}}}]}),
        json.dumps({**good, "id": "simple_python_5"}),  # answer names an unknown function
    ]
    answers = [
        json.dumps({"id": "simple_python_0", "ground_truth": [{"f": {"x": [1]}}]}),
        json.dumps({"id": "simple_python_5", "ground_truth": [{"g": {"x": [1]}}]}),
    ]
    _write_bfcl(tmp_path, questions, answers)
    opts = {"data_path": str(tmp_path), "categories": ["simple_python"], "test_fraction": 0.01}
    task = get_task("function_calling", **opts)
    assert [e["id"] for e in task.load("train") + task.load("test")] == ["simple_python_0"]
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped 7 malformed record(s)" in err and "'invalid JSON': 1" in err and "'duplicate id': 1" in err
    with pytest.raises(ReflectrlError, match=r"BFCL_v4_simple_python.json:2: invalid JSON"):
        get_task("function_calling", strict=True, **opts).load("train")
    with pytest.raises(ReflectrlError, match="BFCL data file not found"):
        get_task("function_calling", data_path=str(tmp_path), categories=["parallel"]).load("train")


def _xlam_record(i, query, tools, answers, raw=False):
    rec = {"id": i, "query": query, "tools": tools, "answers": answers}
    if not raw:
        rec["tools"], rec["answers"] = json.dumps(tools), json.dumps(answers)
    return json.dumps(rec)


WEATHER = {
    "name": "get_weather",
    "description": "Current weather of a city.",
    "parameters": {
        "city": {"description": "City name.", "type": "str"},
        "days": {"description": "Days ahead.", "type": "int, optional", "default": 0},
        "hours": {"description": "Hours of the day.", "type": "List[int]"},
    },
}
TIME = {
    "name": "get_time",
    "description": "Time in a zone.",
    "parameters": {"zone": {"description": "", "type": "str"}},
}


@pytest.fixture
def xlam_file(tmp_path):
    lines = [
        _xlam_record(1, "Weather in Paris at 9 and 17?", [WEATHER], [
            {"name": "get_weather", "arguments": {"city": "Paris", "hours": [9, 17]}}
        ]),
        _xlam_record(2, "Weather in Rome in 2 days and the time in CET?", [WEATHER, TIME], [
            {"name": "get_weather", "arguments": {"city": "Rome", "days": 2, "hours": []}},
            {"name": "get_time", "arguments": {"zone": "CET"}},
        ]),
        _xlam_record(3, "Tell me a joke.", [TIME], []),
        "{broken json",
        _xlam_record(4, "q", "not json", "[]", raw=True),
        _xlam_record(5, "q", [TIME], [{"name": "get_date", "arguments": {}}]),
        _xlam_record(6, "", [TIME], []),
        _xlam_record(1, "duplicate id", [TIME], []),
        _xlam_record(7, "q", [TIME], [{"name": "get_time", "arguments": {"tz": "CET"}}]),
    ]  # fmt: skip
    path = tmp_path / "xlam.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_xlam_loader_skips_malformed_with_counts(xlam_file, capsys):
    task = get_task("function_calling", source="xlam", data_path=str(xlam_file), test_fraction=0.01)
    examples = task.load("train") + task.load("test")
    assert sorted(e["id"] for e in examples) == ["xlam-1", "xlam-2", "xlam-3"]
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped 6 malformed record(s)" in err
    for reason in (
        "invalid JSON",
        "'tools' is not valid JSON",
        "answer calls a tool that is not offered",
        "'query' must be a non-empty string",
        "duplicate id",
        "answer uses an argument",
    ):
        assert reason in err, reason
    with pytest.raises(ReflectrlError, match=r"xlam.jsonl:4: invalid JSON"):
        get_task("function_calling", source="xlam", data_path=str(xlam_file), strict=True).load("train")


def test_xlam_json_list_file_and_exact_match(tmp_path):
    path = tmp_path / "xlam.json"
    records = [json.loads(_xlam_record(i, f"q{i}", [WEATHER, TIME], [
        {"name": "get_weather", "arguments": {"city": "Paris", "hours": [9, 17]}},
        {"name": "get_time", "arguments": {"zone": "CET"}},
    ])) for i in range(3)]  # fmt: skip
    path.write_text(json.dumps(records))
    task = get_task("function_calling", source="xlam", data_path=str(path), test_fraction=0.01)
    ex = (task.load("train") + task.load("test"))[0]
    assert task.category(ex) is None
    weather = {"name": "get_weather", "arguments": {"city": "Paris", "hours": [9, 17]}}
    cet = {"name": "get_time", "arguments": {"zone": "CET"}}
    cases = [
        ([weather, cet], "ok"),
        ([cet, weather], "ok"),  # a multiset: order of calls is free
        ([{**weather, "arguments": {"hours": [9.0, 17], "city": "Paris"}}, cet], "ok"),  # 9.0 == 9
        ([weather], "wrong_count"),
        ([], "no_call"),
        ([{**weather, "arguments": {"city": "paris", "hours": [9, 17]}}, cet], "wrong_value:city"),  # exact
        ([{**weather, "arguments": {"city": "Paris", "hours": [17, 9]}}, cet], "wrong_value:hours"),
        ([{**weather, "arguments": {"city": "Paris"}}, cet], "missing_arg:hours"),
        ([{**weather, "arguments": {**weather["arguments"], "days": 0}}, cet], "unexpected_arg:days"),
        ([weather, {"name": "get_date", "arguments": {"zone": "CET"}}], "wrong_function"),
        ([weather, {**cet, "arguments": {"zone": True}}], "wrong_value:zone"),
    ]
    for calls, reason in cases:
        assert task.verify(ex, json.dumps(calls)).reason == reason, calls
    ((messages, completion),) = task.boost_examples(ex)
    assert task.verify(ex, completion).success and messages == task.messages(ex)


def test_xlam_irrelevance_and_boost(xlam_file):
    task = get_task("function_calling", source="xlam", data_path=str(xlam_file), test_fraction=0.01)
    examples = {e["id"]: e for e in task.load("train") + task.load("test")}
    joke = examples["xlam-3"]
    assert task.verify(joke, "[]").success and task.verify(joke, "I can't do that.").success
    assert task.verify(joke, '[{"name": "get_time", "arguments": {"zone": "UTC"}}]').reason == "should_not_call"
    assert task.verify(joke, '[{"name": "get_time", "arguments": ').reason == "bad_json"
    for ex in examples.values():
        for _, completion in task.boost_examples(ex):
            assert task.verify(ex, completion).success


# ---------------------------------------------------------------------------------------------
# Prompt and parsing


def test_prompt_lists_tools_in_a_system_message(bfcl):
    task, _, test = bfcl
    ex = next(e for e in test if e["category"] == "simple_python")
    messages = task.messages(ex)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert json.dumps(ex["functions"]) in messages[0]["content"] and '"arguments"' in messages[0]["content"]
    assert task.question(ex) == ex["messages"][-1]["content"]
    assert task.tools(ex) is None
    # A question with its own system message keeps one system message: ours, then the data's.
    with_system = {**ex, "messages": [{"role": "system", "content": "Be brief."}, *ex["messages"]]}
    merged = task.messages(with_system)
    assert [m["role"] for m in merged] == ["system", "user"] and merged[0]["content"].endswith("Be brief.")


def test_chat_template_tool_format(bfcl, xlam_file, tiny_model_dir):
    from transformers import AutoTokenizer

    from reflectrl.rollout.chat import render_chat

    _, _, test = bfcl
    task = get_task("function_calling", tool_format="chat_template")
    ex = next(e for e in test if e["category"] == "simple_python")
    assert task.messages(ex) == ex["messages"]
    tools = task.tools(ex)
    assert tools[0]["type"] == "function" and tools[0]["function"]["name"] == ex["functions"][0]["name"]
    assert tools[0]["function"]["parameters"]["type"] == "object"  # BFCL's "dict" as JSON Schema
    xlam = get_task("function_calling", source="xlam", data_path=str(xlam_file), tool_format="chat_template")
    x = next(e for e in xlam.load("train") + xlam.load("test") if e["id"] == "xlam-1")
    params = xlam.tools(x)[0]["function"]["parameters"]
    assert params["properties"]["hours"]["type"] == "array" and params["properties"]["days"]["type"] == "integer"
    assert params["required"] == ["city", "hours"]
    # A template that renders `tools` receives them.
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = "{% for t in tools %}TOOL {{ t.function.name }};{% endfor %}{{ messages[-1].content }}"
    assert f"TOOL {ex['functions'][0]['name']};" in render_chat(tokenizer, task.messages(ex), tools)


CALL = '{"name": "f", "arguments": {"x": 1}}'


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"[{CALL}]", 1),
        (CALL, 1),
        (f"  Sure! Here you go: [{CALL}, {CALL}] hope it helps", 2),
        (f"<tool_call>\n{CALL}\n</tool_call>", 1),
        (f"<tool_call>{CALL}</tool_call>\n<tool_call>{CALL}</tool_call>", 2),
        (f"<tool_call>{CALL}", 1),  # cut off before the closing tag
        (f"```json\n[{CALL}]\n```", 1),
        (f"Call:\n```\n{CALL}\n```\nDone.", 1),
        (f"{CALL}\n{CALL}", 2),  # one object per line
        ('[{"name": "f", "arguments": "{\\"x\\": 1}"}]', 1),  # arguments as a JSON string
        ('[{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]', 1),
        ('[{"name": "f"}]', 1),
        ("[]", 0),
        ("I cannot help with that.", "no_call"),
        ("", "no_call"),
        ('[{"name": "f", "arguments": {"x": 1}', "bad_json"),
        ("{oops}", "bad_json"),
        ("[1, 2]", "not_a_call"),
        ('[{"name": 5, "arguments": {}}]', "not_a_call"),
        ('[{"name": "f", "arguments": [1]}]', "not_a_call"),
        ('{"name": "f", "arguments": "not json"}', "not_a_call"),
        ("[" * 40 + "]" * 40, "too_deep"),
        ('[{"name": "f", "arguments": {"x": "' + "[" * 100 + '"}}]', 1),  # brackets inside strings are text
        ('[{"name": "f", "arguments": {"x": ' + "9" * 5000 + "}}]", "bad_json"),  # over Python's int limit
        ("x" * (MAX_COMPLETION_CHARS + 1), "too_long"),
        ("[" + ",".join([CALL] * 65) + "]", "too_many_calls"),
        (None, "not_text"),
    ],
)
def test_parse_calls(text, expected):
    result = parse_calls(text)
    if isinstance(expected, int):
        assert isinstance(result, list) and len(result) == expected, result
        assert all(c.name == "f" and set(c.arguments) <= {"x"} for c in result)
    else:
        assert result == expected


def test_verifier_is_fast_and_never_raises_on_adversarial_input(bfcl):
    task, _, test = bfcl
    examples = [next(e for e in test if e["category"] == c) for c in ("parallel_multiple", "irrelevance")]
    n = MAX_COMPLETION_CHARS
    nasty = [
        "[" * n,
        "{" * (n // 2) + "}" * (n // 2),
        '{"a":' * (n // 5),
        "<tool_call>" * (n // 11),
        "```" * (n // 3),
        '"' + "\\" * (n - 2) + '"',
        "[" + "1e999," * (n // 7) + "1]",
        '[{"name": "f", "arguments": {"x": ' + "9" * (n - 40) + "}}]",
        "[" + ",".join(['{"name": "calc", "arguments": {"a": [1, 2, 3]}}'] * 64) + "]",
        "[" + ",".join(['{"name": "calc", "arguments": {"a": "' + "x" * 200 + '"}}'] * 60) + "]",
        '[{"name": "f", "arguments": {"x": NaN, "y": Infinity}}]',
        "\x00\ud800" * (n // 2),
    ]
    for ex in examples:
        for text in nasty:
            start = time.perf_counter()
            verdict = task.verify(ex, text)
            task.answer_key(ex, text)
            assert time.perf_counter() - start < 0.05, text[:40]
            assert isinstance(verdict.success, bool) and not verdict.reason.startswith("verifier_error")


def test_no_module_of_the_task_calls_eval_exec_or_compile():
    # test_verifier_hardening scans reflectrl/tasks/*.py only; the task's modules are one folder deeper.
    import ast
    from pathlib import Path

    import reflectrl.tasks.function_calling as package

    banned = {"eval", "exec", "compile", "__import__", "system", "popen"}
    paths = sorted(Path(package.__file__).parent.glob("*.py"))
    assert len(paths) >= 7
    for path in paths:
        assert len(path.read_text().splitlines()) < 500, f"{path.name}: one job per file"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in banned, (path.name, node.lineno)


# ---------------------------------------------------------------------------------------------
# Verifier rules, on a hand-written BFCL-style example

FUNCTIONS = [
    {
        "name": "book.flight",
        "parameters": {
            "type": "dict",
            "properties": {
                "city": {"type": "string"},
                "seats": {"type": "integer"},
                "budget": {"type": "float"},
                "stops": {"type": "array", "items": {"type": "string"}},
                "window": {"type": "boolean"},
            },
            "required": ["city", "seats"],
        },
    },
    {
        "name": "book.hotel",
        "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
]
FLIGHT_ANSWER = {
    "city": ["New York, NY", "NYC"],
    "seats": [2],
    "budget": [300.0, ""],
    "stops": [["Boston", "DC"]],
    "window": ["", False],
}
GROUND_TRUTH = [{"book.flight": FLIGHT_ANSWER}, {"book.hotel": {"city": ["New York, NY"]}}]
EXAMPLE = {
    "id": "t",
    "source": "bfcl",
    "category": "parallel_multiple",
    "messages": [],
    "functions": FUNCTIONS,
    "answers": GROUND_TRUTH,
}


def _calls(flight=None, hotel=None, order=(0, 1)):
    calls = [
        ("book.flight", flight or {"city": "NYC", "seats": 2, "stops": ["Boston", "DC"]}),
        ("book.hotel", hotel or {"city": "New York, NY"}),
    ]
    return format_calls([calls[i] for i in order])


@pytest.mark.parametrize(
    "completion, reason",
    [
        (_calls(), "ok"),
        (_calls(order=(1, 0)), "ok"),  # parallel calls match in any order
        (_calls(hotel={"city": "new york ny"}), "ok"),  # case, spaces and punctuation are ignored
        (_calls(hotel={"city": "New_York-NY."}), "ok"),
        (
            _calls({"city": "NYC", "seats": 2, "stops": ["boston", "d.c."], "budget": 300}),
            "ok",
        ),  # int for float
        (_calls({"city": "NYC", "seats": 2, "stops": ["Boston", "DC"], "window": False}), "ok"),
        (_calls({"city": "NYC", "seats": 2.0, "stops": ["Boston", "DC"]}), "wrong_type:seats"),
        (_calls({"city": "NYC", "seats": "2", "stops": ["Boston", "DC"]}), "wrong_type:seats"),
        (_calls({"city": "NYC", "seats": True, "stops": ["Boston", "DC"]}), "wrong_type:seats"),
        (_calls({"city": "NYC", "seats": 3, "stops": ["Boston", "DC"]}), "wrong_value:seats"),
        (_calls({"city": "NYC", "seats": 2, "stops": ["DC", "Boston"]}), "wrong_value:stops"),  # list order
        (_calls({"city": "NYC", "seats": 2, "stops": ["Boston", 1]}), "wrong_type:stops"),
        (_calls({"city": "Boston", "seats": 2, "stops": ["Boston", "DC"]}), "wrong_value:city"),
        (_calls({"seats": 2, "stops": ["Boston", "DC"]}), "missing_arg:city"),
        (_calls({"city": "NYC", "seats": 2}), "missing_arg:stops"),  # not required, but no "" in its list
        (
            _calls({"city": "NYC", "seats": 2, "stops": ["Boston", "DC"], "class": "eco"}),
            "unexpected_arg:class",
        ),
        (
            format_calls([("book.flight", {"city": "NYC", "seats": 2, "stops": ["Boston", "DC"]})]),
            "wrong_count",
        ),
        (
            format_calls([("book.train", {"city": "NYC"}), ("book.hotel", {"city": "New York, NY"})]),
            "wrong_function",
        ),
        ("[]", "no_call"),
        ("Sorry, I can't.", "no_call"),
    ],
)
def test_bfcl_rules(completion, reason):
    task = get_task("function_calling")
    assert task.verify(EXAMPLE, completion).reason == reason


def test_irrelevance_passes_only_without_a_call(bfcl):
    task, _, test = bfcl
    ex = next(e for e in test if e["category"] == "irrelevance")
    name = ex["functions"][0]["name"]
    assert task.verify(ex, "[]").success
    assert task.verify(ex, "None of these functions can answer that.").success
    assert task.verify(ex, format_calls([(name, {})])).reason == "should_not_call"
    assert task.verify(ex, '[{"name": "x", "arg').reason == "bad_json"


def test_answer_key_is_canonical():
    task = get_task("function_calling")
    a = task.answer_key(EXAMPLE, _calls())
    assert a == task.answer_key(EXAMPLE, _calls(order=(1, 0)))
    assert a == task.answer_key(EXAMPLE, _calls({"stops": ["Boston", "DC"], "seats": 2.0, "city": "NYC"}))
    assert a != task.answer_key(EXAMPLE, _calls({"stops": ["Boston", "DC"], "seats": 3, "city": "NYC"}))
    assert task.answer_key(EXAMPLE, "[]") == task.answer_key(EXAMPLE, "no call needed") == "[]"
    assert task.answer_key(EXAMPLE, "[{") is None


# ---------------------------------------------------------------------------------------------
# Boost data


def test_boost_completions_verify_on_every_train_example(bfcl):
    task, train, _ = bfcl
    missing = []
    for ex in train:
        pairs = task.boost_examples(ex)
        if not pairs:
            missing.append(ex["id"])
            continue
        ((messages, completion),) = pairs
        assert messages == task.messages(ex)
        assert task.verify(ex, completion).success, (ex["id"], completion)
        assert isinstance(parse_calls(completion), list)
        if not ex["answers"]:
            assert completion == "[]"
    # Only BFCL's few unsatisfiable ground truths (see docs/TASKS.md) have no boost data.
    assert len(missing) <= 6, missing


def test_boost_reflections_pair_a_failing_attempt_with_its_diagnosis(bfcl):
    task, train, _ = bfcl
    reasons = collections.Counter()
    for ex in train:
        pairs = task.boost_reflections(ex, seed=0)
        for attempt, reflection in pairs:
            verdict = task.verify(ex, attempt)
            assert not verdict.success and isinstance(parse_calls(attempt), list)
            kind, _, arg = verdict.reason.partition(":")
            assert arg in reflection  # the reflection names the argument the verifier flagged
            reasons[kind] += 1
        assert pairs == task.boost_reflections(ex, seed=0)
    assert sum(reasons.values()) > 0.9 * len(train)
    assert {"missing_arg", "wrong_value", "wrong_function", "no_call", "should_not_call"} <= set(reasons)


# ---------------------------------------------------------------------------------------------
# Cross-check against BFCL's own ast_checker


def _bfcl_ast_checker(monkeypatch):
    """bfcl_eval's ast_checker, importable once its model registry (which pulls every API SDK) is
    replaced by a stub: function names are compared as given (no "." to "_" rewriting)."""
    stub = types.ModuleType("bfcl_eval.constants.model_config")
    stub.MODEL_CONFIG_MAPPING = collections.defaultdict(lambda: types.SimpleNamespace(underscore_to_dot=False))
    monkeypatch.setitem(sys.modules, "bfcl_eval.constants.model_config", stub)
    monkeypatch.delitem(sys.modules, "bfcl_eval.eval_checker.ast_eval.ast_checker", raising=False)
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    return lambda ex, calls: ast_checker(
        ex["functions"],
        [{c.name: c.arguments} for c in calls],
        ex["answers"],
        Language.PYTHON,
        ex["category"],
        "stub",
    )["valid"]


def _changed(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int | float):
        return v + 1
    if isinstance(v, str):
        return v + "zz"
    if isinstance(v, list):
        return v[:-1] if v else ["zz"]
    if isinstance(v, dict):
        return {**v, "zz": 1}
    return "zz"


def _retyped(v):
    if isinstance(v, bool | int | float):
        return str(v)
    if isinstance(v, str):
        return 7
    return json.dumps(v)


def _perturbations(ex):
    """The ground truth as a completion, then systematic edits of it (kind, calls)."""
    calls = [_pick_call(gt, ex["functions"]) for gt in ex["answers"]]
    yield "truth", calls
    schemas = {f["name"]: f["parameters"]["properties"] for f in ex["functions"]}

    def edit(i, args):
        return [c if j != i else (c[0], args) for j, c in enumerate(calls)]

    for i, (name, args) in enumerate(calls[:2]):
        for k, v in list(args.items())[:2]:
            yield "drop_arg", edit(i, {a: x for a, x in args.items() if a != k})
            yield "change_value", edit(i, {**args, k: _changed(v)})
            yield "wrong_type", edit(i, {**args, k: _retyped(v)})
            if isinstance(v, str) and v:
                yield "case_and_punctuation", edit(i, {**args, k: v.upper().replace(" ", "-")})
            if isinstance(v, float) and v.is_integer():
                yield "int_for_float", edit(i, {**args, k: int(v)})
            if type(v) is int:
                yield "float_for_int", edit(i, {**args, k: float(v)})
            if isinstance(v, list) and len(set(map(json.dumps, v))) > 1:
                yield "reorder_list", edit(i, {**args, k: v[::-1]})
        extra = [p for p in schemas[name] if p not in args]
        if extra:
            yield "add_schema_arg", edit(i, {**args, extra[0]: "x"})
        yield "add_unknown_arg", edit(i, {**args, "zz_extra": 1})
        other = [f for f in schemas if f != name]
        if other:
            yield "other_function", [c if j != i else (other[0], args) for j, c in enumerate(calls)]
    if len(calls) > 1:
        yield "swap_calls", calls[::-1]
        yield "drop_call", calls[1:]
    yield "duplicate_call", calls + calls[:1]


# Deliberate: BFCL pairs parallel calls greedily (each ground-truth call takes the first output that
# fits), so it can reject an answer that a one-to-one matching accepts. Ours matches one to one.
KNOWN_DISAGREEMENTS = {("parallel_178", "swap_calls")}


def test_verifier_agrees_with_bfcl_ast_checker(bfcl, monkeypatch, capsys):
    bfcl_valid = _bfcl_ast_checker(monkeypatch)
    task, train, test = bfcl
    agree: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    disagreements = []
    start = time.perf_counter()
    for ex in train + test:
        if not ex["answers"]:
            continue  # irrelevance is not an AST check in BFCL
        for kind, calls in _perturbations(ex):
            completion = format_calls(calls)
            ours = task.verify(ex, completion)
            theirs = bfcl_valid(ex, parse_calls(completion))
            total[kind] += 1
            agree[kind] += ours.success == theirs
            if ours.success != theirs:
                disagreements.append((ex["id"], kind, ours.reason, theirs))
    seconds = time.perf_counter() - start
    rate = sum(agree.values()) / sum(total.values())
    with capsys.disabled():
        rows = ", ".join(f"{k} {agree[k]}/{total[k]}" for k in total)
        n_agree, n = sum(agree.values()), sum(total.values())
        print(f"\nBFCL ast_checker agreement: {n_agree}/{n} = {rate:.5f} ({rows})")
        print(f"{len(disagreements)} disagreement(s): {disagreements}; {seconds:.1f}s")
    assert total["truth"] >= 2300 and sum(total.values()) > 30_000
    assert agree["truth"] == total["truth"]
    assert {(i, k) for i, k, _, _ in disagreements} <= KNOWN_DISAGREEMENTS
    assert len(disagreements) <= len(KNOWN_DISAGREEMENTS) and rate >= 0.99996


# ---------------------------------------------------------------------------------------------
# Config and evaluation


def test_default_config_is_valid():
    from pathlib import Path

    from reflectrl.config_file import load_config

    cfg = load_config(Path(__file__).parent.parent / "configs" / "function-calling-default.yaml")
    task = get_task(cfg.task.name, **cfg.task.options)
    assert task.name == "function_calling" and cfg.episode.max_attempt_tokens >= 128


def test_eval_reports_bfcl_categories(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from reflectrl.cli import app

    out = tmp_path / "ev"
    # Short categories only: the tiny tokenizer spends a token on almost every character.
    args = ["eval", "--model", str(tiny_model_dir), "--task", "function_calling", "--limit", "6",
            "--task-opt", "categories=[simple_python, parallel, irrelevance]", "--out", str(out),
            "--set", "episode.max_attempt_tokens=4", "--set", "episode.max_reflection_tokens=4",
            "--set", "episode.max_retry_tokens=4"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["by_category"]) == {"simple_python", "parallel", "irrelevance"}
    assert all(m["first_try"]["n"] == 2 for m in summary["by_category"].values())
    assert "[parallel] first" in result.output
