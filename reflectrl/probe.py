"""What a model's reflections are worth, without sampling noise (``reflectrl probe``).

For each failed first attempt (from an eval's ``samples.jsonl`` or mine's ``failures.jsonl``), the model writes G
reflections, and for each the probability that the retry after it is a reference answer is computed exactly
(``Engine.score``), as is the probability that a fresh first attempt is (in the verifier-feedback variant: a retry
after the feedback alone, eval's fair baseline). Their paired difference says whether reflecting beats resampling
on these failures; a sampled evaluation needs thousands of episodes for the same resolution. Probing two models on
the same failures (``--baseline``) says whether training made the reflections worth more.
``probe.reflection_temperature`` samples the reflections alone at another temperature (greedy included).

The hollow-gain guard: a reflection that holds an answer (``reflections.leaked_answer``) lifts the retry by being
copied; the summary gives their share and retry − fresh over the other reflections alone.

Writes ``probe.jsonl`` (one line per failure, appended as it goes: a killed probe resumes) and ``summary.json``.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from reflectrl.config import RunConfig
from reflectrl.console import progress
from reflectrl.distributed import check_identity
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import JsonlWriter, atomic_write_json, read_jsonl
from reflectrl.reflections import leaked_answer
from reflectrl.rollout.engine import Engine
from reflectrl.rollout.episode import (
    after_attempt,
    attempt_prompt,
    continue_chat,
    reference_probability,
    reflection_context,
)
from reflectrl.stats import paired_diff_ci
from reflectrl.tasks import Task
from reflectrl.tasks.base import stable_hash


def load_failures(path: Path, task: Task, limit: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` failures of a failures.jsonl (as mined) or of an eval's samples.jsonl (its failed first
    attempts, the problems looked up by id in the task's splits)."""
    if not Path(path).is_file():
        raise ReflectrlError(f"{path}: no such file (give a failures.jsonl from `mine` or an eval's samples.jsonl)")
    rows = read_jsonl(path, input_file=True)
    if rows and all("example" in r for r in rows):
        failures = rows
    elif rows and all("attempt_success" in r for r in rows):
        by_id = {ex["id"]: ex for split in ("train", "test") for ex in task.load(split)}
        failures = []
        for r in rows:
            if r["attempt_success"]:
                continue
            if r["id"] not in by_id:
                raise ReflectrlError(f"{path}: problem {r['id']!r} is not in task {task.name!r} (another task's eval?)")
            failures.append({"id": r["id"], "example": by_id[r["id"]], "prompt": r["prompt"], "attempt": r["attempt"]})
    else:
        raise ReflectrlError(f"{path}: not a failures.jsonl (from `reflectrl mine`) or an eval's samples.jsonl")
    if not failures:
        raise ReflectrlError(f"{path}: holds no failed attempt to probe")
    return failures[:limit]


def probe_identity(cfg: RunConfig, model_name: str, failures_path: Path) -> dict[str, Any]:
    """What makes two probes' rows the same measurement: resuming into a folder requires the same identity."""
    return {
        "model": model_name,
        "failures": str(Path(failures_path).resolve()),
        "task": cfg.task.model_dump(mode="json"),
        "episode": cfg.episode.model_dump(mode="json"),
        "temperature": cfg.train.temperature,
        "probe": cfg.probe.model_dump(mode="json", exclude={"limit"}),
    }


def probe(
    engine: Engine,
    task: Task,
    failures: list[dict[str, Any]],
    cfg: RunConfig,
    out_dir: Path,
    identity: dict[str, Any],
    baseline: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Probe (or finish probing) ``failures`` into ``out_dir``; return the summary (against ``baseline``'s rows,
    another model's probe.jsonl on the same failures, when given)."""
    sampling = cfg.episode.sampling("reflection", cfg.train)
    if sampling.top_p < 1 or sampling.top_k > 0:
        raise ReflectrlError("probe scores plain temperature sampling: it needs train.top_p 1 and train.top_k 0")
    out_dir.mkdir(parents=True, exist_ok=True)
    check_identity(out_dir / "probe_identity.json", identity)
    path = out_dir / "probe.jsonl"
    done = {r["id"] for r in read_jsonl(path, repair=True)}
    prompts, tok, t = cfg.episode.prompts(), engine.tokenizer, sampling.temperature  # t: what is scored
    g = cfg.probe.reflections
    if cfg.probe.reflection_temperature is not None:
        sampling = replace(sampling, temperature=cfg.probe.reflection_temperature)
        g = 1 if sampling.temperature == 0 else g  # greedy writes the same reflection G times
    with JsonlWriter(path) as writer, progress() as bar:
        job = bar.add_task("probe", total=len(failures), completed=sum(f["id"] in done for f in failures), rate="")
        for f in failures:
            if f["id"] in done:
                continue
            ex = f["example"]
            question = cfg.episode.retry_prompt.format(question=task.question(ex))
            asked = after_attempt(task, ex, f["attempt"], prompts, prompts.reflection)
            ctx = reflection_context(engine, task, f, asked)
            seed = stable_hash(cfg.probe.seed, f["id"]) % 2**31
            reflections = engine.generate([ctx], g, sampling, seed=seed)[0]
            retries = [continue_chat(tok, ctx, r, question) for r in reflections]
            if prompts.feedback:  # the variant's baseline: the same feedback, then the retry turn, no reflection
                fresh = reflection_context(engine, task, f, after_attempt(task, ex, f["attempt"], prompts, question))
            else:
                fresh = attempt_prompt(engine, task, ex)
            fresh_p, *retry_p = reference_probability(engine, task, ex, [fresh, *retries], t)
            texts = [r.text for r in reflections]
            leaks = [leaked_answer(task, ex, f["attempt"], text) is not None for text in texts]
            writer.write({"id": f["id"], "fresh": fresh_p, "retry": retry_p, "reflections": texts, "leaks": leaks})
            bar.advance(job)
    wanted = {f["id"] for f in failures}
    summary = summarize([r for r in read_jsonl(path) if r["id"] in wanted], baseline)
    atomic_write_json(out_dir / "summary.json", summary)
    return summary


def _ci(a: list[float], b: list[float]) -> dict[str, float]:
    diff, low, high = paired_diff_ci(a, b)
    return {"diff": diff, "ci_low": low, "ci_high": high}


def summarize(rows: list[dict[str, Any]], baseline: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Means over failures of P(fresh attempt right), P(retry right) after one reflection and after the best of G,
    the spread across a failure's reflections, and retry minus fresh, paired. With ``baseline`` (another model's
    probe.jsonl on the same failures): this model minus it, paired over the failures both probed."""
    mean = statistics.fmean
    fresh, retry = [r["fresh"] for r in rows], [mean(r["retry"]) for r in rows]
    summary: dict[str, Any] = {
        "n": len(rows),
        "fresh": mean(fresh),
        "retry": mean(retry),
        "retry_best_of_g": mean(max(r["retry"]) for r in rows),
        "retry_spread": mean(statistics.pstdev(r["retry"]) for r in rows),
        "retry_minus_fresh": _ci(fresh, retry),
    }
    if rows and all("leaks" in r for r in rows):  # rows probed before leaks were recorded have none
        summary["leak_share"] = mean(leak for r in rows for leak in r["leaks"])
        # The hollow-gain guard: the same comparison over the reflections that hold no answer to copy.
        kept = [(r["fresh"], [p for p, leak in zip(r["retry"], r["leaks"], strict=True) if not leak]) for r in rows]
        pairs = [(f, mean(ps)) for f, ps in kept if ps]  # a failure whose every reflection leaks drops out
        if pairs:
            fresh_c, retry_c = [f for f, _ in pairs], [p for _, p in pairs]
            summary["without_leaks"] = {
                "n": len(pairs),
                "retry": mean(retry_c),
                "retry_minus_fresh": _ci(fresh_c, retry_c),
            }
    if baseline is not None:
        base = {r["id"]: r for r in baseline}
        both = [r for r in rows if r["id"] in base]
        summary["minus_baseline"] = {
            "n": len(both),
            "retry": _ci([mean(base[r["id"]]["retry"]) for r in both], [mean(r["retry"]) for r in both]),
            "fresh": _ci([base[r["id"]]["fresh"] for r in both], [r["fresh"] for r in both]),
        }
    return summary


def format_summary(s: dict[str, Any], title: str) -> str:
    def pts(d: dict[str, float]) -> str:
        return f"{100 * d['diff']:+.2f} pts [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}]"

    lines = [
        f"{title}: {s['n']} failures, P(right) in %",
        f"  fresh attempt              {100 * s['fresh']:.2f}",
        f"  retry after a reflection   {100 * s['retry']:.2f}",
        f"  retry after the best of G  {100 * s['retry_best_of_g']:.2f}",
        f"  spread across reflections  {100 * s['retry_spread']:.2f} (mean sd)",
        f"  retry - fresh (paired)     {pts(s['retry_minus_fresh'])}",
    ]
    if "leak_share" in s:
        lines.append(f"  reflections with an answer {100 * s['leak_share']:.1f}% (Task.answer_in; not the failed one)")
    if "without_leaks" in s:
        w = s["without_leaks"]
        pair = pts(w["retry_minus_fresh"])
        lines.append(f"  without them ({w['n']} failures): retry {100 * w['retry']:.2f}, retry - fresh {pair}")
    if "minus_baseline" in s:
        b = s["minus_baseline"]
        lines += [
            f"  minus baseline ({b['n']} failures): retry {pts(b['retry'])}, fresh {pts(b['fresh'])}",
        ]
    return "\n".join(lines)
