"""`reflectrl probe`: P(retry right) after each of G reflections and P(fresh attempt right), scored exactly on
fixed failures; resumable, paired against a baseline probe, readable from failures.jsonl or an eval's samples."""

import json
import math
import statistics

import pytest
from conftest import ScriptedEngine
from tiny import failures_of
from typer.testing import CliRunner

from reflectrl.cli import app
from reflectrl.config_file import load_config
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import read_jsonl
from reflectrl.probe import format_summary, load_failures, probe, probe_identity, summarize
from reflectrl.rollout.episode import REFLECTION_PROMPT
from reflectrl.tasks import get_task

runner = CliRunner()
P_GOOD, P_BAD, P_FRESH = 0.1, 0.01, 0.05


def _task():
    return get_task("countdown", train_size=20, test_size=4)


class _ScoringEngine(ScriptedEngine):
    """Reflections alternate "good plan"/"bad plan"; each reference answer (then end of turn) has probability
    P_GOOD after a good plan, P_BAD after a bad one, P_FRESH elsewhere (a fresh attempt)."""

    def __init__(self, tokenizer):
        super().__init__(tokenizer, lambda last_user, text, k: "good plan" if k % 2 == 0 else "bad plan")
        self.scored: list[str] = []
        self.eos_ids = {tokenizer.eos_token_id, 0}  # two ways to end a turn: each answer can end with either

    def score(self, prompt, continuations, temperature, then=()):
        text = self.tokenizer.decode(prompt)
        self.scored.append(text)
        p = P_GOOD if "good plan" in text else P_BAD if "bad plan" in text else P_FRESH
        return [math.log(p * max(1, len(then)))] * len(continuations)  # each (answer, end) has probability p


def _run(tmp_path, tok, *sets, failures=None, engine=None):
    task = _task()
    cfg = load_config(None, ["probe.reflections=4", *sets])
    failures = failures or failures_of(task, task.load("train")[:3])
    engine = engine or _ScoringEngine(tok)
    identity = probe_identity(cfg, "scripted", tmp_path / "failures.jsonl")
    return probe(engine, task, failures, cfg, tmp_path / "probe", identity), engine, failures


def test_probe_scores_each_reflection_and_a_fresh_attempt(tiny_lm, tmp_path):
    _, tok = tiny_lm
    summary, engine, failures = _run(tmp_path, tok)
    rows = read_jsonl(tmp_path / "probe" / "probe.jsonl")
    assert [r["id"] for r in rows] == [f["id"] for f in failures]
    for r, f in zip(rows, failures, strict=True):
        n = len(_task().reference_answers(f["example"])) * len(engine.eos_ids)  # each answer, each end of turn
        assert r["fresh"] == pytest.approx(min(1.0, P_FRESH * n))
        assert r["retry"] == pytest.approx([min(1.0, P_GOOD * n), min(1.0, P_BAD * n)] * 2)
        assert r["reflections"] == ["good plan", "bad plan"] * 2
    # The reflection is asked for after the failed attempt; every retry context holds its reflection.
    assert all(REFLECTION_PROMPT in s and "1 + 1" in s for s in engine.seen)
    assert json.loads((tmp_path / "probe" / "summary.json").read_text()) == summary
    assert summary["n"] == 3
    assert summary["retry"] == pytest.approx(sum(sum(r["retry"]) / 4 for r in rows) / 3)
    assert summary["retry_best_of_g"] == pytest.approx(sum(max(r["retry"]) for r in rows) / 3)
    diff = summary["retry_minus_fresh"]
    assert diff["diff"] == pytest.approx(summary["retry"] - summary["fresh"])
    assert diff["ci_low"] <= diff["diff"] <= diff["ci_high"]


def test_probe_resumes_and_refuses_other_settings(tiny_lm, tmp_path):
    _, tok = tiny_lm
    _run(tmp_path, tok)
    path = tmp_path / "probe" / "probe.jsonl"
    whole = path.read_text()
    first = whole.splitlines(keepends=True)[0]
    path.write_text(first + whole.splitlines()[1][:20])  # a kill mid-write: one row kept, a torn line
    _, engine, _ = _run(tmp_path, tok)
    assert len(engine.seen) == 2  # only the two missing failures were probed again
    assert path.read_text() == whole  # seeded per failure: the same rows as the uninterrupted probe
    with pytest.raises(ReflectrlError, match="already holds results with other settings"):
        _run(tmp_path, tok, "probe.reflections=2")


def test_probe_counts_reflections_that_hold_an_answer_and_compares_without_them(tiny_lm, tmp_path):
    """The hollow-gain guard: a "bad plan" that writes a whole equation (not the failed one) is a leak."""
    _, tok = tiny_lm
    leaking = _ScoringEngine(tok)
    leaking.script = lambda last_user, text, k: "good plan" if k % 2 == 0 else "bad plan: 1 + 2 + 3, or 3 * 2 * 1"
    task = _task()
    failures = failures_of(task, [{"id": f"p{i}", "nums": [1, 2, 3], "target": 6 + i} for i in range(3)])
    summary, _, _ = _run(tmp_path, tok, failures=failures, engine=leaking)
    rows = read_jsonl(tmp_path / "probe" / "probe.jsonl")
    assert all(r["leaks"] == [False, True] * 2 for r in rows)
    assert summary["leak_share"] == 0.5
    good = summary["without_leaks"]
    assert good["n"] == 3 and good["retry"] == pytest.approx(statistics.fmean(r["retry"][0] for r in rows))
    assert good["retry_minus_fresh"]["diff"] == pytest.approx(good["retry"] - summary["fresh"])
    text = format_summary(summary, "probe")
    assert "reflections with an answer 50.0%" in text and "without them (3 failures)" in text
    old_rows = [{k: v for k, v in r.items() if k != "leaks"} for r in rows]  # probed before leaks were recorded
    assert "leak_share" not in summarize(old_rows) and "without_leaks" not in summarize(old_rows)


def test_feedback_variant_baseline_gets_the_same_feedback(tiny_lm, tmp_path):
    """With episode.feedback the baseline is eval's: the feedback, then the retry turn, with no reflection."""
    _, tok = tiny_lm
    _, engine, failures = _run(tmp_path, tok, "episode.feedback=true")
    fresh_contexts = [s for s in engine.scored if "plan" not in s]
    assert len(fresh_contexts) == len(failures)
    feedback = _task().feedback(failures[0]["example"], failures[0]["attempt"])
    assert feedback in fresh_contexts[0] and "1 + 1" in fresh_contexts[0]
    assert REFLECTION_PROMPT not in fresh_contexts[0]


class _RecordingEngine(_ScoringEngine):
    """Also records (G, temperature) of each generate call and the temperature of each score call."""

    def __init__(self, tokenizer):
        super().__init__(tokenizer)
        self.sampled, self.scored_at = [], []

    def generate(self, prompts, n, sampling, seed=0, on_progress=None):
        self.sampled.append((n, sampling.temperature))
        return super().generate(prompts, n, sampling, seed, on_progress)

    def score(self, prompt, continuations, temperature, then=()):
        self.scored_at.append(temperature)
        return super().score(prompt, continuations, temperature, then)


@pytest.mark.parametrize(("setting", "sampled"), [(None, (4, 0.7)), (0.3, (4, 0.3)), (0, (1, 0))])
def test_reflection_temperature_moves_the_reflections_only(tiny_lm, tmp_path, setting, sampled):
    """probe.reflection_temperature samples the reflections (greedy: one per failure, not G copies); retries and
    fresh attempts are scored at train.temperature whatever it is."""
    _, tok = tiny_lm
    sets = ["train.temperature=0.7"] + ([] if setting is None else [f"probe.reflection_temperature={setting}"])
    _, engine, failures = _run(tmp_path, tok, *sets, engine=_RecordingEngine(tok))
    assert engine.sampled == [sampled] * len(failures)
    assert set(engine.scored_at) == {0.7}
    rows = read_jsonl(tmp_path / "probe" / "probe.jsonl")
    assert [len(r["retry"]) for r in rows] == [sampled[0]] * len(failures)


def test_probe_needs_plain_sampling(tiny_lm, tmp_path):
    _, tok = tiny_lm
    with pytest.raises(ReflectrlError, match=r"needs train\.top_p 1 and train\.top_k 0"):
        _run(tmp_path, tok, "train.top_p=0.9")


def test_baseline_difference_is_paired_over_common_failures():
    rows = [{"id": i, "fresh": 0.1, "retry": [0.2, 0.4]} for i in "abc"]
    base = [{"id": i, "fresh": 0.1, "retry": [0.1, 0.1]} for i in "abd"]
    s = summarize(rows, base)
    assert s["minus_baseline"]["n"] == 2
    assert s["minus_baseline"]["retry"]["diff"] == pytest.approx(0.2)
    assert s["minus_baseline"]["fresh"]["diff"] == pytest.approx(0.0)
    assert s["retry_spread"] == pytest.approx(0.1) and s["retry_best_of_g"] == pytest.approx(0.4)


def test_failures_come_from_mine_or_from_an_eval(tmp_path):
    task = _task()
    tests = task.load("test")
    samples = [
        {"id": ex["id"], "prompt": task.messages(ex), "attempt": f"<answer> {k} </answer>", "attempt_success": k == 1}
        for k, ex in enumerate(tests)
    ]
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in samples))
    got = load_failures(path, task, limit=2)
    assert [f["id"] for f in got] == [tests[0]["id"], tests[2]["id"]]  # the success is skipped
    assert got[1]["example"] == tests[2] and got[1]["attempt"] == "<answer> 2 </answer>"

    mined = tmp_path / "failures.jsonl"
    mined.write_text("".join(json.dumps(f) + "\n" for f in failures_of(task, tests)))
    assert [f["id"] for f in load_failures(mined, task, None)] == [f"{ex['id']}/0" for ex in tests]

    for rows, message in [
        ([{"id": "x", "prompt": [], "attempt": "a", "attempt_success": False}], "problem 'x' is not in task"),
        ([{"id": tests[1]["id"], "attempt_success": True}], "holds no failed attempt"),
        ([{"something": 1}], "not a failures.jsonl"),
    ]:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        with pytest.raises(ReflectrlError, match=message):
            load_failures(path, task, None)
    with pytest.raises(ReflectrlError, match=r"nowhere\.jsonl: no such file"):
        load_failures(tmp_path / "nowhere.jsonl", task, None)


def test_probe_cli_end_to_end_on_a_tiny_model(tiny_model_dir, tmp_path):
    task = get_task("countdown", train_size=10, test_size=4)
    failures = tmp_path / "failures.jsonl"
    failures.write_text("".join(json.dumps(f) + "\n" for f in failures_of(task, task.load("train")[:2])))
    args = [
        "probe", "--model", str(tiny_model_dir), "--task-opt", "train_size=10", "--task-opt", "test_size=4",
        "--failures", str(failures), "--reflections", "2", "--set", "episode.max_reflection_tokens=5",
    ]  # fmt: skip
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "retry - fresh (paired)" in result.output
    rows = read_jsonl(tmp_path / "a" / "probe.jsonl")
    assert len(rows) == 2 and all(len(r["retry"]) == 2 and len(r["reflections"]) == 2 for r in rows)
    assert all(0 < p <= 1 for r in rows for p in [r["fresh"], *r["retry"]])  # a random model: small, not 0
    # Against itself as the baseline: every paired difference is exactly zero.
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--baseline", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    paired = json.loads((tmp_path / "b" / "summary.json").read_text())["minus_baseline"]
    assert paired["n"] == 2 and paired["retry"]["diff"] == 0 and paired["fresh"]["diff"] == 0

    vllm = runner.invoke(app, [*args, "--set", "engine.name=vllm"])
    assert isinstance(vllm.exception, ReflectrlError) and "hf engine, not vllm" in str(vllm.exception)
    missing = runner.invoke(app, [*args, "--baseline", str(tmp_path / "nowhere")])
    assert isinstance(missing.exception, ReflectrlError) and "no probe.jsonl rows" in str(missing.exception)
