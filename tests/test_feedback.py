"""The verifier-feedback variant (episode.feedback): what the verifier tells the model, where it appears, and the
fair baseline it brings (a retry on the same feedback without a reflection)."""

import json
import random

import pytest
from tiny import ScriptedEngine, failures_of

from reflectrl.config_file import load_config
from reflectrl.errors import ReflectrlError
from reflectrl.evaluate import eval_identity, format_summary, summarize
from reflectrl.rollout.engine import Sampling
from reflectrl.rollout.episode import REFLECTION_PROMPT, EpisodePrompts, after_attempt, run_episodes, run_turns
from reflectrl.tasks import get_task
from reflectrl.tasks.base import Task, Verdict
from reflectrl.tasks.countdown import solve
from reflectrl.train.boost import boost_rows
from reflectrl.train.r3 import ReflectRetry

GREEDY = Sampling(max_new_tokens=12, temperature=0)
EX = {"id": "x", "nums": [50, 98, 54], "target": 6}


@pytest.mark.parametrize(
    ("completion", "said"),
    [
        ("<answer> 50 + 98 - 54 </answer>", "50 + 98 - 54 equals 94, not 6 (too large)."),
        ("<answer> 98 - 54 - 50 </answer>", "98 - 54 - 50 equals -6, not 6 (too small)."),
        ("<answer> 50 / 98 + 54 </answer>", "50 / 98 + 54 equals 2671/49 (about 54.51), not 6 (too large)."),
        ("<answer> 50 + 98 </answer>", "50 + 98 uses 50 and 98, but the numbers are 50, 98 and 54. 54 is missing."),
        ("<answer> 54 / (98 - 98) + 50 </answer>", "98 is used too often."),
        ("<answer> 1/0 </answer>", "1 and 0 are not one of the given numbers."),  # numbers are checked first
        ("no tags", "there is no equation inside <answer> </answer> tags."),
        ("<answer> (50 + 98) ** 54 </answer>", "(50 + 98) ** 54 is not a well-formed equation."),
        ("<answer> x </answer>", "x has characters other than numbers"),
        ("<answer> " + "1+" * 5000 + "1 </answer>", "the answer is too long."),
        ("<answer> 98 - 54 + 50 / 50 </answer>", "uses 98, 54, 50 and 50"),
    ],
)
def test_countdown_feedback_says_what_the_verifier_found(completion, said):
    task = get_task("countdown", train_size=2, test_size=2)
    text = task.feedback(EX, completion)
    assert text.startswith("The verifier says: ") and said in text
    assert not task.verify(EX, completion).success


def test_countdown_feedback_never_raises_and_accepts_a_solution():
    task = get_task("countdown", train_size=2, test_size=2)
    assert task.feedback(EX, f"<answer> {solve(EX['nums'], EX['target'])} </answer>").startswith(
        "The verifier accepted"
    )
    rng = random.Random(0)
    alphabet = "0123456789+-*/() .<>answer/x\n"
    for _ in range(500):  # untrusted model text: any string gets a sentence, never an exception
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        assert isinstance(task.feedback(EX, f"<answer>{body}</answer>"), str)


WEATHER = {
    "name": "get_weather",
    "parameters": {
        "type": "dict",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}
TIME = {"name": "get_time", "parameters": {"type": "dict", "properties": {"tz": {"type": "string"}}, "required": []}}
CALL_EX = {
    "id": "w",
    "source": "bfcl",
    "functions": [WEATHER, TIME],
    "answers": [{"get_weather": {"city": ["Paris"], "days": [2, ""]}}],
}


def _calls(*calls):
    return json.dumps([{"name": n, "arguments": a} for n, a in calls])


@pytest.mark.parametrize(
    ("completion", "said"),
    [
        (_calls(("get_weather", {"city": "Rome"})), 'the call to get_weather gives "city" a value that is not what'),
        (_calls(("get_weather", {"days": 2})), 'the call to get_weather leaves out the argument "city"'),
        (_calls(("get_weather", {"city": 5})), 'the call to get_weather gives "city" a value of the wrong type'),
        (_calls(("get_weather", {"city": "Paris", "unit": "C"})), 'passes "unit", an argument this question does'),
        (_calls(("get_time", {"tz": "CET"})), "a call names a function that does not do what the question asks"),
        (_calls(("get_weather", {"city": "Paris"}), ("get_time", {})), "makes 2 call(s), but the question needs fewer"),
        ("[]", "the answer calls no function, but one of the offered functions fits"),
        ("I cannot help.", "the answer calls no function, but one of the offered functions fits"),
        ('[{"a": 1}]', 'not a JSON list of calls it can read (an item is not {"name": ..., "arguments": {...}})'),
    ],
)
def test_function_calling_feedback_names_the_rule_not_the_answer(completion, said):
    task = get_task("function_calling")
    text = task.feedback(CALL_EX, completion)
    assert text.startswith("The verifier says: ") and said in text
    assert "Paris" not in text  # never the right value
    assert task.feedback(CALL_EX, _calls(("get_weather", {"city": "Paris"}))) == "The verifier accepted this answer."


def test_function_calling_feedback_on_irrelevance_and_on_any_text():
    task = get_task("function_calling")
    irrelevant = {**CALL_EX, "answers": []}
    assert "the answer calls get_time, but none of the offered functions fits" in task.feedback(
        irrelevant, _calls(("get_time", {"tz": "CET"}))
    )
    rng = random.Random(0)
    alphabet = '[]{}":,name arguments get_weather city Paris 12.5 \\n'
    for _ in range(500):  # untrusted model text: a sentence every time, never an exception
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
        text = task.feedback(CALL_EX, body)
        assert isinstance(text, str) and text.startswith("The verifier")


def test_a_task_without_its_own_feedback_gives_the_verifiers_reason():
    class Plain(Task):
        name = "plain"

        def load(self, split):
            return []

        def messages(self, example):
            return [{"role": "user", "content": "q"}]

        def verify(self, example, completion):
            return Verdict.ok() if completion == "yes" else Verdict.fail("said_no")

    plain = Plain(Plain.Options())
    assert plain.feedback({}, "no") == "The verifier says: said_no."
    assert plain.feedback({}, "yes") == "The verifier accepted this answer."

    class Broken(Plain):
        def feedback(self, example, completion):
            return {"bad": 1} if completion == "dict" else 1 / 0

    broken, on = Broken(Plain.Options()), EpisodePrompts(feedback=True)
    with pytest.raises(
        ReflectrlError, match=r"^task 'plain': feedback\(\) raised ZeroDivisionError: division by zero$"
    ):
        after_attempt(broken, {}, "no", on, REFLECTION_PROMPT)
    with pytest.raises(ReflectrlError, match=r"feedback\(\) returned dict, not text"):
        after_attempt(broken, {}, "dict", on, REFLECTION_PROMPT)
    assert after_attempt(broken, {}, "no", EpisodePrompts(), "ask") == "ask"  # off: feedback is never called


def _script(task, solved):
    def script(last_user, text, k):
        if last_user.endswith(REFLECTION_PROMPT):
            return "I used a wrong number."
        if last_user.startswith("The verifier says:") and "Try again." in last_user:
            assert "I used a wrong number." not in text  # the baseline writes no reflection
            return f"<answer> {solve(solved['nums'], solved['target'])} </answer>"  # wrong problem: wrong numbers
        if "Try again." in last_user:
            return "<answer> 1 + 1 </answer>"
        if str(solved["nums"]) in last_user:
            return f"<answer> {solve(solved['nums'], solved['target'])} </answer>"
        return "<answer> 1 + 2 </answer>"

    return script


def test_feedback_leads_the_reflection_request_and_brings_its_own_baseline(tiny_lm):
    _, tok = tiny_lm
    task = get_task("countdown", train_size=2, test_size=2)
    solved, unsolved = task.load("train")
    engine = ScriptedEngine(tok, _script(task, solved))
    ok, bad = run_episodes(engine, task, [solved, unsolved], EpisodePrompts(feedback=True), GREEDY, GREEDY, GREEDY)
    said = task.feedback(unsolved, "<answer> 1 + 2 </answer>")
    assert "feedback" not in ok and "feedback_retry" not in ok  # nothing to say after a success
    assert bad["feedback"] == said and "uses 1 and 2" in said
    reflection_turn = next(
        t for t in engine.seen if t.endswith(REFLECTION_PROMPT + "<|im_end|>\n<|im_start|>assistant\n")
    )
    assert f"{said}\n\n{REFLECTION_PROMPT}" in reflection_turn
    assert bad["retry_success"] is False and bad["feedback_retry_success"] is False
    # Without the variant: the paper's prompt alone and no extra baseline.
    engine = ScriptedEngine(tok, _script(task, solved))
    _, plain = run_episodes(engine, task, [solved, unsolved], EpisodePrompts(), GREEDY, GREEDY, GREEDY)
    assert "feedback_retry" not in plain and not any("The verifier says" in t for t in engine.seen)


def test_summary_pairs_the_retry_with_the_feedback_only_retry():
    def rec(retry, direct):
        return {
            "attempt_success": False, "first_try": False, "second_try": retry, "retry_success": retry,
            "attempt_reason": "wrong_value", "resample_success": False, "resample_second_try": False,
            "feedback_retry_success": direct,
        }  # fmt: skip

    records = [rec(True, False)] * 6 + [rec(False, True)] * 2 + [rec(False, False)] * 12
    summary = summarize(records)
    assert summary["feedback_retry_after_failure"]["k"] == 2
    d = summary["retry_minus_feedback_retry"]
    assert d["n"] == 20 and d["diff"] == pytest.approx(0.2) and d["p_mcnemar"] == pytest.approx(0.2890625)
    text = format_summary(summary)
    assert "retry on feedback alone" in text and "retry - feedback alone (paired) +20.0 pts" in text
    plain = [{k: v for k, v in r.items() if k != "feedback_retry_success"} for r in records]
    assert "feedback" not in format_summary(summarize(plain)) and "retry_minus_feedback_retry" not in summarize(plain)


def test_multi_turn_feedback_between_turns(tiny_lm):
    _, tok = tiny_lm
    task = get_task("countdown", train_size=2, test_size=2)
    ex = task.load("train")[1]
    engine = ScriptedEngine(tok, lambda last, text, k: "<answer> 1 + 2 </answer>")
    prompts = EpisodePrompts(feedback=True)
    run_turns(engine, task, [ex], prompts, GREEDY, GREEDY, GREEDY, turns=2, between="retry", retry_message="Again.")
    assert engine.seen[-1].count(task.feedback(ex, "<answer> 1 + 2 </answer>") + "\n\nAgain.") == 1


def test_boost_and_r3_show_the_same_feedback(tiny_lm):
    _, tok = tiny_lm
    task = get_task("countdown", train_size=20, test_size=2)
    cfg = load_config(None, ["episode.feedback=true", "train.num_generations=2", "train.report_to=[none]"])
    rows = boost_rows(task, task.load("train")[:6], cfg.episode, 1.0, seed=0)
    asks = [r["prompt"][-1]["content"] for r in rows if r["prompt"][-1]["content"].endswith(REFLECTION_PROMPT)]
    assert asks and all(a.startswith("The verifier says: ") for a in asks)
    examples = task.load("train")[:2]
    engine = ScriptedEngine(tok, lambda last, text, k: "a plan" if last.endswith(REFLECTION_PROMPT) else "no")
    ReflectRetry(task, failures_of(task, examples), cfg.episode, cfg.train).sample(
        engine, failures_of(task, examples), seed=0
    )
    said = task.feedback(examples[0], "<answer> 1 + 1 </answer>")
    assert any(f"{said}\n\n{REFLECTION_PROMPT}<|im_end|>" in t for t in engine.seen)


def test_eval_identity_names_the_variant_only_when_on():
    off, on = load_config(None, []), load_config(None, ["episode.feedback=true"])
    assert "feedback" not in eval_identity(off, "m")["episode"]  # older eval folders still resume
    assert eval_identity(on, "m")["episode"]["feedback"] is True
