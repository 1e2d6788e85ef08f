"""SIGKILL at random points: a rerun of `eval` and `train` ends with exactly what a clean run has
(`mine` and `run`: tests/test_pipeline.py)."""

from __future__ import annotations

import json
import os
import random
import subprocess

import pytest
import torch
from safetensors.torch import load_file
from test_pipeline import _cli, _kill_when, tiny_config

from reflectrl.jsonl import read_jsonl

FAST = ["--set", "model.threads=1"]


@pytest.fixture(scope="module")
def eval_setup(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-kill")
    config = tiny_config(tiny_model_dir, root / "run", eval__limit=8)  # the whole test split, in chunks of 2
    clean = root / "clean"
    subprocess.run(_cli("eval", "--config", str(config), *FAST, "--out", str(clean)), check=True, capture_output=True)
    return config, clean


@pytest.mark.parametrize("seed", [1, 2])
def test_eval_killed_with_sigkill_resumes_to_the_clean_result(eval_setup, tmp_path, seed):
    config, clean = eval_setup
    killed = tmp_path / "killed"
    args = ["eval", "--config", str(config), *FAST, "--out", str(killed)]
    kill_after = random.Random(seed).randint(1, 5)  # before the last chunk of 2
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = killed / "samples.jsonl"
    assert _kill_when(proc, lambda: samples.exists() and samples.read_bytes().count(b"\n") >= kill_after)
    assert not (killed / "summary.json").exists()
    subprocess.run(_cli(*args), check=True, capture_output=True)
    a, b = read_jsonl(clean / "samples.jsonl"), read_jsonl(samples)
    assert len(b) == len({r["id"] for r in b}) == 8, "lost or duplicated problems"
    assert sorted(a, key=lambda r: r["id"]) == sorted(b, key=lambda r: r["id"])
    summary_a, summary_b = (json.loads((d / "summary.json").read_text()) for d in (clean, killed))
    summary_a.pop("generated_tokens_this_session"), summary_b.pop("generated_tokens_this_session")
    assert summary_a == summary_b


TASK_FILE = '''
import json, os
from reflectrl.tasks import Task, Verdict, register_task


@register_task
class Coin(Task):
    """A verdict that depends on the sampled text, so rewards vary and training really moves the weights."""

    name = "coin"

    def load(self, split):
        return [{"id": f"q{i}", "n": i} for i in range(8)]

    def messages(self, example):
        return [{"role": "user", "content": f"Say something about {example['n']}."}]

    def verify(self, example, completion):
        with open(os.environ["COIN_LOG"], "a") as f:  # what the trainer verified, in order
            f.write(json.dumps([example["id"], completion]) + "\\n")
        return Verdict(sum(map(ord, completion)) % 2 == 0, "parity")
'''


def _setup_train(tiny_model_dir, tmp_path):
    import yaml

    task_file = tmp_path / "coin.py"
    task_file.write_text(TASK_FILE)
    config = tiny_config(tiny_model_dir, tmp_path / "run", train__steps=4)
    cfg = yaml.safe_load(config.read_text())
    cfg["task"] = {"name": f"{task_file}:coin", "options": {}}
    config.write_text(yaml.safe_dump(cfg))
    lines = []
    for i in range(8):
        ex = {"id": f"q{i}", "n": i}
        prompt = [{"role": "user", "content": f"Say something about {i}."}]
        record = {"id": f"q{i}/0", "query_id": f"q{i}", "example": ex, "prompt": prompt, "attempt": "no"}
        lines.append(json.dumps({**record, "reason": "parity", "query_success_rate": 0.5}) + "\n")
    (tmp_path / "failures.jsonl").write_text("".join(lines))
    return config, tmp_path / "failures.jsonl"


STEP_KEYS = ("reward", "reward_std", "loss", "grad_norm", "learning_rate", "entropy", "generated_tokens")
CALLS_PER_STEP = 4  # at least: train.groups_per_step * train.num_generations retries, each verified once


def _per_step(folder):
    # A step that trains only groups carried over from the last one draws nothing: no reward that step.
    return {m["step"]: {k: m.get(k) for k in STEP_KEYS} for m in read_jsonl(folder / "metrics.jsonl")}


def _log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def train_setup(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("train-kill")
    config, failures = _setup_train(tiny_model_dir, root)
    base = ["train", "--config", str(config), *FAST, "--failures", str(failures), "--out"]
    env = {**os.environ, "COIN_LOG": str(root / "clean.log")}
    subprocess.run(_cli(*base, str(root / "clean")), check=True, capture_output=True, env=env)
    return base, root


@pytest.mark.parametrize("seed", [1, 2])
def test_train_killed_with_sigkill_resumes_to_the_clean_weights(train_setup, tiny_model_dir, tmp_path, seed):
    base, root = train_setup
    clean, killed = root / "clean", tmp_path / "killed"
    env = dict(os.environ)
    kill_at = random.Random(seed).randint(1, 3)
    env["COIN_LOG"] = str(tmp_path / "killed.log")
    proc = subprocess.Popen(_cli(*base, str(killed)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    ckpt = killed / "checkpoints" / f"checkpoint-{kill_at}" / "trainer_state.json"
    assert _kill_when(proc, ckpt.exists)
    env["COIN_LOG"] = str(tmp_path / "resumed.log")
    result = subprocess.run(_cli(*base, str(killed), "--resume"), capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    # The resumed run continues the failure pool and the sampling exactly: the (prompt, retry) pairs it
    # verified are the clean run's from the checkpoint's step on (dynamic sampling draws a varying number per step).
    clean_log, resumed_log = _log(root / "clean.log"), _log(tmp_path / "resumed.log")
    assert len(clean_log) >= 4 * CALLS_PER_STEP
    assert CALLS_PER_STEP <= len(resumed_log) <= len(clean_log) - kill_at * CALLS_PER_STEP
    assert resumed_log == clean_log[len(clean_log) - len(resumed_log) :]
    # Every step's reward, loss, entropy and learning rate match the clean run...
    steps = _per_step(clean)
    assert steps == _per_step(killed) and sorted(steps) == [1, 2, 3, 4]
    assert any((s["reward_std"] or 0) > 0 and s["grad_norm"] > 0 for s in steps.values()), steps  # learning happened
    # ...and so do the final weights (optimizer, scheduler and RNG states came back with the checkpoint).
    a, b = (load_file(d / "model" / "model.safetensors") for d in (clean, killed))
    start = load_file(tiny_model_dir / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], start[k]) for k in a if k in start)
