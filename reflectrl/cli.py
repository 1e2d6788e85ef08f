"""The ``reflectrl`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from reflectrl.errors import ReflectrlError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Reflect, Retry, Reward: teach a language model to learn from its own mistakes.",
)
_DEBUG = {"on": False}

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML run config (see configs/).")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config key: --set eval.limit=100 (repeatable).")
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="'default' (embedded SmolLM2-135M-Instruct), a folder or hub id."),
]
TaskOpt = Annotated[str | None, typer.Option("--task", "-t", help="Task name (see `reflectrl tasks`).")]
TaskOptsOpt = Annotated[
    list[str] | None,
    typer.Option("--task-opt", help="Task option key=value, e.g. --task-opt numbers=4 (repeatable)."),
]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False) -> None:
    _DEBUG["on"] = debug
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _config(config: Path | None, sets: list[str] | None, **flags: Any):
    """The run config from a file, then --set overrides, then the explicit flags."""
    from reflectrl.config import load_config

    overrides = list(sets or [])
    for key, value in flags.items():
        if value is None:
            continue
        if key == "task_opts":
            for item in value:
                k, sep, v = item.partition("=")
                if not sep:
                    raise ReflectrlError(f"--task-opt {item!r}: expected key=value, e.g. numbers=4")
                overrides.append(f"task.options.{k.strip()}={v}")
        else:
            overrides.append(f"{key}={value}")
    return load_config(config, overrides)


@app.command()
def tasks() -> None:
    """List the registered tasks and their options."""
    from reflectrl.console import out
    from reflectrl.tasks import _REGISTRY, list_tasks

    for name in list_tasks():
        cls = _REGISTRY[name]
        out.print(f"[bold]{name}[/]  {(cls.__doc__ or '').strip().splitlines()[0] if cls.__doc__ else ''}")
        for field, info in cls.Options.model_fields.items():
            out.print(f"    {field} = {info.default!r}  {info.description or ''}", highlight=False)


@app.command("eval")
def eval_cmd(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    task_opt: TaskOptsOpt = None,
    split: Annotated[str | None, typer.Option(help="train or test.")] = None,
    limit: Annotated[int | None, typer.Option(help="First N problems of the split.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: <out_dir>/eval).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sequences per generate call.")] = None,
) -> None:
    """First try and second try after reflection, with 95% CIs; writes samples.jsonl and summary.json."""
    from reflectrl.console import out as stdout
    from reflectrl.evaluate import evaluate, format_summary
    from reflectrl.models import load_model
    from reflectrl.rollout import make_engine
    from reflectrl.tasks import get_task

    cfg = _config(
        config,
        sets,
        **{
            "model.name": model,
            "task.name": task,
            "task_opts": task_opt,
            "eval.split": split,
            "eval.limit": limit,
            "eval.seed": seed,
            "episode.temperature": temperature,
            "engine.batch_size": batch_size,
        },
    )
    out_dir = out or Path(cfg.out_dir) / "eval"
    the_task = get_task(cfg.task.name, **cfg.task.options)
    lm, tokenizer = load_model(cfg.model.name, cfg.model.dtype, cfg.model.device, cfg.model.threads)
    engine = make_engine(cfg.engine, lm, tokenizer)
    identity = {
        "model": cfg.model.name,
        "task": cfg.task.model_dump(mode="json"),
        "episode": cfg.episode.model_dump(mode="json"),
        "eval": cfg.eval.model_dump(mode="json", exclude={"limit", "chunk_size"}),
    }
    summary = evaluate(engine, the_task, cfg.eval, cfg.episode, out_dir, identity)
    title = f"{cfg.model.name} on {cfg.task.name} ({cfg.eval.split}, n={summary['n']})"
    stdout.print(format_summary(summary, title), markup=False)  # "[category]" rows are text, not markup
    stdout.print(f"samples: {out_dir / 'samples.jsonl'}")


def main() -> None:
    """Console entry point: user errors are one line (full traceback with --debug)."""
    try:
        app()
    except ReflectrlError as e:
        if _DEBUG["on"]:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        if _DEBUG["on"]:
            raise
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
