"""The R3 update: TRL's GRPOTrainer (reflectrl's path before its own loop) against ours, on the same recorded
rollouts, and end to end against the previous release.

    # update alone: record R3 groups from a boosted model, then time both updates on them
    .venv/bin/python benchmarks/train_step.py update --model RUN/boost/model --failures RUN/mine/failures.jsonl
    # end to end: `reflectrl train` on the default config, the previous release (a checkout) then this one
    .venv/bin/python benchmarks/train_step.py end-to-end --model ... --failures ... --old-src /tmp/old-src

``update`` records ``--steps`` steps of ``train.groups_per_step`` groups with dynamic sampling off (as the old
path drew them) and keeps them in ``--out``. TRL's path trains every recorded group (micro-batches of 4, its
default then); ours trains the informative ones, as dynamic sampling would have sent them, and, to separate
the two savings, every group too. Reported: update seconds per step and per informative group.

``end-to-end`` runs ``reflectrl train`` for ``--train-steps`` steps with each code base, one after the other on
the same machine and threads, and reports informative groups trained per minute of the train command.
Record the output in docs/BENCHMARKS.md with the machine's CPU flags.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # trl_reference.py: TRL's GRPOTrainer on recorded groups

from reflectrl.config_file import load_config  # noqa: E402
from reflectrl.jsonl import read_jsonl  # noqa: E402
from reflectrl.models import cpu_flags, load_model  # noqa: E402
from reflectrl.train.packing import Group  # noqa: E402


def record(args, cfg) -> list[list[Group]]:
    from dataclasses import asdict

    from reflectrl.rollout import make_engine
    from reflectrl.tasks import get_task
    from reflectrl.train.r3 import ReflectRetry

    cache = args.out / "recorded.json"
    if cache.is_file():
        return [[Group(**g) for g in step] for step in json.loads(cache.read_text())]
    model, tok = load_model(args.model, "auto", "cpu", args.threads)
    task = get_task(cfg.task.name, **cfg.task.options)
    rollout = ReflectRetry(task, read_jsonl(args.failures), cfg.episode, cfg.train)
    engine = make_engine(cfg.engine, model, tok)
    steps = []
    for step in range(args.steps):
        started = time.perf_counter()
        groups, _ = rollout.sample(engine, rollout.pool.draw(cfg.train.groups_per_step), seed=step)
        steps.append(groups)
        seconds = time.perf_counter() - started
        print(f"recorded step {step + 1}: rewards {[g.rewards for g in groups]} ({seconds:.0f} s)")
    cache.write_text(json.dumps([[asdict(g) for g in step] for step in steps]))
    return steps


def time_trl(args, cfg, steps) -> list[float]:
    from transformers import TrainerCallback
    from trl_reference import trl_trainer

    model, tok = load_model(args.model, "fp32", "cpu", args.threads)
    tc = cfg.train.model_copy(update={"micro_batch_size": 4})  # the old path's default
    trainer = trl_trainer(model, tok, steps, tc, args.out / "trl", cfg.episode.max_reflection_tokens)
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.started = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.started)

    trainer.add_callback(Clock())
    trainer.train()
    return times


def time_ours(args, cfg, steps, informative_only: bool) -> list[float]:
    from accelerate import Accelerator

    from reflectrl.train.loop import _forget_accelerator_state, update
    from reflectrl.train.precision import prepare_for_training

    model, _ = load_model(args.model, "fp32", "cpu", args.threads)
    setting = prepare_for_training(model, cfg.train.precision, "train.precision")
    _forget_accelerator_state()
    accelerator = Accelerator(mixed_precision="bf16" if setting["bf16"] else "no", cpu=True)
    reference = copy.deepcopy(model).eval().requires_grad_(False) if cfg.train.beta else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.learning_rate, weight_decay=0)
    model, optimizer = accelerator.prepare(model, optimizer)
    times = []
    for groups in steps:
        groups = [g for g in groups if g.informative] if informative_only else groups
        started = time.perf_counter()
        if groups:
            max_len = cfg.episode.max_reflection_tokens
            update(model, reference, groups, cfg.train, max_len, accelerator, optimizer, "sdpa")
        times.append(time.perf_counter() - started)
    return times


def bench_update(args) -> None:
    cfg = load_config(ROOT / "configs" / "countdown-default.yaml", ["train.report_to=[none]"])
    steps = record(args, cfg)
    informative = sum(g.informative for step in steps for g in step)
    groups = sum(len(step) for step in steps)
    prefix = [len(g.prefix) for step in steps for g in step]
    completions = [len(c) for step in steps for g in step for c in g.completions]
    prefix_mean, completion_mean = sum(prefix) / len(prefix), sum(completions) / len(completions)
    print(f"{len(steps)} steps, {groups} groups, {informative} informative; prefix tokens mean {prefix_mean:.0f}, "
          f"reflection tokens mean {completion_mean:.0f}")  # fmt: skip
    results = {}
    for name, run in [
        ("trl (all groups)", lambda: time_trl(args, cfg, steps)),
        ("ours (informative groups)", lambda: time_ours(args, cfg, steps, True)),
        ("ours (all groups)", lambda: time_ours(args, cfg, steps, False)),
    ]:
        times = run()
        results[name] = times
        each = ", ".join(f"{t:.1f}" for t in times)
        print(f"{name:28s} total {sum(times):7.1f} s, per step {sum(times) / len(times):6.2f} s, "
              f"per informative group {sum(times) / informative:6.2f} s  ({each})")  # fmt: skip
    base = sum(results["trl (all groups)"]) / informative
    for name, times in results.items():
        print(f"  {name}: {base / (sum(times) / informative):.2f}x fewer update seconds per informative group")
    (args.out / "update.json").write_text(json.dumps({"informative": informative, "groups": groups, **results}))


def train_run(src: Path, args, out: Path) -> dict:
    cmd = [sys.executable, "-m", "reflectrl", "train", "-c", "configs/countdown-default.yaml", "--model", args.model]
    cmd += ["--failures", str(args.failures), "--steps", str(args.train_steps), "--out", str(out)]
    cmd += ["--set", "train.report_to=[none]"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(src)}
    started = time.perf_counter()
    subprocess.run(cmd, cwd=src, env=env, check=True)
    wall = time.perf_counter() - started
    records = read_jsonl(out / "metrics.jsonl")
    if any("groups_trained" in m for m in records):  # ours: a step may train groups carried from the last one
        metrics = records
        trained = informative = sum(m.get("groups_trained", 0) for m in records)
        drawn = sum(m.get("groups_drawn", 0) for m in records)
    else:  # the TRL path trained every drawn group, informative or not
        metrics = [m for m in records if "frac_reward_zero_std" in m]
        per_step = 2  # the default config's train.groups_per_step
        trained = drawn = per_step * len(metrics)
        informative = sum(per_step * (1 - m["frac_reward_zero_std"]) for m in metrics)
    return {
        "wall_s": round(wall, 1),
        "steps": len(metrics),
        "groups_drawn": drawn,
        "groups_trained": trained,
        "informative_trained": informative,
        "informative_per_min": round(informative / (wall / 60), 3),
        "step_time_s": round(sum(m["step_time"] for m in metrics), 1),
    }


def bench_end_to_end(args) -> None:
    results = {}
    if args.reuse_previous:  # the previous release's run, measured before on this machine
        key = "previous (TRL GRPOTrainer)"
        results[key] = json.loads(args.reuse_previous.read_text())[key]
        print(key, results[key], "(reused)", flush=True)
    runs = [("previous (TRL GRPOTrainer)", args.old_src), ("ours", ROOT)][1 if args.reuse_previous else 0 :]
    for name, src in runs:
        out = args.out / name.split()[0]
        if (out / "metrics.jsonl").is_file():
            raise SystemExit(f"{out} exists: choose another --out")
        results[name] = train_run(Path(src), args, out)
        print(name, results[name], flush=True)
    old, new = (results[k]["informative_per_min"] for k in results)
    print(f"informative groups trained per minute: {old} -> {new} ({new / old:.2f}x)")
    (args.out / "end_to_end.json").write_text(json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["update", "end-to-end"])
    parser.add_argument("--model", required=True, help="the starting (boosted) model folder")
    parser.add_argument("--failures", type=Path, required=True, help="failures.jsonl mined from it")
    parser.add_argument("--out", type=Path, default=Path("/tmp/train-step-bench"))
    parser.add_argument("--steps", type=int, default=8, help="update: recorded steps")
    parser.add_argument("--train-steps", type=int, default=20, help="end-to-end: reflectrl train --steps")
    parser.add_argument("--old-src", type=Path, help="end-to-end: a checkout of the previous release")
    parser.add_argument("--reuse-previous", type=Path, help="end-to-end: an end_to_end.json with that run")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    flags = " ".join(f for f in ("avx512_bf16", "amx_bf16", "avx2") if f in cpu_flags())
    machine = platform.processor() or platform.machine()
    print(f"{machine}, {os.cpu_count()} cores, flags: {flags}; torch {torch.__version__}")
    bench_update(args) if args.part == "update" else bench_end_to_end(args)


if __name__ == "__main__":
    main()
