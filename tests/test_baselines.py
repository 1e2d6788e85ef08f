"""The baselines' losses mask what they should and weigh it as specified; RISE's multi-turn metrics match
hand computation; budgets stop training; `reflectrl compare` runs end to end and resumes."""

import json
import math

import pytest
import torch
from conftest import ScriptedEngine
from tiny import final_hidden_grads, positions_with_gradient
from typer.testing import CliRunner

from reflectrl.cli import app
from reflectrl.config_file import load_config
from reflectrl.evaluate import eval_identity, summarize
from reflectrl.jsonl import read_jsonl
from reflectrl.models import load_model
from reflectrl.rollout.engine import Sampling
from reflectrl.rollout.episode import (
    REFLECTION_PROMPT,
    RETRY_MESSAGE,
    EpisodePrompts,
    attempt_prompt,
    majority_success,
    run_turns,
)
from reflectrl.tasks import get_task
from reflectrl.tasks.countdown import solve_all
from reflectrl.train.grpo import FirstAttempt
from reflectrl.train.pool import Mined
from reflectrl.train.precision import prepare_for_training
from reflectrl.train.rise import collate, collect, make_rwr_trainer, rwr_loss, train_rise, training_rows

runner = CliRunner()
GREEDY = Sampling(max_new_tokens=12, temperature=0)


def _task():
    return get_task("countdown", train_size=20, test_size=4)


def _wrong(ex) -> str:
    """An equation over the right numbers with another value."""
    a, b, c = ex["nums"]
    for expr in (f"{a} + {b} + {c}", f"{a} * {b} * {c}", f"{a} + {b} - {c}", f"{a} * {b} + {c}"):
        if eval(expr) != ex["target"]:  # test-only: our own fixed arithmetic, never model text
            return expr
    raise AssertionError(ex)


# ----------------------------------------------------------------------------------------------- grpo


def test_grpo_rewards_correct_first_attempts_and_trains_answer_tokens(tiny_model_dir):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    queries = task.load("train")[:2]
    cfg = load_config(
        None,
        ["train.num_generations=4", "train.groups_per_step=2", "train.steps=1", "train.beta=0.0"]
        + ["train.report_to=[none]", "train.scale_rewards=none"],
    )
    rollout = FirstAttempt(task, queries, cfg.episode, cfg.train)

    def script(last_user, text, k):
        ex = next(q for q in queries if str(q["nums"]) in last_user)
        return (
            f"<answer> {solve_all(ex['nums'], ex['target'])[0]} </answer>"
            if k % 2 == 0
            else f"<answer> {_wrong(ex)} </answer>"
        )

    groups, generated = rollout.sample(ScriptedEngine(tok, script), queries, seed=0)
    assert [g.rewards for g in groups] == [[1.0, 0.0, 1.0, 0.0]] * 2  # reward = the verifier's success
    assert generated == sum(len(c) for g in groups for c in g.completions)
    for g in groups:
        assert g.prefix == attempt_prompt(ScriptedEngine(tok, script), task, queries[groups.index(g)])
        assert all(tok.decode(c).startswith("<answer>") and all(m) for c, m in zip(g.completions, g.masks, strict=True))
    with_grad, packed = positions_with_gradient(model, groups, cfg.train)
    # Gradient only where an answer token is predicted, and at every such position but the shared last prompt
    # token: all four attempts start with the same token there, so their +-0.5 advantages cancel exactly.
    parents = packed.parents.tolist()
    assert {p for p in parents if parents.count(p) == 1} <= with_grad <= set(parents)
    assert len(packed.targets) == sum(len(c) for g in groups for c in g.completions)


def test_grpo_token_budget_stops_training_and_is_recorded(tmp_path, tiny_model_dir):
    from reflectrl.train.grpo import train_grpo

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    cfg = load_config(
        None,
        ["train.num_generations=2", "train.groups_per_step=1", "train.steps=50", "train.report_to=[none]"]
        + [
            "episode.max_attempt_tokens=5",
            "train.budget_tokens=12",
            "train.save_steps=1",
            "train.dynamic_sampling=false",
            "train.keep_checkpoints=true",
        ],
    )
    final = train_grpo(model, tok, task, Mined(queries=task.load("train")[:6]), cfg, tmp_path)
    assert (final / "config.json").is_file()
    spent = json.loads((tmp_path / "generated_tokens.json").read_text())
    # Each step samples 2 attempts of at most 5 tokens: training stops at the first step reaching 12 tokens.
    logged = [m["generated_tokens"] for m in read_jsonl(tmp_path / "metrics.jsonl") if "reward" in m]
    assert len(logged) == spent["steps"] >= 2 and spent["steps"] < 50
    assert logged[-1] == spent["generated_tokens"] >= 12 > logged[-2]
    assert all(0 < b - a <= 10 for a, b in zip([0, *logged], logged, strict=False))
    # Rollout wall time is logged cumulatively and is part of each step's time.
    steps = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if "reward" in m]
    cumulative = [0.0, *(m["rollout_seconds"] for m in steps)]
    assert all(0 < b - a < m["step_time"] for a, b, m in zip(cumulative, cumulative[1:], steps, strict=False))
    # Each kept checkpoint carries the count at its step, so a resumed run continues it.
    kept = sorted((tmp_path / "checkpoints").glob("checkpoint-*"))
    assert kept
    for ckpt in kept:
        step = int(ckpt.name.split("-")[1])
        saved = json.loads((ckpt / "trainer_state.json").read_text())
        assert saved["generated_tokens"] == logged[step - 1]
        assert saved["rollout_seconds"] == steps[step - 1]["rollout_seconds"]


def test_last_checkpoint_skips_a_checkpoint_killed_while_saving(tmp_path):
    from reflectrl.train.common import last_checkpoint

    assert last_checkpoint(tmp_path / "none") is None
    for step, complete in ((5, True), (10, True), (15, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")  # 10 > 5 numerically, 15 is partial


# ----------------------------------------------------------------------------------------------- rise


def _rise_script(task_examples):
    """Query 0 is solved by sample 2 at turn 1; query 1 by sample 1 at turn 2; query 2 never."""
    ex0, ex1, _ = task_examples

    def script(last_user, text, k):
        if str(ex0["nums"]) in text and k == 2:
            return f"<answer> {solve_all(ex0['nums'], ex0['target'])[0]} </answer>"
        if str(ex1["nums"]) in text and last_user == RETRY_MESSAGE and k == 1:
            return f"<answer> {solve_all(ex1['nums'], ex1['target'])[0]} </answer>"
        ex = next(e for e in task_examples if str(e["nums"]) in text)
        return f"<answer> {_wrong(ex)} </answer> try {k}"

    return script


def test_rise_collects_best_of_n_per_turn_with_rwr_weights(tiny_lm):
    _, tok = tiny_lm
    task = _task()
    qs = task.load("train")[:3]
    cfg = load_config(None, ["rise.turns=3", "rise.samples=4", "rise.tau=0.4"])
    engine = ScriptedEngine(tok, _rise_script(qs))
    recs = collect(engine, task, qs, RETRY_MESSAGE, cfg.rise, GREEDY)
    turns = [[r["turn"] for r in rec["rows"]] for rec in recs]
    assert turns == [[1], [1, 2], [1, 2, 3]]  # a rollout stops at its first solved turn
    rewards = [[r["reward"] for r in rec["rows"]] for rec in recs]
    assert rewards == [[1.0], [0.0, 1.0], [0.0, 0.0, 0.0]]
    for rec in recs:
        for r in rec["rows"]:
            assert r["weight"] == pytest.approx(math.exp(r["reward"] / 0.4))  # exp(1/0.4) = 12.18..., exp(0) = 1
    assert recs[0]["rows"][0]["weight"] == pytest.approx(12.182493960703473)
    assert task.verify(qs[0], recs[0]["rows"][0]["target"]).success  # the best of N is the target
    assert recs[1]["sampled_success"] == [0.0, 0.25]
    # Turn 2 sees the query, the on-policy turn-1 sample (sample 0) and the generic retry message.
    ctx = tok.decode(recs[1]["rows"][1]["context_ids"])
    assert ctx.count("<|im_start|>user") == 2 and RETRY_MESSAGE in ctx and "try 0" in ctx and "try 1" not in ctx
    assert (
        recs[2]["tokens"]
        == sum(len(tok(f"<answer> {_wrong(qs[2])} </answer> try {k}").input_ids) + 1 for k in range(4)) * 3
    )


def test_rise_loss_weighs_final_turn_tokens_by_exp_r_over_tau_and_masks_context(tmp_path, tiny_model_dir):
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    qs = task.load("train")[:3]
    cfg = load_config(None, ["rise.turns=2", "rise.samples=4", "train.report_to=[none]"])
    recs = collect(ScriptedEngine(tok, _rise_script(qs)), task, qs, RETRY_MESSAGE, cfg.rise, GREEDY)
    rows, dropped = training_rows(recs, max_length=4096)
    assert dropped == 0 and len(rows) == 5
    # Two copies of the same turn-2 row, one with reward 1 and one with reward 0: the gradient at every
    # position of the first must be exp(1/0.4) times that of the second.
    twin = rows[-1]  # query 2's turn 2: query, a wrong attempt and the retry message as context
    assert twin["weight"] == 1.0 and twin["labels"].count(-100) > 40
    batch_rows = [*rows, {**twin, "weight": math.exp(1 / 0.4)}, {**twin, "weight": 1.0}]
    batch = collate(tok.pad_token_id)(batch_rows)
    trainer = make_rwr_trainer(
        model, tok, rows, cfg, tmp_path, prepare_for_training(model, cfg.train.precision, "train.precision")
    )
    loss, grads = final_hidden_grads(trainer.model, lambda: trainer.compute_loss(trainer.model, batch))

    # The loss is sum_i w_i * sum_t nll_it / (trained tokens), computed here by hand from full logits.
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        targets = batch["labels"][:, 1:]
        mask = targets != -100
        logp = torch.log_softmax(logits.float(), -1).gather(-1, targets.clamp(min=0)[..., None])[..., 0]
        expected = -(logp * mask * batch["weight"][:, None]).sum() / mask.sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)

    g = grads.abs().sum(-1)
    for b, row in enumerate(batch_rows):
        n_ctx = row["labels"].count(-100)
        n = len(row["input_ids"])
        assert torch.all(g[b, : n_ctx - 1] == 0), "context (earlier turns, feedback) got gradient"
        assert torch.all(g[b, n_ctx - 1 : n - 1] > 0), "a target token got no gradient"
        assert torch.all(g[b, n - 1 :] == 0)  # the last token predicts nothing; padding
    hi, lo = grads[len(rows)], grads[len(rows) + 1]
    n_ctx = twin["labels"].count(-100)
    ratio = hi[n_ctx - 1 : len(twin["input_ids"]) - 1].norm() / lo[n_ctx - 1 : len(twin["input_ids"]) - 1].norm()
    assert ratio.item() == pytest.approx(math.exp(1 / 0.4), rel=1e-4)
    # The loss head runs only from the first trained position on, with the same value as over all positions.
    direct = rwr_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"], batch["weight"])
    assert direct.item() == pytest.approx(expected.item(), rel=1e-5)


def test_rise_rounds_budget_and_resume(tmp_path, tiny_model_dir, monkeypatch):
    import reflectrl.train.rise as rise

    saved, bookkept = rise.save_final_model, []

    def save(accelerator, model, tokenizer, path):  # a round is skipped once its model exists: state first
        bookkept.append((path.parent / "train_state.json").is_file())
        return saved(accelerator, model, tokenizer, path)

    monkeypatch.setattr(rise, "save_final_model", save)
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    cfg = load_config(
        None,
        ["rise.rounds=3", "rise.turns=2", "rise.samples=2", "rise.queries_per_round=4", "rise.chunk_size=2"]
        + ["rise.batch_size=4", "episode.max_attempt_tokens=4", "train.report_to=[none]", "train.budget_tokens=40"]
        + ["train.save_steps=1"],
    )
    queries = task.load("train")[:6]
    final = train_rise(model, tok, task, Mined(queries=queries), cfg, tmp_path)
    assert (final / "config.json").is_file() and bookkept and all(bookkept)
    # Each round checkpointed every step; once its model was saved its checkpoints went (train.keep_checkpoints).
    assert not list(tmp_path.glob("round-*/checkpoints/checkpoint-*"))
    spent = json.loads((tmp_path / "generated_tokens.json").read_text())
    rounds = sorted(p.name for p in tmp_path.glob("round-*") if (p / "model").is_dir())
    # Round i collects chunks (of 2 queries) until the tokens reach (i + 1) / 3 of the budget, one at least.
    collected = [read_jsonl(tmp_path / n / "collected.jsonl") for n in rounds]
    per_round = [sum(r["tokens"] for r in c) for c in collected]
    assert spent["generated_tokens"] == sum(per_round) and 1 <= len(rounds) <= 3
    assert len(rounds) == 3 or spent["generated_tokens"] >= 40
    for i, c in enumerate(collected):
        assert len(c) in (2, 4)
        assert len(c) == 4 or sum(per_round[: i + 1]) >= 40 * (i + 1) // 3
        if len(c) == 4:  # the second chunk was needed: the first left the share unreached
            assert sum(per_round[:i]) + sum(r["tokens"] for r in c[:2]) < 40 * (i + 1) // 3
    points = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if "best_of_n_success" in m]
    assert [p["round"] for p in points] == list(range(len(rounds)))
    before = {p: p.read_bytes() for p in tmp_path.glob("round-*/collected.jsonl")}
    train_rise(model, tok, task, Mined(queries=queries), cfg, tmp_path)  # complete: a no-op
    assert before == {p: p.read_bytes() for p in tmp_path.glob("round-*/collected.jsonl")}


# ------------------------------------------------------------------------------------- reflect-prompt


def test_reflect_prompt_is_a_baseline_not_a_training_algorithm(tmp_path):
    """It trains nothing: `train` and `run` refuse it (before any stage runs), `compare` evaluates the starting
    model under its name."""
    from reflectrl.compare import entries
    from reflectrl.pipeline import run_pipeline
    from reflectrl.train import get_algorithm

    with pytest.raises(Exception, match="reflect-prompt trains nothing"):
        get_algorithm("reflect-prompt")
    with pytest.raises(Exception, match="reflect-prompt trains nothing"):
        run_pipeline(load_config(None, [f"out_dir={tmp_path / 'run'}", "train.algorithm=reflect-prompt"]))
    assert not (tmp_path / "run").exists()
    cfg = load_config(None, ["compare.algorithms=[reflect-prompt, reflect-prompt:retry]"])
    assert [e["between_turns"] for e in entries(cfg)] == ["reflect", "retry"]


def test_grpo_and_rise_say_which_reflection_reward_settings_they_ignore(tmp_path):
    """reflection_format, reward_leaks and the other reflection-reward settings shape what a reflection earns: r3
    reads them, grpo and rise train no reflections, and `train` says so instead of ignoring them silently."""
    from reflectrl.train import ignored_settings

    sets = ["train.reflection_format=start from", "train.reward_leaks=false"]
    assert ignored_settings(load_config(None, ["train.algorithm=grpo", *sets]).train) == [
        "train.reflection_format",
        "train.reward_leaks",
    ]
    assert ignored_settings(load_config(None, ["train.algorithm=rise", "train.retries_per_reflection=2"]).train) == [
        "train.retries_per_reflection"
    ]
    assert ignored_settings(load_config(None, ["train.algorithm=r3", *sets]).train) == []
    assert ignored_settings(load_config(None, ["train.algorithm=grpo"]).train) == []  # defaults: nothing to say
    args = ["train", "--algorithm", "grpo", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "t")]
    result = CliRunner().invoke(app, args + ["--set", "train.reward_leaks=false"])
    assert result.exit_code != 0  # the missing model, after the warning
    assert "train.algorithm=grpo trains no reflections and ignores train.reward_leaks" in " ".join(
        result.output.split()
    )


# ------------------------------------------------------------------------------------- multi-turn metrics


def test_majority_ties_go_to_the_latest_answer_and_missing_answers_abstain():
    assert majority_success(["a", "b"], [False, True]) is True  # tie: the latest
    assert majority_success(["b", "a"], [True, False]) is False
    assert majority_success(["a", "b", "a"], [False, True, False]) is False  # two votes beat one
    assert majority_success([None, None, "b"], [False, False, True]) is True  # no answer does not vote
    assert majority_success([None, None], [False, False]) is False


def _multi_turn_problems(task):
    """Four test problems with scripted answers for turns 1..3 and parallel first samples 1..2."""
    exs = []
    for ex in task.load("train"):
        if len(solve_all(ex["nums"], ex["target"])) >= 2:
            exs.append(ex)
        if len(exs) == 4:
            break
    right = {ex["id"]: solve_all(ex["nums"], ex["target"]) for ex in exs}
    R = lambda ex, i=0: f"<answer> {right[ex['id']][i]} </answer>"  # noqa: E731
    W = lambda ex: f"<answer> {_wrong(ex)} </answer>"  # noqa: E731
    bad_numbers = "<answer> 1 + 1 </answer>"
    p1, p2, p3, p4 = exs
    plan = {
        # turn answers (1..3), then parallel first samples 1, 2
        p1["id"]: ([W(p1), R(p1), W(p1)], [R(p1), R(p1, 1)]),
        p2["id"]: (["no idea", "still no idea", "none"], ["no idea", "nope"]),
        p3["id"]: ([R(p3), W(p3), bad_numbers], [W(p3), W(p3)]),
        p4["id"]: ([R(p4, 0), W(p4), R(p4, 1)], [W(p4), bad_numbers]),
    }
    # Hand-computed: p1@tk, m1@tk, mk@t1 for k = 1, 2, 3.
    expected = {
        p1["id"]: ([0, 1, 1], [0, 1, 0], [0, 1, 1]),  # m1@t2: tie -> latest (right); m1@t3: wrong 2 votes
        p2["id"]: ([0, 0, 0], [0, 0, 0], [0, 0, 0]),  # no answers at all
        p3["id"]: ([1, 1, 1], [1, 0, 0], [1, 0, 0]),  # m1@t3: three-way tie -> latest (wrong numbers)
        p4["id"]: ([1, 1, 1], [1, 0, 1], [1, 0, 0]),  # two different right equations are one answer
    }
    return exs, plan, expected


@pytest.mark.parametrize("between", ["reflect", "retry"])
def test_multi_turn_metrics_match_hand_computation(tiny_lm, between):
    _, tok = tiny_lm
    task = _task()
    exs, plan, expected = _multi_turn_problems(task)

    def script(last_user, text, k):
        if last_user == REFLECTION_PROMPT:
            return "I should check the value."
        ex = next(e for e in exs if str(e["nums"]) in text)
        answers, parallel = plan[ex["id"]]
        turn = text.count("<|im_start|>assistant") - (text.count("I should check") if between == "reflect" else 0)
        return answers[turn - 1] if k == 0 else parallel[k - 1]

    engine = ScriptedEngine(tok, script)
    recs = run_turns(engine, task, exs, EpisodePrompts(), GREEDY, GREEDY, GREEDY, turns=3, between=between, parallel=3)
    for r in recs:
        p1, m1, mk = expected[r["id"]]
        assert [int(x) for x in r["p1@tk"]] == p1, r["id"]
        assert [int(x) for x in r["m1@tk"]] == m1, r["id"]
        assert [int(x) for x in r["mk@t1"]] == mk, r["id"]
        assert r["first_try"] == bool(p1[0]) and r["second_try"] == bool(p1[1])
        assert ("reflection" in r) == (between == "reflect" and not r["first_try"])
    last = engine.seen[-1]  # the third answer's context: every earlier attempt, no oracle
    if between == "retry":
        assert last.count(RETRY_MESSAGE) == 2 and REFLECTION_PROMPT not in last
    else:
        assert last.count(REFLECTION_PROMPT) == 2 and last.count("Try again.") == 2
    s = summarize(recs)
    assert s["turns"] == 3 and s["between_turns"] == between
    assert [s[f"p1@t{k}"]["k"] for k in (1, 2, 3)] == [2, 3, 3]
    assert [s[f"m1@t{k}"]["k"] for k in (1, 2, 3)] == [2, 1, 1]
    assert [s[f"m{k}@t1"]["k"] for k in (1, 2, 3)] == [2, 1, 1]
    assert s["first_try"]["k"] == 2 and s["second_try"]["k"] == 3
    assert s["resample_pass2"]["k"] == 3  # first sample or parallel sample 1 right: p1, p3, p4


def test_two_attempt_identity_is_unchanged_by_the_multi_turn_settings():
    cfg = load_config(None)
    ident = eval_identity(cfg, "m")
    assert "turns" not in ident["eval"] and "between_turns" not in ident["episode"]
    multi = eval_identity(load_config(None, ["eval.turns=3", "episode.between_turns=retry"]), "m")
    assert multi["eval"]["turns"] == 3 and multi["episode"]["between_turns"] == "retry"


def test_eval_turns_cli_writes_all_three_metrics_per_turn(tiny_model_dir, tmp_path):
    out = tmp_path / "ev"
    args = [
        "eval", "--model", str(tiny_model_dir), "--task", "countdown", "--task-opt", "train_size=10",
        "--task-opt", "test_size=8", "--limit", "4", "--out", str(out), "--turns", "3",
        "--set", "episode.max_attempt_tokens=6", "--set", "episode.max_reflection_tokens=6",
        "--set", "episode.max_retry_tokens=6", "--set", "eval.chunk_size=2",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "p1@tk" in result.output and "m1@tk" in result.output
    summary = json.loads((out / "summary.json").read_text())
    for k in (1, 2, 3):
        for key in (f"p1@t{k}", f"m1@t{k}", f"m{k}@t1"):
            assert summary[key]["n"] == 4 and 0 <= summary[key]["ci_low"] <= summary[key]["ci_high"] <= 1
    for r in read_jsonl(out / "samples.jsonl"):
        assert len(r["turns"]) == 3 and len(r["parallel"]) == 2
        assert r["p1@tk"] == [any(t["success"] for t in r["turns"][:k]) for k in (1, 2, 3)]


# ------------------------------------------------------------------------------------------- compare


def test_compare_end_to_end_then_resume_is_a_no_op(tiny_model_dir, tmp_path):
    import yaml

    out = tmp_path / "cmp"
    cfg = {
        "out_dir": str(out),
        "model": {"name": str(tiny_model_dir)},
        "task": {"name": "countdown", "options": {"train_size": 60, "test_size": 8}},
        "episode": {"max_attempt_tokens": 5, "max_reflection_tokens": 5, "max_retry_tokens": 5},
        "eval": {"limit": 4, "chunk_size": 2},
        "boost": {"enabled": False},
        "mine": {"queries": 6, "samples": 2, "chunk_size": 2},
        "train": {
            "steps": 100, "num_generations": 2, "groups_per_step": 1, "report_to": ["none"], "save_steps": 100,
            "budget_tokens": 30, "lr_scheduler": "constant",
        },
        "rise": {"rounds": 2, "turns": 2, "samples": 2, "chunk_size": 2, "batch_size": 4},
        "compare": {"algorithms": ["reflect-prompt", "reflect-prompt:retry", "grpo", "r3", "r3-answer", "rise"]},
    }  # fmt: skip
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = runner.invoke(app, ["compare", "--config", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "compare_report.json").read_text())
    rows = {r["label"]: r for r in report["rows"]}
    assert list(rows) == cfg["compare"]["algorithms"]
    assert rows["rise"]["between_turns"] == "retry" and rows["grpo"]["between_turns"] == "reflect"
    assert rows["reflect-prompt"]["generated_tokens"] == 0
    for name in ("grpo", "r3", "r3-answer", "rise"):
        # Every trained algorithm spent its budget (and at most a step or a chunk more).
        assert rows[name]["generated_tokens"] >= 30, name
        summary = rows[name]["summary"]
        assert summary["n"] == 4 and {"p1@t3", "m1@t3", "m3@t1", "first_try", "second_try"} <= set(summary)
    assert set(report["paired_differences"]) == set(rows) - {"reflect-prompt"}
    md = (out / "compare.md").read_text()
    assert "| algorithm | between turns | first try | second try | p1@t3 | m1@t3 | m3@t1 |" in md
    from reflectrl.viewer import script_json

    page = (out / "compare.html").read_text()  # the episode browser, one column per algorithm
    assert "id='episode-data'" in page and script_json(list(rows))[1:-1] in page
    for pic in ("training_curves.png", "accuracy.png"):
        assert (out / "plots" / pic).is_file()
    timings = json.loads((out / "timings.json").read_text())
    assert {"mine", "train:grpo", "train:rise", "eval:rise", "eval:reflect-prompt:retry"} <= set(timings)
    before = {p: p.read_bytes() for p in out.glob("eval/*/samples.jsonl")} | {
        p: p.read_bytes() for p in out.glob("train/*/generated_tokens.json")
    }
    result = runner.invoke(app, ["compare", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert before == {p: p.read_bytes() for p in before}  # every stage was complete: nothing redone


def test_compare_refuses_unknown_algorithms_and_missing_budget(tmp_path):
    from reflectrl.compare import entries, run_compare

    with pytest.raises(Exception, match="unknown algorithm 'ppo'"):
        entries(load_config(None, ["compare.algorithms=[r3, ppo]"]))
    with pytest.raises(Exception, match="mode after ':'"):
        entries(load_config(None, ["compare.algorithms=[r3:think]"]))
    with pytest.raises(Exception, match="budget_tokens"):
        run_compare(load_config(None, [f"out_dir={tmp_path}"]))
