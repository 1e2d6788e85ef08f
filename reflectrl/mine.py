"""The dataset of failures: sample up to N first attempts per train query, keep the failed ones.

``mined.jsonl`` gets one line per query (its success count and its distinct failed attempts),
appended chunk by chunk, so a killed run resumes at the next query with nothing lost or repeated.
When every query is done, ``failures.jsonl`` (one (query, failed attempt) pair per line, the
training input) and ``stats.json`` are written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from reflectrl.console import info, progress
from reflectrl.distributed import barrier, check_identity, done_ids, is_main, merge_parts, my_chunks, part_path
from reflectrl.jsonl import JsonlWriter, atomic_write_json, atomic_write_text, read_jsonl
from reflectrl.rollout.engine import Engine, Sampling
from reflectrl.rollout.episode import attempt_prompt
from reflectrl.tasks import Example, Task
from reflectrl.tasks.base import stable_hash
from reflectrl.tasks.guard import verifier_errors_reported


def mine(
    engine: Engine,
    task: Task,
    queries: list[Example],
    out_dir: str | Path,
    samples: int,
    sampling: Sampling,
    seed: int = 0,
    chunk_size: int = 16,
    model: str = "policy",
) -> dict[str, Any]:
    """Mine ``queries`` into ``out_dir`` (resuming what is there) with the model behind ``engine``, named
    ``model`` in the folder's identity: resuming with another model or other settings is an error, not a mix."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    identity = {"model": model, "task": task.name, "options": task.options.model_dump(mode="json")}
    identity |= {"samples": samples, "sampling": dataclasses.asdict(sampling), "seed": seed}
    check_identity(out / "mine_identity.json", identity)  # more queries may join: they are mined the same way
    mined_path = out / "mined.jsonl"
    done = done_ids(mined_path)
    if done:
        info(f"resuming {mined_path}: {len(done & {q['id'] for q in queries})}/{len(queries)} queries already mined")
    tokens, started = 0, time.time()
    # Under `accelerate launch` each process mines its share of the chunks into its own part file.
    starts = my_chunks(len(queries), chunk_size)
    mine_here = [q for s in starts for q in queries[s : s + chunk_size]]
    with JsonlWriter(part_path(mined_path)) as writer, progress() as bar, verifier_errors_reported("mine"):
        job = bar.add_task("mine", total=len(mine_here), completed=sum(q["id"] in done for q in mine_here), rate="")

        def on_batch(seqs: int, new_tokens: int) -> None:
            nonlocal tokens
            tokens += new_tokens
            bar.update(job, rate=f"{tokens / max(time.time() - started, 1e-9):.0f} tok/s")

        # Chunks are fixed slices of the full query list and seeded by their content, so a resumed run
        # regenerates a half-written chunk exactly as the killed run would have, and writes what is missing.
        for start in starts:
            chunk = queries[start : start + chunk_size]
            if all(q["id"] in done for q in chunk):
                continue
            prompts = [attempt_prompt(engine, task, q) for q in chunk]
            chunk_seed = stable_hash("mine", seed, chunk[0]["id"]) % 2**31
            outputs = engine.generate(prompts, samples, sampling, seed=chunk_seed, on_progress=on_batch)
            records = []
            for q, outs in zip(chunk, outputs, strict=True):
                if q["id"] in done:
                    continue
                verdicts = [task.verify(q, s.text) for s in outs]
                failures: dict[str, dict[str, Any]] = {}
                for s, v in zip(outs, verdicts, strict=True):
                    if not v.success:  # distinct failed attempts only; the sampled ids let training continue them
                        failures.setdefault(s.text, {"reason": v.reason, "ids": s.token_ids, "finished": s.finished})
                records.append(
                    {
                        "id": q["id"],
                        "example": q,
                        "samples": len(outs),
                        "tokens": sum(len(s.token_ids) for s in outs),
                        "successes": sum(v.success for v in verdicts),
                        "failures": [
                            {"attempt": a, "reason": f["reason"], "attempt_ids": f["ids"], "finished": f["finished"]}
                            for a, f in failures.items()
                        ],
                    }
                )
            writer.write_many(records)
            bar.advance(job, len(records))
    merge_parts(mined_path, [q["id"] for q in queries])
    return finalize(task, queries, out)


def finalize(task: Task, queries: list[Example], out: Path) -> dict[str, Any]:
    """Write failures.jsonl and stats.json from mined.jsonl (idempotent)."""
    wanted = {q["id"] for q in queries}
    mined = [r for r in read_jsonl(out / "mined.jsonl") if r["id"] in wanted]
    lines = []
    for r in mined:
        rate = r["successes"] / r["samples"]
        for i, f in enumerate(r["failures"]):
            pair = {
                "id": f"{r['id']}/{i}",
                "query_id": r["id"],
                "example": r["example"],
                "prompt": task.messages(r["example"]),
                "attempt": f["attempt"],
                "reason": f["reason"],
                "query_success_rate": rate,
            }
            if "attempt_ids" in f:  # mined by reflectrl >= 0.2: training continues from exactly these tokens
                pair.update(attempt_ids=f["attempt_ids"], attempt_finished=f["finished"])
            lines.append(json.dumps(pair, ensure_ascii=False) + "\n")
    attempts = sum(r["samples"] for r in mined)
    successes = sum(r["successes"] for r in mined)
    rates = [r["successes"] / r["samples"] for r in mined]
    stats = {
        "queries": len(mined),
        "attempts": attempts,
        "successes": successes,
        "failure_rate": 1 - successes / attempts if attempts else None,
        "generated_tokens": sum(r.get("tokens", 0) for r in mined),  # 0 where mined before it was counted
        "failure_pairs": len(lines),
        "queries_never_solved": sum(r == 0 for r in rates),
        "queries_always_solved": sum(r == 1 for r in rates),
        "queries_mixed": sum(0 < r < 1 for r in rates),
        "reasons": _reason_counts(mined),
    }
    if is_main():
        atomic_write_text(out / "failures.jsonl", "".join(lines))
        atomic_write_json(out / "stats.json", stats)
    barrier()  # the other processes go on to read failures.jsonl
    return stats


def _reason_counts(mined: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in mined:
        for f in r["failures"]:
            counts[f["reason"]] = counts.get(f["reason"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def format_stats(stats: dict[str, Any]) -> str:
    fr = stats["failure_rate"]
    return (
        f"queries {stats['queries']}, attempts {stats['attempts']}, failure rate "
        f"{'n/a' if fr is None else f'{100 * fr:.1f}%'}, failure pairs {stats['failure_pairs']} "
        f"(queries never solved {stats['queries_never_solved']}, mixed {stats['queries_mixed']}, "
        f"always solved {stats['queries_always_solved']})"
    )
