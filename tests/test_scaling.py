"""Scale-out: accelerate configs and 8-GPU presets, sharded mining/eval files, the vLLM server engine, and a
real two-process run (torchrun + gloo on CPU) of mining and R3 training through `accelerate launch`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reflectrl.config_file import load_config
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import read_jsonl
from reflectrl.rollout.engine import Sampling

ROOT = Path(__file__).resolve().parent.parent

COIN_TASK = '''
import hashlib

from reflectrl.tasks import Verdict, register_task
from reflectrl.tasks.countdown import Countdown


@register_task
class Coin(Countdown):
    """Countdown problems with a verifier that succeeds on about half of all texts (deterministically), so a
    random model gets mixed rewards and GRPO steps really change the weights."""

    name = "coin"

    def verify(self, example, completion):
        return Verdict.ok() if hashlib.sha256(completion.encode()).digest()[0] % 2 else Verdict.fail("coin")
'''


@pytest.mark.parametrize("preset", ["r3-1.5b-8gpu", "r3-7b-8gpu"])
def test_presets_parse_and_mirror_the_paper(preset):
    cfg = load_config(ROOT / "configs" / "presets" / f"{preset}.yaml")
    t = cfg.train
    assert (t.algorithm, t.beta, t.learning_rate, t.lr_scheduler, t.temperature) == ("r3", 0.001, 5e-7, "cosine", 0.9)
    assert 8 <= t.num_generations <= 14 and t.steps <= 1750
    assert t.num_generations * t.groups_per_step * 8 == 256, "batch 256 over 8 GPUs"
    assert (cfg.engine.name, cfg.model.dtype, t.precision, cfg.eval.temperature) == ("vllm", "bf16", "auto", 0.9)


@pytest.mark.parametrize(
    "name, kind, stage",
    [("ddp", "MULTI_GPU", None), ("zero2", "DEEPSPEED", 2), ("zero3", "DEEPSPEED", 3), ("fsdp", "FSDP", None)],
)
def test_accelerate_configs_load_with_accelerate(name, kind, stage):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
    assert (cfg.distributed_type.value, cfg.num_processes, cfg.mixed_precision) == (kind, 8, "bf16")
    if stage is not None:
        assert cfg.deepspeed_config["zero_stage"] == stage


def test_engine_vllm_server_settings_are_validated():
    cfg = load_config(None, ["engine.name=vllm", "engine.vllm_mode=server", "engine.vllm_server_url=http://h:9"])
    assert (cfg.engine.vllm_mode, cfg.engine.vllm_server_url) == ("server", "http://h:9")
    with pytest.raises(ReflectrlError, match=r"engine\.vllm_mode"):
        load_config(None, ["engine.vllm_mode=remote"])


def test_single_process_resumes_a_killed_two_process_mine_to_the_same_file(tiny_model_dir, tiny_lm, tmp_path):
    """Part files left by a killed 2-process run (one torn line, one chunk missing) are merged by a later
    1-process run into exactly the file a clean 1-process run writes: same records, same order, no duplicates."""
    from reflectrl.mine import mine
    from reflectrl.rollout.hf import HFEngine
    from reflectrl.tasks import get_task

    model, tok = tiny_lm
    task = get_task("countdown", train_size=20, test_size=2)
    queries = task.load("train")[:10]
    sampling = Sampling(max_new_tokens=6)

    def run(out):
        return mine(HFEngine(model, tok, batch_size=8), task, queries, out, 2, sampling, seed=3, chunk_size=2)

    clean = tmp_path / "clean"
    run(clean)
    records = read_jsonl(clean / "mined.jsonl")
    killed = tmp_path / "killed"
    killed.mkdir()
    # Process r of 2 had chunks r, r+2, ...: rank 0 finished chunks 0 and 2, rank 1 chunk 1 and half a line of 3.
    by_chunk = [records[i : i + 2] for i in range(0, 10, 2)]
    part0 = "".join(json.dumps(r) + "\n" for r in by_chunk[0] + by_chunk[2])
    part1 = "".join(json.dumps(r) + "\n" for r in by_chunk[1]) + json.dumps(by_chunk[3][0])[:40]
    (killed / "mined.part-0.jsonl").write_text(part0)
    (killed / "mined.part-1.jsonl").write_text(part1)
    stats = run(killed)
    assert (killed / "mined.jsonl").read_text() == (clean / "mined.jsonl").read_text()
    assert not list(killed.glob("mined.part-*"))
    assert stats == run(clean)
    assert (killed / "failures.jsonl").read_text() == (clean / "failures.jsonl").read_text()


class FakeClient:
    """What TRL's VLLMClient.generate returns: k completions per prompt, prompt-major."""

    def __init__(self, eos: int):
        self.eos = eos
        self.calls: list[dict] = []

    def generate(self, prompts, n, max_tokens, generation_kwargs, **kw):
        self.calls.append({"prompts": prompts, "n": n, "max_tokens": max_tokens, **generation_kwargs, **kw})
        out = []
        for p in prompts:
            for j in range(n):
                ids = [p[-1], j + 5] + ([self.eos] if j % 2 == 0 else [j + 6, j + 7])
                out.append(ids[:max_tokens])
        return {"completion_ids": out, "prompt_ids": prompts}


def test_server_engine_maps_requests_and_completions(tiny_lm):
    from reflectrl.rollout.vllm import VLLMServerEngine

    _, tok = tiny_lm
    eos = tok.eos_token_id
    client = FakeClient(eos)
    engine = VLLMServerEngine(client, tok, {eos})
    seen = []
    sampling = Sampling(max_new_tokens=4, temperature=0.7)
    out = engine.generate([[10, 11], [12]], 3, sampling, 5, lambda s, t: seen.append((s, t)))
    call = client.calls[0]
    assert (call["n"], call["temperature"], call["seed"], call["stop_token_ids"]) == (3, 0.7, 5, [eos])
    assert call["logprobs"] == 0 and call["prompts"] == [[10, 11], [12]]  # the sampled tokens' logprobs
    assert [[s.token_ids for s in g] for g in out] == [
        [[11, 5, eos], [11, 6, 7, 8], [11, 7, eos]],
        [[12, 5, eos], [12, 6, 7, 8], [12, 7, eos]],
    ]
    assert [[s.finished for s in g] for g in out] == [[True, False, True]] * 2
    assert seen == [(6, 20)]
    greedy = engine.generate([[10]], 3, Sampling(max_new_tokens=4, temperature=0), 0)
    assert client.calls[-1]["n"] == 1 and [s.token_ids for s in greedy[0]] == [[10, 5, eos]] * 3


def _r3_trainer_with_server(tiny_model_dir, tmp_path, timeout: float):
    from reflectrl.models import load_model
    from reflectrl.tasks import get_task
    from reflectrl.train.pool import Mined
    from reflectrl.train.r3 import train_r3

    cfg = load_config(
        None,
        [
            "engine.name=vllm",
            "engine.vllm_mode=server",
            "engine.vllm_server_url=http://127.0.0.1:9",  # discard port: nothing listens there
            f"engine.vllm_server_timeout={timeout}",
            "train.num_generations=2",
            "train.groups_per_step=1",
            "train.report_to=[none]",
        ],
    )
    model, tok = load_model(str(tiny_model_dir), dtype="fp32", device="cpu")
    task = get_task("countdown", train_size=4, test_size=1)
    ex = task.load("train")[0]
    failures = [
        {"id": "q/0", "query_id": "q", "example": ex, "prompt": task.messages(ex), "attempt": "x", "reason": "r"}
    ]
    failures[0]["query_success_rate"] = 0.0
    return train_r3(model, tok, task, Mined(failures=failures), cfg, tmp_path)


def test_server_mode_without_vllm_is_one_line(tiny_model_dir, tmp_path):
    from reflectrl.rollout.vllm import vllm_available

    if vllm_available():
        pytest.skip("vLLM is installed here")
    with pytest.raises(ReflectrlError, match="needs vLLM"):
        _r3_trainer_with_server(tiny_model_dir, tmp_path, 0)


def test_server_mode_with_no_server_names_the_url_and_the_command(tiny_model_dir, tmp_path, monkeypatch):
    """TRL's VLLMClient (our server engine's client) finds no server; the user gets one line."""
    import trl.generation.vllm_client as client_mod

    monkeypatch.setattr(client_mod, "is_vllm_available", lambda *a, **k: True, raising=False)
    with pytest.raises(ReflectrlError, match=r"no vLLM server answers at http://127.0.0.1:9 .*vllm serve"):
        _r3_trainer_with_server(tiny_model_dir, tmp_path, 0)


def _launch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "configs" / "accelerate" / "cpu2.yaml"),
        "--main_process_port", str(29500 + os.getpid() % 1000),
        "-m", "reflectrl", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_mine_like_one_and_train_in_lockstep(tiny_model_dir, tmp_path):
    """`accelerate launch` with 2 CPU processes (gloo): mining gives exactly the records of a 1-process run
    (no loss, no duplicates), and both processes hold identical weights after each R3 step, which changed them."""
    (tmp_path / "coin.py").write_text(COIN_TASK)
    cfg = {
        "out_dir": str(tmp_path / "run"),
        "model": {"name": str(tiny_model_dir), "threads": 1},
        "task": {"name": f"{tmp_path / 'coin.py'}:coin", "options": {"train_size": 40, "test_size": 4}},
        "episode": {"max_attempt_tokens": 6, "max_reflection_tokens": 6, "max_retry_tokens": 6},
        "boost": {"enabled": False},
        "mine": {"queries": 10, "samples": 2, "chunk_size": 2},
        "train": {"steps": 2, "num_generations": 4, "groups_per_step": 1, "learning_rate": 1e-2, "beta": 0.0},
    }
    cfg["train"].update(report_to=["none"], save_steps=1, scale_rewards="none")
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "reflectrl", "mine", "-c", str(config), "--out", str(tmp_path / "one")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    two = _launch("mine", "-c", str(config), "--out", str(tmp_path / "two"), env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "4/4" in two.stdout + two.stderr and "6/6" in two.stdout + two.stderr, "each process mined its share"
    mined = read_jsonl(tmp_path / "two" / "mined.jsonl")
    assert len(mined) == len({r["id"] for r in mined}) == 10
    for name in ("mined.jsonl", "failures.jsonl", "stats.json"):
        assert (tmp_path / "two" / name).read_text() == (tmp_path / "one" / name).read_text(), name
    assert not list((tmp_path / "two").glob("*.part-*"))
    stats = yaml.safe_load((tmp_path / "two" / "stats.json").read_text())
    assert 0 < stats["successes"] < stats["attempts"], "the coin verifier gives mixed results"

    hashes = tmp_path / "hashes"
    out = tmp_path / "train"
    env["REFLECTRL_WEIGHTS_HASH_DIR"] = str(hashes)
    train = _launch("train", "-c", str(config), "--failures", str(tmp_path / "two" / "failures.jsonl"),
                    "--out", str(out), env=env)  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    per_step = [{(hashes / f"rank{r}-step{s}.sha256").read_text() for r in (0, 1)} for s in (0, 1, 2)]
    assert all(len(h) == 1 for h in per_step), f"processes disagree on the weights: {per_step}"
    assert len(set.union(*per_step)) == 3, "every step changed the weights"
    steps = [r["step"] for r in read_jsonl(out / "metrics.jsonl") if "loss" in r]
    assert steps == [1, 2], "metrics written once per step, by the main process"
    assert (out / "model" / "config.json").is_file() and not list(out.glob(".model.*"))
    # The token budget counts both processes' samples, so both stop at the same step.
    logged = [r["generated_tokens"] for r in read_jsonl(out / "metrics.jsonl") if "loss" in r]
    # (a step that trains only the groups carried from the last one generates nothing new)
    assert json.loads((out / "generated_tokens.json").read_text())["generated_tokens"] == logged[-1] >= logged[0] > 0


FSDP2_SCRIPT = """
import sys, torch, torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from accelerate import Accelerator
from reflectrl.config_file import load_config
from reflectrl.models import load_model
from reflectrl.train.loop import accumulate_gradients
from reflectrl.train.packing import Group

model_dir, out = sys.argv[1], sys.argv[2]
accelerator = Accelerator(cpu=True)  # the gloo process group
cfg = load_config(None, ["train.beta=0.0", "train.scale_rewards=none"]).train
g = torch.Generator().manual_seed(0)
ids = lambda n: torch.randint(5, 300, (n,), generator=g).tolist()
groups = [Group(ids(6), [ids(4), ids(3)], [[1] * 4, [1] * 3], [1.0, 0.0], [None, None]) for _ in range(2)]

whole, tok = load_model(model_dir, dtype="fp32", device="cpu")
sharded, _ = load_model(model_dir, dtype="fp32", device="cpu")
mesh = init_device_mesh("cpu", (2,))
for layer in sharded.model.layers:
    fully_shard(layer, mesh=mesh)
fully_shard(sharded, mesh=mesh)
assert type(next(sharded.parameters())).__name__ == "DTensor"
a = accumulate_gradients(whole, None, groups, cfg, 8, accelerator)
b = accumulate_gradients(sharded, None, groups, cfg, 8, accelerator)
assert abs(a["loss"] - b["loss"]) < 1e-6, (a, b)
for (name, p), q in zip(whole.named_parameters(), sharded.parameters(), strict=True):
    torch.testing.assert_close(q.grad.full_tensor(), p.grad, rtol=1e-4, atol=1e-6, msg=name)
open(f"{out}/rank{dist.get_rank()}.ok", "w").write("ok")
dist.barrier()
dist.destroy_process_group()  # gloo's threads torn down before exit (else: "terminate called ...", SIGABRT)
"""


def test_fsdp2_sharded_update_matches_one_process(tiny_model_dir, tmp_path):
    """2 CPU processes (gloo) with the policy sharded by torch's FSDP2 ``fully_shard``: our update's loss and
    gradient (packed groups, trained positions only) equal one unsharded process's.
    (accelerate 1.15 applies an FSDP launch config only on accelerators; on CPUs it runs DDP: docs/SCALING.md.)"""
    script = tmp_path / "fsdp2.py"
    script.write_text(FSDP2_SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port"]
    cmd += [str(29600 + os.getpid() % 1000), str(script), str(tiny_model_dir), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for _ in range(3):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        # About 1 launch in 8 a process aborts inside torch's gloo/FSDP2 C++ threads on this CPU ("terminate called
        # without an active exception", no Python traceback): a known-unknown of FSDP2 on CPUs, not of our update
        # (accelerate never runs FSDP on CPUs). Relaunch then; any Python failure (a wrong gradient) fails at once.
        if (
            "terminate called without an active exception" not in result.stderr
            or "Traceback (most recent" in (result.stderr.split("terminate called")[0])
        ):
            break
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "rank0.ok").is_file() and (tmp_path / "rank1.ok").is_file()


def test_sharded_evaluation_merges_to_the_single_process_file(tiny_lm, tmp_path, monkeypatch):
    """Evaluation split over 2 processes (simulated in turn: rank 1, then rank 0, which merges) writes the
    same samples.jsonl and summary as one process."""
    import types

    import reflectrl.distributed as dist
    from reflectrl.evaluate import evaluate
    from reflectrl.rollout.hf import HFEngine
    from reflectrl.tasks import get_task

    model, tok = tiny_lm
    task = get_task("countdown", train_size=2, test_size=7)
    cfg = load_config(None, ["eval.limit=7", "eval.chunk_size=2", "episode.max_attempt_tokens=5"])
    cfg.episode.max_reflection_tokens = cfg.episode.max_retry_tokens = 5

    def run(out):
        return evaluate(HFEngine(model, tok, batch_size=8), task, cfg.eval, cfg.episode, out, {"m": 1})

    single = run(tmp_path / "one")
    monkeypatch.setattr(dist, "world_size", lambda: 2)
    monkeypatch.setattr(dist, "_state", lambda: types.SimpleNamespace(wait_for_everyone=lambda: None))
    for r in (1, 0):
        monkeypatch.setattr(dist, "rank", lambda r=r: r)
        sharded = run(tmp_path / "two")
    assert (tmp_path / "two" / "samples.jsonl").read_text() == (tmp_path / "one" / "samples.jsonl").read_text()
    assert {k: v for k, v in sharded.items() if k != "generated_tokens_this_session"} == {
        k: v for k, v in single.items() if k != "generated_tokens_this_session"
    }
    assert not list((tmp_path / "two").glob("*.part-*"))
