"""The R3 episode: attempt -> verify -> (on failure) reflect -> retry -> verify.

One episode is one chat: the failed attempt stays in the conversation, a user turn asks for a
reflection, another asks to try again with the original question repeated (as in the paper).
"""

from __future__ import annotations

import math
from typing import Any

from reflectrl.config import REFLECTION_PROMPT, RETRY_MESSAGE, RETRY_PROMPT, EpisodePrompts  # noqa: F401 - re-exported
from reflectrl.errors import ReflectrlError
from reflectrl.reflections import describe as describe_reflection
from reflectrl.rollout.chat import encode_chat, turn_glue
from reflectrl.rollout.engine import Engine, ProgressFn, Sample, Sampling
from reflectrl.tasks import Example, Task


def continue_chat(tokenizer: Any, context: list[int], sample: Sample, user_text: str) -> list[int]:
    """The context after ``sample`` (an assistant turn) and a new user turn, ready for the next sample."""
    end = sample.token_ids[-1] if sample.finished else None
    return context + sample.token_ids + turn_glue(tokenizer, user_text, end)


def feedback_on(task: Task, example: Example, attempt: str) -> str:
    """``task.feedback`` on an attempt, checked: a user task's bug is one line naming it, not a traceback."""
    try:
        said = task.feedback(example, attempt)
    except Exception as e:
        raise ReflectrlError(f"task {task.name!r}: feedback() raised {e.__class__.__name__}: {e}") from e
    if not isinstance(said, str):
        raise ReflectrlError(f"task {task.name!r}: feedback() returned {type(said).__name__}, not text")
    return said


def after_attempt(task: Task, example: Example, attempt: str, prompts: EpisodePrompts, text: str) -> str:
    """The user turn ``text`` that follows an attempt; in the verifier-feedback variant (``prompts.feedback``)
    the task's feedback on that attempt leads it."""
    return f"{feedback_on(task, example, attempt)}\n\n{text}" if prompts.feedback else text


def attempt_prompt(engine: Engine, task: Task, example: Example) -> list[int]:
    return encode_chat(engine.tokenizer, task.messages(example), task.tools(example))


def reflection_context(engine: Engine, task: Task, failure: dict[str, Any], reflection_prompt: str) -> list[int]:
    """The tokens a reflection on a mined failure (a failures.jsonl record) is sampled after: exactly what
    ``run_episodes`` builds after a failed attempt, continuing the attempt's sampled ids. Records mined before
    the ids were stored fall back to re-rendering the attempt's text in the chat template."""
    tok = engine.tokenizer
    tools = task.tools(failure["example"])
    if "attempt_ids" in failure:
        attempt = Sample(failure["attempt"], failure["attempt_ids"], failure["attempt_finished"])
        return continue_chat(tok, encode_chat(tok, failure["prompt"], tools), attempt, reflection_prompt)
    messages = [
        *failure["prompt"],
        {"role": "assistant", "content": failure["attempt"]},
        {"role": "user", "content": reflection_prompt},
    ]
    return encode_chat(tok, messages, tools)


def reference_probability(
    engine: Engine, task: Task, example: Example, contexts: list[list[int]], temperature: float
) -> list[float]:
    """For each context, the probability that the next turn, sampled at ``temperature``, is one of the task's
    reference answers and then ends (disjoint events, so they add up; capped at 1): the chance a sampled turn
    verifies, without sampling it."""
    answers = task.reference_answers(example)
    if not answers:
        raise ReflectrlError(
            f"scoring a turn needs the task's reference answers: {task.name!r} lists none for example "
            f"{example.get('id')!r}"
        )
    tokens = [engine.tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers]
    ends = sorted(engine.eos_ids)
    return [min(1.0, sum(math.exp(lp) for lp in engine.score(ctx, tokens, temperature, ends))) for ctx in contexts]


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
    retry_turn = [prompts.retry.format(question=task.question(ex)) for ex in examples]

    # Feedback once per failure: it leads both the reflection request and the baseline's retry turn.
    said = {i: feedback_on(task, examples[i], firsts[i][0].text) for i in failed} if prompts.feedback else {}

    def after(i: int, text: str) -> list[int]:
        return continue_chat(tok, contexts[i], firsts[i][0], f"{said[i]}\n\n{text}" if i in said else text)

    reflect_ctx = [after(i, prompts.reflection) for i in failed]
    reflections = engine.generate(reflect_ctx, 1, reflection, seed=seed + 1, on_progress=on_progress)
    retry_ctx = [
        continue_chat(tok, ctx, refl[0], retry_turn[i])
        for i, ctx, refl in zip(failed, reflect_ctx, reflections, strict=True)
    ]
    retries = engine.generate(retry_ctx, 1, retry, seed=seed + 2, on_progress=on_progress)
    if prompts.feedback and resample:  # the variant's fair baseline: the same feedback, a retry, no reflection
        direct = engine.generate(
            [after(i, retry_turn[i]) for i in failed], 1, retry, seed=seed + 3, on_progress=on_progress
        )
        for i, ret in zip(failed, direct, strict=True):
            v = task.verify(examples[i], ret[0].text)
            records[i].update(
                feedback=said[i],
                feedback_retry=ret[0].text,
                feedback_retry_success=v.success,
            )
    for i, refl, ret in zip(failed, reflections, retries, strict=True):
        v = task.verify(examples[i], ret[0].text)
        records[i].update(
            reflection=refl[0].text,
            reflection_tokens=len(refl[0].token_ids),
            retry=ret[0].text,
            retry_success=v.success,
            retry_reason=v.reason,
            reflection_measures=describe_reflection(
                task, examples[i], records[i]["attempt"], refl[0].text, ret[0].text, len(refl[0].token_ids)
            ),
        )
    for r in records:
        r["first_try"] = r["attempt_success"]
        r["second_try"] = r["attempt_success"] or bool(r.get("retry_success"))
        if resample:
            r["resample_second_try"] = r["attempt_success"] or r["resample_success"]
    return records


def answer_key(task: Task, example: Example, completion: str) -> str | None:
    """The task's canonical answer for majority votes; tasks without one vote on whitespace-normalised text."""
    if type(task).answer_key is Task.answer_key:
        return " ".join(completion.split()) or None
    return task.answer_key(example, completion)


def majority_success(keys: list[str | None], successes: list[bool]) -> bool:
    """Whether the majority answer is correct. Answers with no key (no answer at all) do not vote; a tie goes
    to the answer whose latest vote is latest (for sequential turns: the model's most recent word). A key counts
    as correct when the verifier accepted an answer with that key."""
    counts: dict[str, int] = {}
    last: dict[str, int] = {}
    correct: dict[str, bool] = {}
    for i, (key, ok) in enumerate(zip(keys, successes, strict=True)):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        last[key] = i
        correct[key] = correct.get(key, False) or ok
    if not counts:
        return False
    return correct[max(counts, key=lambda k: (counts[k], last[k]))]


def run_turns(
    engine: Engine,
    task: Task,
    examples: list[Example],
    prompts: EpisodePrompts,
    attempt: Sampling,
    reflection: Sampling,
    retry: Sampling,
    *,
    turns: int,
    between: str = "reflect",
    retry_message: str = RETRY_MESSAGE,
    parallel: int = 1,
    seed: int = 0,
    on_progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """``turns`` sequential attempts per example with no oracle: every attempt is followed by the next turn
    whether it was right or not (a reflection + retry prompt, or only ``retry_message``), and ``parallel``
    independent first attempts (sample 0 is turn 1). Per k <= turns each record gets

    - ``p1@tk``: some attempt among the first k succeeded (an oracle that stops at the first success sees
      exactly this, because the feedback between turns never depends on the answer);
    - ``m1@tk``: the majority answer of the first k sequential attempts is correct;
    - ``mk@t1``: the majority answer of k parallel first attempts is correct (when ``parallel`` >= k).

    Under ``prompts.feedback`` the turn after every attempt carries the verifier's word on it, a right one
    included, so later turns know what the oracle knows: m1@tk is then no longer an oracle-free measure.

    Records also carry the two-attempt fields (attempt, resample, reflection/retry after a failed attempt,
    first_try, second_try), so ``evaluate.summarize`` and the run report read them unchanged."""
    tok = engine.tokenizer
    contexts = [attempt_prompt(engine, task, ex) for ex in examples]
    firsts = engine.generate(contexts, max(parallel, 1), attempt, seed=seed, on_progress=on_progress)

    def verdict(ex: Example, sample: Sample) -> dict[str, Any]:
        v = task.verify(ex, sample.text)
        key = answer_key(task, ex, sample.text)
        return {"answer": sample.text, "success": v.success, "reason": v.reason, "key": key}

    history = [[{**verdict(ex, s[0]), "tokens": len(s[0].token_ids)}] for ex, s in zip(examples, firsts, strict=True)]
    current = [s[0] for s in firsts]
    for t in range(2, turns + 1):
        reflections: list[Sample | None] = [None] * len(examples)
        if between == "reflect":
            ctx = [
                continue_chat(tok, c, s, after_attempt(task, ex, s.text, prompts, prompts.reflection))
                for c, s, ex in zip(contexts, current, examples, strict=True)
            ]
            reflections = [
                r[0] for r in engine.generate(ctx, 1, reflection, seed=seed + 2 * t - 3, on_progress=on_progress)
            ]
            contexts = [
                continue_chat(tok, c, r, prompts.retry.format(question=task.question(ex)))
                for c, r, ex in zip(ctx, reflections, examples, strict=True)
            ]
        elif between == "retry":
            contexts = [
                continue_chat(tok, c, s, after_attempt(task, ex, s.text, prompts, retry_message))
                for c, s, ex in zip(contexts, current, examples, strict=True)
            ]
        else:
            raise ValueError(f"between must be 'reflect' or 'retry', got {between!r}")
        current = [r[0] for r in engine.generate(contexts, 1, retry, seed=seed + 2 * t - 2, on_progress=on_progress)]
        for h, ex, s, r in zip(history, examples, current, reflections, strict=True):
            turn = {**verdict(ex, s), "tokens": len(s.token_ids)}
            if r is not None:
                turn.update(reflection=r.text, reflection_tokens=len(r.token_ids))
            h.append(turn)

    records: list[dict[str, Any]] = []
    for ex, samples, h in zip(examples, firsts, history, strict=True):
        par = [h[0]] + [verdict(ex, s) for s in samples[1:]]
        rec: dict[str, Any] = {
            "id": ex["id"],
            "category": task.category(ex),
            "prompt": task.messages(ex),
            "attempt": h[0]["answer"],
            "attempt_success": h[0]["success"],
            "attempt_reason": h[0]["reason"],
            "attempt_tokens": h[0]["tokens"],
        }
        if len(par) > 1:
            rec.update(resample=par[1]["answer"], resample_success=par[1]["success"], resample_reason=par[1]["reason"])
        if not h[0]["success"] and len(h) > 1:  # as in the two-attempt record: the turn after a failed attempt
            rec.update(retry=h[1]["answer"], retry_success=h[1]["success"], retry_reason=h[1]["reason"])
            if "reflection" in h[1]:
                rec.update(reflection=h[1]["reflection"], reflection_tokens=h[1]["reflection_tokens"])
                rec["reflection_measures"] = describe_reflection(
                    task, ex, h[0]["answer"], h[1]["reflection"], h[1]["answer"], h[1]["reflection_tokens"]
                )
        rec["first_try"] = h[0]["success"]
        rec["second_try"] = any(x["success"] for x in h[:2])
        if len(par) > 1:
            rec["resample_second_try"] = par[0]["success"] or par[1]["success"]
        rec["turns"] = h
        rec["parallel"] = par[1:]
        rec["between_turns"] = between
        keys, oks = [x["key"] for x in h], [x["success"] for x in h]
        rec["p1@tk"] = [any(oks[:k]) for k in range(1, len(h) + 1)]
        rec["m1@tk"] = [majority_success(keys[:k], oks[:k]) for k in range(1, len(h) + 1)]
        pkeys, poks = [x["key"] for x in par], [x["success"] for x in par]
        rec["mk@t1"] = [majority_success(pkeys[:k], poks[:k]) for k in range(1, len(par) + 1)]
        records.append(rec)
    return records
