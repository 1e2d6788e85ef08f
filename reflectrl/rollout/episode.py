"""The R3 episode: attempt -> verify -> (on failure) reflect -> retry -> verify.

One episode is one chat: the failed attempt stays in the conversation, a user turn asks for a
reflection, another asks to try again with the original question repeated (as in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reflectrl.rollout.chat import encode_chat, turn_glue
from reflectrl.rollout.engine import Engine, ProgressFn, Sample, Sampling
from reflectrl.tasks import Example, Task

# The paper's reflection prompt, word for word.
REFLECTION_PROMPT = (
    "You tried solving the problem and got the wrong answer. Reflect on what went wrong and write a short "
    "explanation that will help you do better next time."
)
RETRY_PROMPT = "Try again.\n\n{question}"


@dataclass(frozen=True)
class EpisodePrompts:
    reflection: str = REFLECTION_PROMPT
    retry: str = RETRY_PROMPT  # "{question}" is replaced by the task's question text


def continue_chat(tokenizer: Any, context: list[int], sample: Sample, user_text: str) -> list[int]:
    """The context after ``sample`` (an assistant turn) and a new user turn, ready for the next sample."""
    end = sample.token_ids[-1] if sample.finished else None
    return context + sample.token_ids + turn_glue(tokenizer, user_text, end)


def attempt_prompt(engine: Engine, task: Task, example: Example) -> list[int]:
    return encode_chat(engine.tokenizer, task.messages(example), task.tools(example))


def run_episodes(
    engine: Engine,
    task: Task,
    examples: list[Example],
    prompts: EpisodePrompts,
    attempt: Sampling,
    reflection: Sampling,
    retry: Sampling,
    *,
    seed: int = 0,
    resample: bool = True,
    on_progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """One two-attempt episode per example, batched across examples stage by stage.

    With ``resample`` a second, independent first attempt is drawn too: the "just resample"
    baseline that a reflection has to beat. Returns one JSON-ready record per example."""
    tok = engine.tokenizer
    contexts = [attempt_prompt(engine, task, ex) for ex in examples]
    firsts = engine.generate(contexts, 2 if resample else 1, attempt, seed=seed, on_progress=on_progress)

    records: list[dict[str, Any]] = []
    for ex, samples in zip(examples, firsts, strict=True):
        v = task.verify(ex, samples[0].text)
        rec: dict[str, Any] = {
            "id": ex["id"],
            "category": task.category(ex),
            "prompt": task.messages(ex),
            "attempt": samples[0].text,
            "attempt_success": v.success,
            "attempt_reason": v.reason,
            "attempt_tokens": len(samples[0].token_ids),
        }
        if resample:
            vr = task.verify(ex, samples[1].text)
            rec.update(resample=samples[1].text, resample_success=vr.success, resample_reason=vr.reason)
        records.append(rec)

    failed = [i for i, r in enumerate(records) if not r["attempt_success"]]
    reflect_ctx = [continue_chat(tok, contexts[i], firsts[i][0], prompts.reflection) for i in failed]
    reflections = engine.generate(reflect_ctx, 1, reflection, seed=seed + 1, on_progress=on_progress)
    retry_ctx = [
        continue_chat(tok, ctx, refl[0], prompts.retry.format(question=task.question(examples[i])))
        for i, ctx, refl in zip(failed, reflect_ctx, reflections, strict=True)
    ]
    retries = engine.generate(retry_ctx, 1, retry, seed=seed + 2, on_progress=on_progress)
    for i, refl, ret in zip(failed, reflections, retries, strict=True):
        v = task.verify(examples[i], ret[0].text)
        records[i].update(
            reflection=refl[0].text,
            reflection_tokens=len(refl[0].token_ids),
            retry=ret[0].text,
            retry_success=v.success,
            retry_reason=v.reason,
        )
    for r in records:
        r["first_try"] = r["attempt_success"]
        r["second_try"] = r["attempt_success"] or bool(r.get("retry_success"))
        if resample:
            r["resample_second_try"] = r["attempt_success"] or r["resample_success"]
    return records
