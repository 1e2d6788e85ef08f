"""train.budget_seconds: the shared RL loop and RISE stop on measured training time, resumed sittings add up,
and `reflectrl compare` gives every algorithm the same budget in tokens and/or seconds and reports both."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from reflectrl.cli import app
from reflectrl.config_file import load_config
from reflectrl.jsonl import read_jsonl
from reflectrl.models import load_model
from reflectrl.tasks import get_task
from reflectrl.train.pool import Mined

runner = CliRunner()
TINY = 1e-6  # seconds: any step or chunk exceeds it


def _task():
    return get_task("countdown", train_size=20, test_size=4)


def test_budget_seconds_stops_the_rl_loop_after_one_step_and_resumed_sittings_add_up(tmp_path, tiny_model_dir):
    from reflectrl.train.grpo import train_grpo

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    common = ["train.num_generations=2", "train.groups_per_step=1", "train.report_to=[none]", "train.save_steps=1"]
    common += ["episode.max_attempt_tokens=4", "train.dynamic_sampling=false", "train.keep_checkpoints=true"]
    cfg = load_config(None, [*common, "train.steps=50", f"train.budget_seconds={TINY}"])
    train_grpo(model, tok, task, Mined(queries=task.load("train")[:6]), cfg, tmp_path)
    spent = json.loads((tmp_path / "generated_tokens.json").read_text())
    assert spent["steps"] == 1 and spent["train_seconds"] > 0 and spent["generated_tokens"] > 0
    (row,) = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if "reward" in m]
    assert row["train_seconds"] == spent["train_seconds"] >= row["rollout_seconds"]
    saved = json.loads((tmp_path / "checkpoints" / "checkpoint-1" / "trainer_state.json").read_text())
    assert saved["train_seconds"] == spent["train_seconds"]

    # A second sitting with a larger budget continues from the checkpoint and adds its step's time.
    cfg = load_config(None, [*common, "train.steps=2", "train.budget_seconds=1e9"])
    train_grpo(model, tok, task, Mined(queries=task.load("train")[:6]), cfg, tmp_path)
    again = json.loads((tmp_path / "generated_tokens.json").read_text())
    rows = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if "reward" in m]
    assert again["steps"] == 2 and [m["step"] for m in rows] == [1, 2]
    assert again["train_seconds"] == rows[-1]["train_seconds"] > spent["train_seconds"]


def test_rise_stops_by_seconds_and_a_resumed_sitting_recounts_the_stored_time(tmp_path, tiny_model_dir):
    from reflectrl.train.rise import SECONDS, train_rise

    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = _task()
    cfg = load_config(
        None,
        ["rise.rounds=3", "rise.turns=2", "rise.samples=2", "rise.queries_per_round=4", "rise.chunk_size=2"]
        + ["rise.batch_size=4", "episode.max_attempt_tokens=4", "train.report_to=[none]", "train.save_steps=1"]
        + [f"train.budget_seconds={TINY}", "train.keep_checkpoints=true"],
    )
    queries = task.load("train")[:6]
    train_rise(model, tok, task, Mined(queries=queries), cfg, tmp_path)
    spent = json.loads((tmp_path / "generated_tokens.json").read_text())
    # Round 0's share is used up by its first chunk: one chunk (of 2 queries) collected, trained, then stop.
    assert sorted(p.name for p in tmp_path.glob("round-*") if (p / "model").is_dir()) == ["round-0"]
    collected = read_jsonl(tmp_path / "round-0" / "collected.jsonl")
    assert len(collected) == 2 and all(r["seconds"] > 0 for r in collected)
    trained = json.loads((tmp_path / "round-0" / "train_state.json").read_text())
    assert trained["seconds"] > 0
    assert spent["budget_seconds"] == TINY and spent["budget"] is None
    assert spent["train_seconds"] == pytest.approx(sum(r["seconds"] for r in collected) + trained["seconds"], abs=2e-3)
    assert spent["generated_tokens"] == sum(r["tokens"] for r in collected)
    (point,) = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if "best_of_n_success" in m]
    assert 0 < point["train_seconds"] < spent["train_seconds"]  # collection time, before the round's training
    checkpoints = list((tmp_path / "round-0" / "checkpoints").glob(f"checkpoint-*/{SECONDS}"))
    assert checkpoints and all(0 < json.loads(p.read_text())["seconds"] <= trained["seconds"] for p in checkpoints)

    # Resumed: nothing is redone, and the time comes from what the first sitting stored, not from a new clock.
    train_rise(model, tok, task, Mined(queries=queries), cfg, tmp_path)
    assert json.loads((tmp_path / "generated_tokens.json").read_text()) == spent


def _compare_config(tiny_model_dir, out, **train):
    return {
        "out_dir": str(out),
        "model": {"name": str(tiny_model_dir)},
        "task": {"name": "countdown", "options": {"train_size": 60, "test_size": 8}},
        "episode": {"max_attempt_tokens": 4, "max_reflection_tokens": 4, "max_retry_tokens": 4},
        "eval": {"limit": 2, "chunk_size": 2},
        "boost": {"enabled": False},
        "mine": {"queries": 6, "samples": 2, "chunk_size": 2},
        "train": {
            "steps": 100, "num_generations": 2, "groups_per_step": 1, "report_to": ["none"], "save_steps": 100,
            "lr_scheduler": "constant", "dynamic_sampling": False, **train,
        },
        "compare": {"algorithms": ["reflect-prompt", "grpo", "r3"], "turns": 2},
    }  # fmt: skip


def test_compare_at_equal_seconds_and_tokens_reports_both_units_and_r3_minus_grpo(tiny_model_dir, tmp_path):
    out = tmp_path / "cmp"
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(_compare_config(tiny_model_dir, out, budget_tokens=100000, budget_seconds=TINY)))
    result = runner.invoke(app, ["compare", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "compare.json").read_text())["budget"] == {"tokens": 100000, "seconds": TINY}
    report = json.loads((out / "compare_report.json").read_text())
    assert report["budget"] == {"tokens": 100000, "seconds": TINY}
    rows = {r["label"]: r for r in report["rows"]}
    assert rows["reflect-prompt"]["train_seconds"] == 0.0 and rows["reflect-prompt"]["generated_tokens"] == 0
    for name in ("grpo", "r3"):  # the time budget, reached first, stopped both after one step
        assert rows[name]["steps"] == 1 and rows[name]["generated_tokens"] > 0 and rows[name]["train_seconds"] > 0
        assert rows[name]["train_stage_seconds"] >= rows[name]["train_seconds"]
    assert set(report["r3_minus_grpo"]) == {"r3"} and report["r3_minus_grpo"]["r3"]["minus"] == "grpo"
    assert report["r3_minus_grpo"]["r3"]["first_try"]["n"] == 2
    md = (out / "compare.md").read_text()
    assert "100,000 generated tokens or 1e-06 s of training time (whichever comes first)" in md
    assert "| tokens generated | train seconds | optimizer steps | train stage wall time |" in md
    assert "same machine and threads" in md and "## R3 minus vanilla GRPO (answer reward)" in md
    assert "| r3 - grpo |" in md
    assert (out / "plots" / "training_curves_time.png").is_file()

    # Another budget in the same folder is refused before anything runs: results at two budgets would mix.
    path.write_text(yaml.safe_dump(_compare_config(tiny_model_dir, out, budget_tokens=100000, budget_seconds=5.0)))
    result = runner.invoke(app, ["compare", "--config", str(path)])
    assert result.exit_code != 0  # `reflectrl` itself prints a ReflectrlError as one line
    assert "1e-06 s of training time" in str(result.exception) and "new out_dir" in str(result.exception)


def test_compare_budget_errors_name_both_units(tmp_path):
    from reflectrl.compare import run_compare

    with pytest.raises(Exception, match=r"train\.budget_tokens and/or train\.budget_seconds"):
        run_compare(load_config(None, [f"out_dir={tmp_path}"]))
    # A folder of a token-only comparison (written before seconds existed) refuses a time budget.
    (tmp_path / "compare.json").write_text(json.dumps({"entries": [], "turns": 3, "budget": 30}))
    with pytest.raises(Exception, match=r"budget of 30 generated tokens, not 30 generated tokens or 60 s .*out_dir"):
        run_compare(load_config(None, [f"out_dir={tmp_path}", "train.budget_tokens=30", "train.budget_seconds=60"]))
    assert not (tmp_path / "config.yaml").exists()
