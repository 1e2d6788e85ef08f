"""Reflection measures on hand-written reflections (reflections.py), and their place in eval and report."""

import json

import pytest
from conftest import ScriptedEngine

from reflectrl.config_file import load_config
from reflectrl.evaluate import evaluate
from reflectrl.reflections import describe, step_means, summarize
from reflectrl.report import write_report
from reflectrl.rollout.episode import REFLECTION_PROMPT
from reflectrl.tasks import get_task
from reflectrl.tasks.countdown import solve
from reflectrl.tasks.countdown_equation import equations_in

CD = get_task("countdown", train_size=4, test_size=4)
PROBLEM = {"id": "p", "nums": [3, 5, 7], "target": 22}  # 3 * 5 + 7
ATTEMPT = "<answer> 3 + 5 + 7 </answer>"


def test_leak_that_verifies_and_a_retry_that_copies_it():
    m = describe(CD, PROBLEM, ATTEMPT, "Multiply first: <answer> 3 * 5 + 7 </answer>", "<answer> 3*5+7 </answer>", 9)
    assert (m["leak"], m["leak_verifies"], m["retry_copies_leak"], m["answer_like"]) == (True, True, True, False)
    assert m["retry_differs"] and m["tokens"] == 9


def test_leak_that_does_not_verify_is_answer_like():
    m = describe(CD, PROBLEM, ATTEMPT, "<answer> 3 * 7 + 5 </answer>", "<answer> 7 * 3 + 5 </answer>", 8)
    assert (m["leak"], m["leak_verifies"], m["retry_copies_leak"], m["answer_like"]) == (True, False, False, True)


def test_a_verbatim_copy_of_the_failed_attempt():
    m = describe(CD, PROBLEM, ATTEMPT, ATTEMPT, ATTEMPT, 8)
    assert m["copy_overlap"] == 1.0 and m["answer_like"]
    assert not m["leak"] and not m["leak_verifies"]  # the failed answer again smuggles no new one
    assert m["retry_differs"] is False  # the retry is the failed attempt again


def test_prose_is_no_leak_and_not_answer_like():
    m = describe(CD, PROBLEM, ATTEMPT, "I added all three; the target needs a product of two of them.", ATTEMPT, 14)
    assert (m["leak"], m["answer_like"], m["copy_overlap"]) == (False, False, 0.0)
    assert m["distinct_2"] == 1.0
    assert describe(CD, PROBLEM, ATTEMPT, "try again try again try again", ATTEMPT, 6)["distinct_2"] == 0.4
    assert describe(CD, PROBLEM, ATTEMPT, "(3 + 5) * 7 = 56", ATTEMPT, 6)["answer_like"]  # a bare equation


def test_function_calling_leak_is_a_call_list_not_prose():
    fc = get_task("function_calling")
    example = {
        "id": "x",
        "source": "xlam",
        "category": None,
        "messages": [{"role": "user", "content": "weather in Paris"}],
        "functions": [],
        "answers": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
    }
    call = json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}])
    prose = describe(fc, example, "[]", "I forgot to call the weather tool for the city.", call, 12)
    assert not prose["leak"] and not prose["answer_like"]  # answer_key would call this "no call": not a leak
    leak = describe(fc, example, "[]", call, call, 20)
    assert (leak["leak"], leak["leak_verifies"], leak["retry_copies_leak"], leak["answer_like"]) == (True,) * 4


def test_summary_conditions_retry_success_on_each_measure():
    leak = describe(CD, PROBLEM, ATTEMPT, "<answer> 3 * 5 + 7 </answer>", "<answer> 3 * 5 + 7 </answer>", 10)
    prose = describe(CD, PROBLEM, ATTEMPT, "Use a product this time, not a sum.", ATTEMPT, 40)
    s = summarize([(leak, True), (leak, True), (prose, False), (prose, True)])
    assert s["n"] == 4 and s["leak"]["k"] == 2 and s["mean_tokens"] == 25
    by = s["retry_success_by"]
    assert (by["leak"]["yes"]["k"], by["leak"]["yes"]["n"]) == (2, 2)
    assert (by["leak"]["no"]["k"], by["leak"]["no"]["n"]) == (1, 2)
    assert list(by["tokens"]) == ["< 16", "[32, 64)"]  # bins with no reflection are left out (no NaN rates)
    assert (by["tokens"]["< 16"]["n"], by["tokens"]["[32, 64)"]["n"]) == (2, 2)
    assert summarize([]) is None


def test_an_empty_reflection_has_no_overlap_or_repetition_to_average():
    empty = describe(CD, PROBLEM, ATTEMPT, "", ATTEMPT, 1)
    assert (empty["copy_overlap"], empty["distinct_2"], empty["leak"]) == (None, None, False)
    prose = describe(CD, PROBLEM, ATTEMPT, "Use a product this time, not a sum.", ATTEMPT, 10)
    s = summarize([(empty, False), (prose, True)])
    assert s["mean_distinct_2"] == 1.0 and s["mean_copy_overlap"] == prose["copy_overlap"]
    assert {b: (r["k"], r["n"]) for b, r in s["retry_success_by"]["distinct_2"].items()} == {">= 0.95": (1, 1)}


def test_evaluation_and_report_carry_the_measures(tiny_lm, tmp_path):
    _, tok = tiny_lm
    task = get_task("countdown", train_size=4, test_size=4)
    problems = task.load("test")

    def script(last_user, text, k):  # wrong first tries; reflections leak the right answer; retries copy it
        ex = next(p for p in problems if str(p["nums"]) in text)
        right = f"<answer> {solve(ex['nums'], ex['target'])} </answer>"
        return right if REFLECTION_PROMPT in text else "<answer> 1 </answer>"

    cfg = load_config(None, ["eval.limit=4", "eval.chunk_size=2"])
    engine = ScriptedEngine(tok, script)
    summary = evaluate(engine, task, cfg.eval, cfg.episode, tmp_path / "eval-start", {"model": "scripted"})
    measured = summary["reflections"]
    assert measured["n"] == 4 and measured["leak"]["k"] == 4 and measured["leak_verifies"]["k"] == 4
    assert measured["retry_copies_leak"]["k"] == 4
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## What the reflections look like" in md and "| leak verifies | 100.0%" in md
    assert "| leak: yes | 100.0% [51.0, 100.0] (4/4) |" in md


def test_a_whole_equation_in_prose_is_a_leak():
    """§8k's hollow gain: "I will start from <every number once>" is a guess the retry copies, tags or not."""
    right = describe(CD, PROBLEM, ATTEMPT, "Multiply first. I will start from 3 * 5 + 7.", "<answer>3*5+7</answer>", 9)
    assert (right["leak"], right["leak_verifies"], right["retry_copies_leak"]) == (True, True, True)
    wrong = describe(CD, PROBLEM, ATTEMPT, "I will start from (3 + 5) * 7 = 56.", ATTEMPT, 9)
    assert (wrong["leak"], wrong["leak_verifies"], wrong["retry_copies_leak"]) == (True, False, False)


def test_restating_the_failed_equation_or_a_first_step_is_no_leak():
    restated = "My equation 3 + 5 + 7 = 15 is too small (numbers [3, 5, 7]). I will start from 3 * 5."
    m = describe(CD, PROBLEM, ATTEMPT, restated, "<answer>3*5+7</answer>", 9)
    assert (m["leak"], m["leak_verifies"], m["retry_copies_leak"]) == (False, False, False)
    tagged = describe(CD, PROBLEM, ATTEMPT, "Again: <answer>3 + 5 + 7</answer>", ATTEMPT, 9)
    assert not tagged["leak"]


def test_equations_in_prose():
    nums = [3, 5, 7]
    text = "I tried (3 + 5 + 7), then 7 - 3 * 5 = -8 (wrong); next (3 * (5 + 7) and [3, 5, 7] or 3 ** 5 7."
    assert equations_in(text, nums) == ["3+5+7", "7-3*5", "3*(5+7)"]
    assert equations_in("start from 3 * 5.", nums) == [] and equations_in("the numbers 3, 5, 7", nums) == []
    assert CD.answer_in(PROBLEM, "I will start from 3*5+7, or (3 + 5) * 7") == "(3+5)*7"
    assert CD.answer_in(PROBLEM, "start from 3*5+7 <answer> 3 + 5 </answer>") == "3+5"  # a tag comes first
    assert CD.answer_verifies(PROBLEM, "start from 7 + 5 * 3") and not CD.answer_verifies(PROBLEM, "from 7 + 5 + 3")
    assert CD.answer_in(PROBLEM, "(" * 99_999) is None and CD.answer_in(PROBLEM, "1 + " * 25_000) is None


@pytest.mark.parametrize(
    "task_name, options", [("countdown", {"train_size": 4, "test_size": 4}), ("function_calling", {})]
)
def test_every_builtin_task_says_what_an_answer_is(task_name, options):
    task = get_task(task_name, **options)
    example = task.load("test")[0]
    assert task.answer_in(example, "no answer in here, just words") is None


@pytest.mark.parametrize("split", ["test", "dev", "all"])
def test_report_measures_reflections_of_runs_evaluated_before_measures_existed(tmp_path, split):
    from reflectrl.config_file import dump_config
    from reflectrl.evaluate import summarize as summarize_eval

    cfg = load_config(None, ["task.options={train_size: 4, test_size: 4}"])
    (tmp_path / "config.yaml").write_text(dump_config(cfg))
    task = get_task("countdown", train_size=4, test_size=4)
    records = []
    for ex in task.load("train" if split == "dev" else "test")[:4]:
        right = f"<answer> {solve(ex['nums'], ex['target'])} </answer>"
        records.append(
            {"id": ex["id"], "prompt": task.messages(ex), "attempt": "<answer> 1 </answer>", "attempt_success": False}
            | {"attempt_reason": "wrong_numbers", "reflection": right, "reflection_tokens": 12, "retry": right}
            | {"retry_success": True, "retry_reason": "ok", "first_try": False, "second_try": True}
        )
    (tmp_path / "eval-start").mkdir()
    (tmp_path / "eval-start" / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = summarize_eval(records) | {"split": split}
    assert "reflections" not in summary  # written before the measures existed
    (tmp_path / "eval-start" / "summary.json").write_text(json.dumps(summary))
    write_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| leak verifies | 100.0% [51.0, 100.0] (4/4) |" in md


def test_step_means_skip_an_empty_reflections_missing_measures():
    # A reflection that is only an end-of-turn token has no words: training must log the others, not crash.
    empty = describe(CD, PROBLEM, ATTEMPT, "", ATTEMPT, 1)
    leak = describe(CD, PROBLEM, ATTEMPT, "<answer> 3 * 5 + 7 </answer>", ATTEMPT, 10)
    means = step_means([empty, leak])
    assert means["leak"] == 0.5 and means["leak_verifies"] == 0.5
    assert means["copy_overlap"] == leak["copy_overlap"] and means["distinct_2"] == leak["distinct_2"]
    assert step_means([empty]) == {"leak": 0.0, "leak_verifies": 0.0, "retry_copies_leak": 0.0, "answer_like": 0.0}
