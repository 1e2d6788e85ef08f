"""The expected retry reward's scoring (``train.retry_reward: expected``): before and after its speed-up, as a ratio
measured in one run.

    .venv/bin/python benchmarks/score.py --problems 8 --group 8 --threads 2 --repeats 3

Workload: an R3 rollout on Countdown train prompts with the default model (or --model): first tries, G reflections
per failed one, one retry after each (the fast engine, as training runs it), then every retry context is scored
against the task's reference answers, each followed by an end-of-turn id.

  before: the prompt from scratch, one continuation per (answer, end id): the naive engine's ``score``, which is
          the previous code path;
  after:  the fast engine's ``score``: the prompt continues the reflection's KV from the prefix store, and one
          continuation per answer with ``then=end ids``.

Both give P(retry is a reference answer); the script prints the largest difference between them. ``--repeats``
alternates the order. Record results in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

TEMPERATURE = 0.9


def reference_p(engine, retry_ctx, answers, ends, then: bool) -> list[float]:
    """P(the retry is a reference answer, then ends) for each retry context, the old way (``then=False``: one
    continuation per answer and end id) or the new one."""
    out = []
    for i, ctx in retry_ctx:
        if then:
            logps = engine.score(ctx, answers[i], TEMPERATURE, ends)
        else:
            logps = engine.score(ctx, [a + [e] for a in answers[i] for e in ends], TEMPERATURE)
        out.append(sum(math.exp(lp) for lp in logps))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--group", type=int, default=8, help="G reflections per failed attempt")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    from reflectrl.models import load_model
    from reflectrl.rollout.engine import Sampling
    from reflectrl.rollout.episode import REFLECTION_PROMPT, RETRY_PROMPT, attempt_prompt, continue_chat
    from reflectrl.rollout.hf import HFEngine
    from reflectrl.tasks import get_task

    torch.set_num_threads(args.threads)
    model, tok = load_model(args.model, dtype="fp32", device="cpu", threads=args.threads)
    fast, naive = HFEngine(model, tok), HFEngine(model, tok, mode="naive")
    task = get_task("countdown")
    examples = task.load("train")[: args.problems]
    attempt = Sampling(max_new_tokens=48, temperature=0.9)
    reflect = Sampling(max_new_tokens=96, temperature=0.9)
    ends = sorted(fast.eos_ids)

    contexts = [attempt_prompt(fast, task, ex) for ex in examples]
    firsts = fast.generate(contexts, 1, attempt, seed=args.seed)
    failed = [i for i, ex in enumerate(examples) if not task.verify(ex, firsts[i][0].text).success]
    rounds = []
    for r in range(args.repeats):
        # Each round samples afresh (as each training step does), so the prefix store holds this round's turns.
        refl_ctx = [continue_chat(tok, contexts[i], firsts[i][0], REFLECTION_PROMPT) for i in failed]
        t = time.perf_counter()
        reflections = fast.generate(refl_ctx, args.group, reflect, seed=args.seed + 1 + r)
        retry_ctx = [
            (i, continue_chat(tok, ctx, s, RETRY_PROMPT.format(question=task.question(examples[i]))))
            for i, ctx, group in zip(failed, refl_ctx, reflections, strict=True)
            for s in group
        ]
        fast.generate([c for _, c in retry_ctx], 1, attempt, seed=args.seed + 100 + r)
        sampling_s = time.perf_counter() - t
        answers = {
            i: [tok(a, add_special_tokens=False)["input_ids"] for a in task.reference_answers(examples[i])]
            for i in failed
        }

        timed = {}
        for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
            engine, t = (naive if name == "before" else fast), time.perf_counter()
            timed[name] = (reference_p(engine, retry_ctx, answers, ends, name == "after"), time.perf_counter() - t)
        diff = max(abs(x - y) for x, y in zip(timed["before"][0], timed["after"][0], strict=True))
        rounds.append({"before_s": timed["before"][1], "after_s": timed["after"][1], "sampling_s": sampling_s})
        speedup = timed["before"][1] / timed["after"][1]
        print(
            f"round {r + 1}: {len(retry_ctx)} retry contexts, {sum(len(answers[i]) for i, _ in retry_ctx)} answers x "
            f"{len(ends)} ends; sampling (reflections + retries) {sampling_s:.1f} s; scoring before "
            f"{timed['before'][1]:.1f} s, after {timed['after'][1]:.1f} s (x{speedup:.2f}); largest "
            f"|P before - P after| {diff:.1e}",
            flush=True,
        )
    before_s, after_s = sum(x["before_s"] for x in rounds), sum(x["after_s"] for x in rounds)
    sampling_s = sum(x["sampling_s"] for x in rounds)
    whole = (sampling_s + before_s) / (sampling_s + after_s)
    print(
        f"total: scoring {before_s:.1f} s -> {after_s:.1f} s (x{before_s / after_s:.2f}); sampling + scoring "
        f"{sampling_s + before_s:.1f} s -> {sampling_s + after_s:.1f} s (x{whole:.2f})"
        f"; prompt tokens from the prefix store: {fast.stats['scored_cached_tokens']}; threads {args.threads}, "
        f"{platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
