"""lm-evaluation-harness in process: run the planned general benchmarks on a loaded model and read back
every item's 0/1 score (our intervals and paired differences are computed from those, not by lm-eval)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from reflectrl.errors import ReflectrlError
from reflectrl.forgetting_benchmarks import BENCHMARKS, BenchmarkPlan


def run_lm_eval(
    lm: Any,
    plans: list[BenchmarkPlan],
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
    """The tasks under an lm-eval group, recursively (``[name]`` for a task that is not a group)."""
    children = group_subtasks.get(name)
    if not children:
        return [name]
    return [leaf for child in children for leaf in _leaves(group_subtasks, child)]


def lm_eval_version() -> str:
    """The installed lm-eval's version, recorded in the report's settings."""
    from importlib.metadata import version

    return version("lm-eval")
