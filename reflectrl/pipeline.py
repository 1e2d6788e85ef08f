"""``reflectrl run``: boost -> baseline eval -> mine -> train -> final eval -> report.

Every stage writes into the run directory and is skipped when its output is complete, so a killed
run continues where it stopped (the eval and mining stages also resume mid-stage, training from its
last checkpoint).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from reflectrl.config import RENAMED, RunConfig
from reflectrl.config_file import dump_config, flatten
from reflectrl.console import info
from reflectrl.distributed import barrier, is_main
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import atomic_write_json, atomic_write_text
from reflectrl.tasks import Example, Task, get_task


def splits(task: Task, cfg: RunConfig) -> tuple[list[Example], list[Example]]:
    """Disjoint slices of the train split: the warm-up's problems, then the mining queries."""
    train = task.load("train")
    boost_n = cfg.boost.examples if cfg.boost.enabled else 0
    need = cfg.dev_start()
    if len(train) < need:
        raise ReflectrlError(
            f"the train split has {len(train)} problems but boost.examples + mine.queries = {need}; "
            "raise the task's train_size or lower those settings"
        )
    return train[:boost_n], train[boost_n:need]


def load(cfg: RunConfig, name: str, training: bool = False):
    """``name`` for inference in ``model.dtype``, or for training with fp32 master weights (train/precision.py),
    with the config's model options (trust_remote_code, chat_template_kwargs, ...)."""
    from reflectrl.models import load_model

    m = cfg.model
    return load_model(name, "fp32" if training else m.dtype, m.device, m.threads, m)


def run_eval(cfg: RunConfig, task: Task, model_name: str, out: Path, label: str) -> dict[str, Any]:
    from reflectrl.evaluate import eval_identity, evaluate, format_summary
    from reflectrl.rollout import make_engine

    model, tok = load(cfg, model_name)
    engine = make_engine(cfg.engine, model, tok, cfg.model.trust_remote_code)
    summary = evaluate(engine, task, cfg.eval, cfg.episode, out, eval_identity(cfg, model_name), cfg.dev_start())
    info(format_summary(summary, f"{label} ({cfg.eval.split}, n={summary['n']})"))
    return summary


def run_boost(cfg: RunConfig, task: Task, problems: list[Example], out: Path) -> str:
    from reflectrl.train.boost import boost
    from reflectrl.train.common import drop_checkpoints

    final = out / "model"
    if not (final / "config.json").is_file():
        model, tok = load(cfg, cfg.model.name, training=True)
        boost(model, tok, task, problems, cfg.boost, cfg.episode, out)
    drop_checkpoints(out, cfg.boost.keep_checkpoints)  # again on a rerun: a kill may have come before the boost's
    return str(final)


def run_mine(cfg: RunConfig, task: Task, model_name: str, queries: list[Example], out: Path) -> dict[str, Any]:
    from reflectrl.mine import format_stats, mine
    from reflectrl.rollout import make_engine

    model, tok = load(cfg, model_name)
    engine = make_engine(cfg.engine, model, tok, cfg.model.trust_remote_code)
    sampling = cfg.episode.sampling("attempt", cfg.train)  # the failures training learns from: its sampling
    stats = mine(engine, task, queries, out, cfg.mine.samples, sampling, cfg.mine.seed, cfg.mine.chunk_size, model_name)
    info("mined: " + format_stats(stats))
    return stats


def run_train(cfg: RunConfig, task: Task, model_name: str, mine_dir: Path, out: Path) -> str:
    from reflectrl.train import get_algorithm, warn_ignored
    from reflectrl.train.common import drop_checkpoints
    from reflectrl.train.pool import Mined

    final = out / "model"
    if not (final / "config.json").is_file():
        train = get_algorithm(cfg.train.algorithm)
        warn_ignored(cfg.train)
        model, tok = load(cfg, model_name, training=True)
        train(model, tok, task, Mined.read(mine_dir / "failures.jsonl"), cfg, out)
    drop_checkpoints(out, cfg.train.keep_checkpoints)  # again on a rerun: a kill may have come before training's
    return str(final)


def run_forgetting_stage(cfg: RunConfig, models: list[str], out: Path, labels: list[str] | None = None):
    """Forgetting of ``models`` (the first is the reference) as ``cfg.forgetting`` and the model options say."""
    from reflectrl.forgetting import run_forgetting

    f = cfg.forgetting
    options = {name: dict(opts) for name, opts in f.options.items()}
    if cfg.task.name in f.benchmarks:  # the run's own task, cross-task: with the run's task options
        options[cfg.task.name] = {**cfg.task.options, **options.get(cfg.task.name, {})}
    return run_forgetting(
        models,
        f.benchmarks,
        f.limit,
        f.data_dir,
        out,
        online=f.online,
        labels=labels,
        num_fewshot=f.num_fewshot,
        max_gen_toks=f.max_gen_toks,
        chat_template=f.chat_template,
        batch_size=cfg.engine.batch_size,
        task_options=options,
        max_new_tokens=f.max_new_tokens,
        temperature=f.temperature,
        dtype=cfg.model.dtype,
        device=cfg.model.device,
        threads=cfg.model.threads,
        model_options=cfg.model,
    )


def run_pipeline(cfg: RunConfig) -> dict[str, Any]:
    from reflectrl.train import get_algorithm

    get_algorithm(cfg.train.algorithm)  # an unknown algorithm fails now, not after the boost and mining
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pin_config(out / "config.yaml", cfg)
    task = get_task(cfg.task.name, **cfg.task.options)
    boost_problems, mine_queries = splits(task, cfg)
    timings: dict[str, float] = (
        json.loads((out / "timings.json").read_text()) if (out / "timings.json").exists() else {}
    )

    def stage(name: str, fn, *args):
        info(f"[bold]stage {name}[/]")
        started = time.time()
        result = fn(*args)
        timings[name] = timings.get(name, 0.0) + time.time() - started
        if is_main():  # under `accelerate launch` the main process writes the run's own files
            atomic_write_json(out / "timings.json", timings)
        return result

    start_model = cfg.model.name
    if cfg.eval.shipped and cfg.boost.enabled:
        stage("eval-shipped", run_eval, cfg, task, cfg.model.name, out / "eval-shipped", "shipped model")
    if cfg.boost.enabled:
        start_model = stage("boost", run_boost, cfg, task, boost_problems, out / "boost")
    stage("eval-start", run_eval, cfg, task, start_model, out / "eval-start", "starting model")
    stage("mine", run_mine, cfg, task, start_model, mine_queries, out / "mine")
    trained = stage("train", run_train, cfg, task, start_model, out / "mine", out / "train")
    stage("eval-trained", run_eval, cfg, task, trained, out / "eval-trained", "trained model")
    if cfg.forgetting.enabled and not (out / "forgetting" / "forgetting.json").is_file():
        models, labels = [start_model, trained], ["start", "trained"]
        stage("forgetting", main_only, run_forgetting_stage, cfg, models, out / "forgetting", labels)

    from reflectrl.report import write_report

    return stage("report", main_only, write_report, out)


def main_only(fn, *args):
    """Run ``fn`` on the main process only (others wait, then read what it wrote)."""
    result = fn(*args) if is_main() else None
    barrier()
    return result


# What a run keeps on disk, not what it computes.
UNPINNED = {"boost.keep_checkpoints", "train.keep_checkpoints", "train.snapshot_every"}


def _changed_keys(pinned: str, cfg: RunConfig) -> list[str]:
    """The keys whose values differ from the pinned config's. A key the pinned file lacks counts only when its
    value here is not the default: a setting added by a later version does not orphan an older run."""
    import yaml

    old = {RENAMED.get(k, k): v for k, v in flatten(yaml.safe_load(pinned) or {}).items()}  # pinned before a rename
    new = flatten(cfg.model_dump(mode="json"))
    default = flatten(RunConfig().model_dump(mode="json"))
    changed = []
    for key in sorted((set(old) | set(new)) - UNPINNED):
        was, now = old.get(key, default.get(key, "unset")), new.get(key, "unset")
        if was != now:
            changed.append(f"{key}: {was!r} -> {now!r}")
    return changed


def pin_config(path: Path, cfg: RunConfig, extendable: tuple[str, ...] = ()) -> None:
    """A run directory belongs to one config; resuming with another would silently mix results. Keys in
    ``extendable`` may change (``reflectrl train --resume`` with more train.steps): the pin is then rewritten."""
    text = dump_config(cfg)
    pinned = path.read_text() if path.exists() else None
    changed = _changed_keys(pinned, cfg) if pinned not in (None, text) else []
    if refused := [c for c in changed if c.split(":")[0] not in extendable]:
        raise ReflectrlError(
            f"{path.parent} holds a run with a different config ({path}: {', '.join(refused[:5])}); use another "
            "out_dir, or delete the folder"
        )
    if (pinned is None or changed) and is_main():
        atomic_write_text(path, text)
