"""Two-attempt evaluation: first try, second try after reflection, and the "just resample" baseline.
With ``eval.turns = K``: K sequential attempts (no oracle) and RISE's metrics p1@tk, m1@tk, mk@t1 for k <= K
(see ``rollout.episode.run_turns``), next to the same two-attempt columns.

Writes ``samples.jsonl`` (one line per problem, appended chunk by chunk, so a killed evaluation
resumes where it stopped) and ``summary.json``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from reflectrl import reflections
from reflectrl.config import EpisodeConfig, EvalConfig
from reflectrl.console import info, progress
from reflectrl.distributed import barrier, check_identity, done_ids, is_main, merge_parts, my_chunks, part_path
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import JsonlWriter, atomic_write_json, read_jsonl
from reflectrl.rollout.engine import Engine
from reflectrl.rollout.episode import run_episodes, run_turns
from reflectrl.stats import mcnemar_exact, paired_diff_ci, rate
from reflectrl.tasks import Task
from reflectrl.tasks.base import stable_hash
from reflectrl.tasks.guard import verifier_errors_reported


def evaluate(
    engine: Engine,
    task: Task,
    eval_cfg: EvalConfig,
    episode: EpisodeConfig,
    out_dir: str | Path,
    identity: dict[str, Any],
    dev_start: int = 0,
) -> dict[str, Any]:
    """Evaluate (or finish evaluating) into ``out_dir``; return the summary. ``split: dev`` reads the train
    split from ``dev_start`` on (``RunConfig.dev_start``: after the boost's and mining's problems).

    ``identity`` names what is evaluated (model, task, settings); resuming into a folder that holds
    another identity is an error rather than a silent mix of two evaluations."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_identity(out / "eval_identity.json", identity)

    dev = eval_cfg.split == "dev"
    if eval_cfg.split == "all":  # a user's own data file, whole: its train part, then its test part
        examples = (task.load("train") + task.load("test"))[eval_cfg.offset :]
    else:
        examples = task.load("train" if dev else eval_cfg.split)[(dev_start if dev else 0) + eval_cfg.offset :]
    if eval_cfg.limit is not None:
        examples = examples[: eval_cfg.limit]
    if not examples:
        raise ReflectrlError(f"task {task.name!r} has no examples in split {eval_cfg.split!r}")
    samples_path = out / "samples.jsonl"
    done = done_ids(samples_path)
    # Under `accelerate launch` each process evaluates its share of the chunks into its own part file.
    starts = my_chunks(len(examples), eval_cfg.chunk_size)
    here = [ex for s in starts for ex in examples[s : s + eval_cfg.chunk_size]]
    already = sum(ex["id"] in done for ex in here)
    if already:
        info(f"resuming {samples_path}: {already}/{len(examples)} problems already done")

    tokens = 0
    started = time.time()
    with JsonlWriter(part_path(samples_path)) as writer, progress() as bar, verifier_errors_reported("eval"):
        job = bar.add_task("eval", total=len(here), completed=already, rate="")

        def on_batch(seqs: int, new_tokens: int) -> None:
            nonlocal tokens
            tokens += new_tokens
            bar.update(job, rate=f"{tokens / max(time.time() - started, 1e-9):.0f} tok/s")

        # Fixed chunks seeded by content: a resumed run regenerates a half-written chunk exactly.
        for start in starts:
            chunk = examples[start : start + eval_cfg.chunk_size]
            if all(ex["id"] in done for ex in chunk):
                continue
            samplings = tuple(episode.sampling(turn, eval_cfg) for turn in ("attempt", "reflection", "retry"))
            seed = stable_hash(eval_cfg.seed, chunk[0]["id"]) % 2**31
            if eval_cfg.turns is None:
                records = run_episodes(
                    engine,
                    task,
                    chunk,
                    episode.prompts(),
                    *samplings,
                    seed=seed,
                    resample=eval_cfg.resample,
                    on_progress=on_batch,
                )
            else:
                records = run_turns(
                    engine,
                    task,
                    chunk,
                    episode.prompts(),
                    *samplings,
                    turns=eval_cfg.turns,
                    between=episode.between_turns,
                    retry_message=episode.retry_message,
                    parallel=max(eval_cfg.turns, 2 if eval_cfg.resample else 1),
                    seed=seed,
                    on_progress=on_batch,
                )
            missing = [r for r in records if r["id"] not in done]
            writer.write_many(missing)
            bar.advance(job, len(missing))

    merge_parts(samples_path, [ex["id"] for ex in examples])
    wanted = {ex["id"] for ex in examples}
    records = [r for r in read_jsonl(samples_path) if r["id"] in wanted]
    summary = summarize(records)
    summary.update(identity=identity, split=eval_cfg.split, generated_tokens_this_session=tokens)
    if is_main():
        atomic_write_json(out / "summary.json", summary)
    barrier()
    return summary


def eval_identity(cfg, model_name: str) -> dict[str, Any]:
    """What makes two evaluations comparable: resuming into a folder requires the same identity."""
    # The multi-turn settings only join the identity when used, so two-attempt folders written before they
    # existed still resume.
    multi = cfg.eval.turns is not None
    dev = {"dev_start": cfg.dev_start()} if cfg.eval.split == "dev" else {}
    # Sampling moved from `episode` to `eval` (eval.temperature, eval.top_p): it stays where older folders
    # recorded it, so they still resume; top_k and chat_template_kwargs join only when set.
    # The feedback variant joins only when on, for the same reason.
    exclude = (set() if multi else {"between_turns", "retry_message"}) | (
        set() if cfg.episode.feedback else {"feedback"}
    )
    episode = cfg.episode.model_dump(mode="json", exclude=exclude)
    episode |= {"temperature": cfg.eval.temperature, "top_p": cfg.eval.top_p}
    episode |= {"top_k": cfg.eval.top_k} if cfg.eval.top_k else {}
    sampling = {"limit", "chunk_size", "shipped", "temperature", "top_p", "top_k"}
    template = {"chat_template_kwargs": cfg.model.chat_template_kwargs} if cfg.model.chat_template_kwargs else {}
    return {
        **dev,
        "model": model_name,
        **template,
        "task": cfg.task.model_dump(mode="json"),
        "episode": episode,
        "eval": cfg.eval.model_dump(mode="json", exclude={*sampling, *([] if multi else ["turns"])}),
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracies with 95% Wilson intervals, overall and per category."""
    summary: dict[str, Any] = {"n": len(records), **_metrics(records)}
    categories = sorted({r["category"] for r in records if r.get("category")})
    if categories:
        summary["by_category"] = {c: _metrics([r for r in records if r.get("category") == c]) for c in categories}
    summary["attempt_reasons"] = dict(Counter(r["attempt_reason"] for r in records).most_common())
    if measured := reflections.from_records(records):  # what the reflections looked like (reflections.py)
        summary["reflections"] = measured
    return summary


def _metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in records if not r["attempt_success"]]
    m: dict[str, Any] = {
        "first_try": rate([r["first_try"] for r in records]).as_dict(),
        "second_try": rate([r["second_try"] for r in records]).as_dict(),
        # Among first-try failures: does reflect + retry beat simply drawing another sample?
        "retry_after_failure": rate([bool(r.get("retry_success")) for r in failed]).as_dict(),
    }
    retried = [bool(r.get("retry_success")) for r in failed]
    if records and "resample_success" in records[0]:
        m["resample_pass2"] = rate([r["resample_second_try"] for r in records]).as_dict()
        m["resample_after_failure"] = rate([r["resample_success"] for r in failed]).as_dict()
        # Both are measured on the same failures: a paired difference, not two intervals side by side.
        m["retry_minus_resample"] = _paired([r["resample_success"] for r in failed], retried)
    if failed and "feedback_retry_success" in failed[0]:  # the verifier-feedback variant's fair baseline
        direct = [r["feedback_retry_success"] for r in failed]
        m["feedback_retry_after_failure"] = rate(direct).as_dict()
        m["retry_minus_feedback_retry"] = _paired(direct, retried)
    lengths = [r["reflection_tokens"] for r in failed if "reflection_tokens" in r]
    m["mean_reflection_tokens"] = sum(lengths) / len(lengths) if lengths else None
    if records and "p1@tk" in records[0]:
        m.update(multi_turn_metrics(records))
    return m


def _paired(baseline: list[bool], retried: list[bool]) -> dict[str, Any]:
    diff, low, high = paired_diff_ci(baseline, retried)
    p = mcnemar_exact(baseline, retried)
    return {"diff": diff, "ci_low": low, "ci_high": high, "p_mcnemar": p, "n": len(retried)}


def multi_turn_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``p1@t{k}``, ``m1@t{k}`` and ``m{k}@t1`` for every k the records have, with 95% Wilson intervals."""
    turns = min(len(r["p1@tk"]) for r in records)
    par = min(len(r["mk@t1"]) for r in records)
    m: dict[str, Any] = {"turns": turns, "between_turns": records[0].get("between_turns")}
    for k in range(1, turns + 1):
        m[f"p1@t{k}"] = rate([r["p1@tk"][k - 1] for r in records]).as_dict()
        m[f"m1@t{k}"] = rate([r["m1@tk"][k - 1] for r in records]).as_dict()
    for k in range(1, par + 1):
        m[f"m{k}@t1"] = rate([r["mk@t1"][k - 1] for r in records]).as_dict()
    return m


def format_summary(summary: dict[str, Any], title: str = "") -> str:
    from reflectrl.stats import Rate

    def show(d: dict[str, Any]) -> str:
        return str(Rate.from_dict(d))

    lines = [title] if title else []
    lines.append(f"  first try                      {show(summary['first_try'])}")
    lines.append(f"  second try (reflect + retry)   {show(summary['second_try'])}")
    if "resample_pass2" in summary:
        lines.append(f"  resample baseline (pass@2)     {show(summary['resample_pass2'])}")
    lines.append(f"  retry success after a failure  {show(summary['retry_after_failure'])}")
    if "resample_after_failure" in summary:
        lines.append(f"  resample success after failure {show(summary['resample_after_failure'])}")
    if "feedback_retry_after_failure" in summary:
        lines.append(f"  retry on feedback alone        {show(summary['feedback_retry_after_failure'])}")
    for key, name in (
        ("retry_minus_resample", "retry - resample"),
        ("retry_minus_feedback_retry", "retry - feedback alone"),
    ):
        if key in summary and summary[key]["n"]:
            d = summary[key]
            lines.append(
                f"  {name + ' (paired)':<30} {100 * d['diff']:+.1f} pts [{100 * d['ci_low']:+.1f}, "
                f"{100 * d['ci_high']:+.1f}], exact McNemar p={d['p_mcnemar']:.3g} (n={d['n']})"
            )
    if "turns" in summary:
        lines.append(
            f"  per turn k, {summary['turns']} sequential attempts ({summary['between_turns']} between turns):"
        )
        lines.append(f"    {'k':>2}  {'p1@tk (oracle)':<34}{'m1@tk (majority, no oracle)':<34}mk@t1 (parallel)")
        for k in range(1, summary["turns"] + 1):
            mk = show(summary[f"m{k}@t1"]) if f"m{k}@t1" in summary else "n/a"
            lines.append(f"    {k:>2}  {show(summary[f'p1@t{k}']):<34}{show(summary[f'm1@t{k}']):<34}{mk}")
    for cat, m in summary.get("by_category", {}).items():
        lines.append(f"  [{cat}] first {show(m['first_try'])}  second {show(m['second_try'])}")
    return "\n".join(lines)
