"""The ``reflectrl`` command line."""

from __future__ import annotations

import errno
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
    from reflectrl.config_file import load_config

    overrides = list(sets or [])
    for key, value in flags.items():
        if value is None:
            continue
        if key == "task_opts":
            for item in value:
                k, sep, v = item.partition("=")
                if not sep:
                    raise ReflectrlError(f"--task-opt {item!r}: expected key=value, e.g. numbers=4")
                if "." in k:
                    raise ReflectrlError(
                        f"--task-opt {item!r}: task options are key=value for the config's task; per benchmark "
                        f"of `forgetting` use --set forgetting.options.{k.strip()}={v}"
                    )
                overrides.append(f"task.options.{k.strip()}={v}")
        else:
            overrides.append(f"{key}={value}")
    return load_config(config, overrides)


@app.command()
def tasks(
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Show one task, e.g. your own: my_task.py:name (loads it).")
    ] = None,
) -> None:
    """List the registered tasks and their options."""
    from reflectrl.console import out
    from reflectrl.tasks import _REGISTRY, get_task, list_tasks

    names = [get_task(task).name] if task else list_tasks()  # a task file registers itself when loaded
    for name in names:
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
    split: Annotated[
        str | None,
        typer.Option(help="test, dev (train problems the boost and mining do not use), train or all (train + test)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="First N problems of the split.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: <out_dir>/eval).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (eval.temperature; 0: greedy).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sequences per generate call.")] = None,
    engine_name: Annotated[
        str | None, typer.Option("--engine", help="Generation engine: hf or vllm (needs vLLM installed).")
    ] = None,
    turns: Annotated[
        int | None, typer.Option(help="K sequential attempts (no oracle): p1@tk, m1@tk and mk@t1 for k <= K.")
    ] = None,
    between_turns: Annotated[
        str | None, typer.Option(help="With --turns: 'reflect' (R3) or 'retry' (RISE's plain retry message).")
    ] = None,
) -> None:
    """First/second try after reflection (with --turns K: p1@tk, m1@tk, mk@t1), 95% CIs; samples.jsonl, summary.json."""
    from reflectrl.console import out as stdout
    from reflectrl.evaluate import eval_identity, evaluate, format_summary
    from reflectrl.pipeline import load
    from reflectrl.rollout import check_engine, make_engine
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
            "eval.temperature": temperature,
            "engine.batch_size": batch_size,
            "engine.name": engine_name,
            "eval.turns": turns,
            "episode.between_turns": between_turns,
        },
    )
    check_engine(cfg.engine)  # before loading the model: a missing vLLM is a one-line error at once
    out_dir = out or Path(cfg.out_dir) / "eval"
    the_task = get_task(cfg.task.name, **cfg.task.options)
    lm, tokenizer = load(cfg, cfg.model.name)
    engine = make_engine(cfg.engine, lm, tokenizer, cfg.model.trust_remote_code)
    identity = eval_identity(cfg, cfg.model.name)
    summary = evaluate(engine, the_task, cfg.eval, cfg.episode, out_dir, identity, cfg.dev_start())
    title = f"{cfg.model.name} on {cfg.task.name} ({cfg.eval.split}, n={summary['n']})"
    stdout.print(format_summary(summary, title), markup=False)  # "[category]" rows are text, not markup
    stdout.print(f"samples: {out_dir / 'samples.jsonl'}")


OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Output folder (default: under the config's out_dir).")
]


@app.command()
def boost(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    task_opt: TaskOptsOpt = None,
    examples: Annotated[int | None, typer.Option(help="Train problems to warm up on.")] = None,
    out: OutOpt = None,
) -> None:
    """Warm-up SFT on verified solutions (and reflection episodes); saves an HF model folder."""
    from reflectrl.console import out as stdout
    from reflectrl.pipeline import run_boost, splits
    from reflectrl.tasks import get_task

    cfg = _config(
        config, sets, **{"model.name": model, "task.name": task, "task_opts": task_opt, "boost.examples": examples}
    )
    the_task = get_task(cfg.task.name, **cfg.task.options)
    folder = run_boost(cfg, the_task, splits(the_task, cfg)[0], out or Path(cfg.out_dir) / "boost")
    stdout.print(f"boosted model: {folder}")


@app.command()
def mine(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    task_opt: TaskOptsOpt = None,
    queries: Annotated[int | None, typer.Option(help="Train queries to mine.")] = None,
    samples: Annotated[int | None, typer.Option(help="First attempts per query.")] = None,
    out: OutOpt = None,
) -> None:
    """The dataset of failures: N first attempts per train query; keeps the failed ones (resumable)."""
    from reflectrl.console import out as stdout
    from reflectrl.pipeline import run_mine, splits
    from reflectrl.tasks import get_task

    flags = {"model.name": model, "task.name": task, "task_opts": task_opt}
    cfg = _config(config, sets, **flags, **{"mine.queries": queries, "mine.samples": samples})
    the_task = get_task(cfg.task.name, **cfg.task.options)
    folder = out or Path(cfg.out_dir) / "mine"
    run_mine(cfg, the_task, cfg.model.name, splits(the_task, cfg)[1], folder)
    stdout.print(f"failures: {folder / 'failures.jsonl'}")


@app.command()
def train(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    task_opt: TaskOptsOpt = None,
    algorithm: Annotated[str | None, typer.Option(help="r3, r3-answer, grpo or rise (see reflectrl/train/).")] = None,
    failures: Annotated[
        Path | None,
        typer.Option(help="failures.jsonl from `reflectrl mine` (grpo, rise: optional; they train on its queries)."),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")] = False,
    out: OutOpt = None,
) -> None:
    """Train: r3 on mined failures; grpo and rise on the mined queries, or without mining on the train split."""
    from reflectrl.console import info
    from reflectrl.console import out as stdout
    from reflectrl.pipeline import load, pin_config, splits
    from reflectrl.tasks import get_task
    from reflectrl.train import get_algorithm, warn_ignored
    from reflectrl.train.pool import Mined

    flags = {"model.name": model, "task.name": task, "task_opts": task_opt}
    cfg = _config(config, sets, **flags, **{"train.algorithm": algorithm, "train.steps": steps})
    train_fn = get_algorithm(cfg.train.algorithm)
    warn_ignored(cfg.train)
    folder = out or Path(cfg.out_dir) / "train"
    failures_file = failures or Path(cfg.out_dir) / "mine" / "failures.jsonl"
    if (folder / "checkpoints").is_dir() and any((folder / "checkpoints").glob("checkpoint-*")) and not resume:
        raise ReflectrlError(f"{folder} already has checkpoints: pass --resume to continue, or choose another --out")
    if (folder / "model" / "config.json").is_file() and not resume:
        raise ReflectrlError(f"{folder} already holds a trained model: choose another --out")
    folder.mkdir(parents=True, exist_ok=True)
    pin_config(folder / "config.yaml", cfg, extendable=("train.steps",))  # --resume keeps the rest
    the_task = get_task(cfg.task.name, **cfg.task.options)
    if failures_file.is_file() or cfg.train.algorithm.startswith("r3"):
        mined = Mined.read(failures_file)
    else:  # grpo and rise need queries, not failures: the train problems mining would use
        mined = Mined(queries=splits(the_task, cfg)[1])
        info(
            f"no {failures_file}: {cfg.train.algorithm} trains on the {len(mined.queries)} train problems that mining "
            "would query (mine.queries)"
        )
    lm, tokenizer = load(cfg, cfg.model.name, training=True)
    final = train_fn(lm, tokenizer, the_task, mined, cfg, folder, resume)
    stdout.print(f"trained model: {final}")


@app.command()
def probe(
    failures: Annotated[
        Path, typer.Option(help="Failed first attempts: failures.jsonl from `mine`, or an eval's samples.jsonl.")
    ],
    config: ConfigOpt = None,
    sets: SetOpt = None,
    model: ModelOpt = None,
    task: TaskOpt = None,
    task_opt: TaskOptsOpt = None,
    limit: Annotated[int | None, typer.Option(help="First N failures of the file.")] = None,
    reflections: Annotated[int | None, typer.Option(help="Reflections per failure (G).")] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="Another model's probe folder on the same failures: report the paired gain.")
    ] = None,
    out: OutOpt = None,
) -> None:
    """What reflections are worth, noise-free: P(retry right) after each of G reflections vs a fresh attempt
    (resumable)."""
    from reflectrl.console import out as stdout
    from reflectrl.jsonl import read_jsonl
    from reflectrl.pipeline import load
    from reflectrl.probe import format_summary, load_failures, probe_identity
    from reflectrl.probe import probe as run_probe
    from reflectrl.rollout import make_engine
    from reflectrl.tasks import get_task

    flags = {"model.name": model, "task.name": task, "task_opts": task_opt}
    cfg = _config(config, sets, **flags, **{"probe.limit": limit, "probe.reflections": reflections})
    if cfg.engine.name != "hf":  # say so before a model loads
        raise ReflectrlError(f"probe scores continuations with the hf engine, not {cfg.engine.name}")
    base_rows = None
    if baseline is not None:
        base_rows = read_jsonl(baseline / "probe.jsonl")
        if not base_rows:
            raise ReflectrlError(f"--baseline {baseline}: no probe.jsonl rows there (run `reflectrl probe` into it)")
    the_task = get_task(cfg.task.name, **cfg.task.options)
    rows = load_failures(failures, the_task, cfg.probe.limit)
    folder = out or Path(cfg.out_dir) / "probe"
    lm, tokenizer = load(cfg, cfg.model.name)
    engine = make_engine(cfg.engine, lm, tokenizer, cfg.model.trust_remote_code)
    identity = probe_identity(cfg, cfg.model.name, failures)
    summary = run_probe(engine, the_task, rows, cfg, folder, identity, base_rows)
    stdout.print(format_summary(summary, f"{cfg.model.name} on {failures}"), markup=False)
    stdout.print(f"probe: {folder / 'probe.jsonl'}")


@app.command()
def run(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    model: ModelOpt = None,
) -> None:
    """The whole method: boost -> eval -> mine -> train -> eval -> report (resumes a killed run)."""
    from reflectrl.console import out as stdout
    from reflectrl.pipeline import run_pipeline

    cfg = _config(config, sets, **{"model.name": model})
    run_pipeline(cfg)
    stdout.print((Path(cfg.out_dir) / "report.md").read_text().split("## All measurements")[0])
    stdout.print(f"report: {Path(cfg.out_dir) / 'report.html'}")


@app.command()
def compare(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    model: ModelOpt = None,
) -> None:
    """Every algorithm from the same starting model at the same token and/or time budget, evaluated over K turns
    (resumable)."""
    from reflectrl.compare import run_compare
    from reflectrl.console import out as stdout

    cfg = _config(config, sets, **{"model.name": model})
    run_compare(cfg)
    stdout.print((Path(cfg.out_dir) / "compare.md").read_text().split("## Plots")[0])
    stdout.print(f"report: {Path(cfg.out_dir) / 'compare.html'}")


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory written by `reflectrl run`.")]) -> None:
    """(Re)write report.md, report.html and plots for a run directory."""
    from reflectrl.console import out as stdout
    from reflectrl.report import write_report

    write_report(run_dir)
    stdout.print(f"report: {run_dir / 'report.md'}, {run_dir / 'report.html'}")


@app.command()
def paired(
    evaluations: Annotated[
        list[str],
        typer.Argument(
            help="BASE then RUN ...: folders written by `reflectrl eval` (samples.jsonl, or an archived "
            "samples.jsonl.gz), each optionally LABEL=FOLDER; BASE may be "
            "one folder per run, comma-separated (LABEL=A,B,...: the same seeds of another setting)."
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Also write the numbers as JSON here.")] = None,
) -> None:
    """Runs minus a baseline on the problems all evaluated (paired CIs, McNemar); with several runs, their mean."""
    from reflectrl.console import out as stdout
    from reflectrl.jsonl import atomic_write_json
    from reflectrl.paired import base_group, compare, format_result, labelled

    result = compare(base_group(evaluations[0]), [labelled(s) for s in evaluations[1:]])
    stdout.print(format_result(result), highlight=False, soft_wrap=True)
    if out is not None:
        atomic_write_json(out, result)


@app.command("forgetting")
def forgetting_cmd(
    model: Annotated[
        list[str],
        typer.Option("--model", "-m", help="Model to evaluate (repeat: the first is the reference A)."),
    ],
    config: ConfigOpt = None,
    sets: SetOpt = None,
    task_opt: TaskOptsOpt = None,
    benchmarks: Annotated[
        str | None,
        typer.Option(
            "--benchmarks",
            "-b",
            help="Comma list (forgetting.benchmarks): gsm8k, math, mmlu (cloze), mmlu_letter, mmlu_pro, hellaswag "
            "(lm-eval) and/or reflectrl task names (countdown, function_calling, file.py:name) for cross-task "
            "first-try accuracy.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="First N items of each benchmark (forgetting.limit); mmlu: N topic-stratified questions."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: <out_dir>/forgetting).")
    ] = None,
) -> None:
    """General benchmarks (lm-eval) and cross-task accuracy for models A, B, ...: scores, B - A, 95% CIs.

    Every setting is in the config's `forgetting` section (--set forgetting.options.mmlu.slice=dev, ...)."""
    from reflectrl.console import out as stdout
    from reflectrl.forgetting import print_table
    from reflectrl.pipeline import run_forgetting_stage

    cfg = _config(
        config,
        sets,
        **{"task_opts": task_opt, "forgetting.limit": limit},
        **({"forgetting.benchmarks": f"[{benchmarks}]"} if benchmarks else {}),
    )
    folder = out or Path(cfg.out_dir) / "forgetting"
    report = run_forgetting_stage(cfg, model, folder)
    print_table(report)
    stdout.print(f"report: {folder / 'forgetting.md'}, {folder / 'forgetting.json'}")
    if not report["benchmarks"]:
        raise ReflectrlError(f"no benchmark had data ({'; '.join(report['skipped'].values())})")


# Flags and forms that moved, so an old command gets one line naming the new one.
MOVED = {
    "forgetting": {
        "--data-dir": "--set forgetting.data_dir=DIR",
        "--online": "--set forgetting.online=true",
        "--num-fewshot": "--set forgetting.num_fewshot=N",
        "--max-gen-toks": "--set forgetting.max_gen_toks=N",
        "--chat-template": "--set forgetting.chat_template=true",
        "--no-chat-template": "--set forgetting.chat_template=false",
        "--batch-size": "--set engine.batch_size=N",
        "--max-new-tokens": "--set forgetting.max_new_tokens=N",
        "--temperature": "--set forgetting.temperature=T",
        "--dtype": "--set model.dtype=DTYPE",
        "--threads": "--set model.threads=N",
    },
}


def check_moved(argv: list[str]) -> None:
    """A one-line error for a flag or form an earlier reflectrl took (see MOVED)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in ("run", "compare"):
        rest = argv[argv.index(command) + 1 :]
        if rest and not rest[0].startswith("-"):
            raise ReflectrlError(
                f"`reflectrl {command}` takes the config as --config: reflectrl {command} --config {rest[0]}"
            )
    for flag, new in MOVED.get(command or "", {}).items():
        if any(a == flag or a.startswith(flag + "=") for a in argv):
            raise ReflectrlError(f"`reflectrl {command} {flag}` is now {new} (settings live in the config)")


def _disk_full(e: BaseException | None) -> bool:
    """ENOSPC anywhere in the exception chain, whichever library raised it (safetensors and torch wrap it)."""
    while e is not None:
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def _close_progress_bars() -> None:
    """A library's progress bar left open by the failure would redraw after the error line at exit: close it."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def main() -> None:
    """Console entry point: user errors are one line (full traceback with --debug)."""
    try:
        check_moved(sys.argv[1:])
        app()
    except ReflectrlError as e:
        if _DEBUG["on"]:
            raise
        _close_progress_bars()
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:
        full = _disk_full(e)
        if _DEBUG["on"] or not (isinstance(e, OSError) or full):
            raise
        if isinstance(e, OSError):
            text = (e.strerror or str(e)) + (f" ({e.filename})" if e.filename else "")
        else:
            text = f"{type(e).__name__}: {e}"
        # Checkpoints are written whole or skipped on resume (train/common.py), so a rerun picks up safely.
        hint = "; free some space and rerun the same command to resume" if full else ""
        _close_progress_bars()
        print(f"error: {text}{hint}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
