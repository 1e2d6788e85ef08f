"""R3: GRPO on the dataset of failures that rewards only the reflection.

For each (query, failed attempt) the rollout samples G reflections, lets the model retry after each,
and verifies the retries. Reward = retry success. The loss covers the reflection tokens only: the
query and failed attempt are the GRPO prompt, and the retry is not part of the trained completion at
all. Dropping it is exact, not an approximation: in a causal LM tokens after the reflection cannot
change the reflection's log-probabilities, and it saves the forward/backward over the retry.

``r3-answer`` (the ablation asked for in the talk) also trains the retry's tokens when the retry
succeeded: the completion is reflection + retry prompt + retry, with ``env_mask`` 0 on the retry
prompt (not model-written) and on failed retries.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from reflectrl.config import EngineConfig, EpisodeConfig, RunConfig, TrainConfig
from reflectrl.errors import ReflectrlError
from reflectrl.reflections import describe as describe_reflection
from reflectrl.reflections import step_means
from reflectrl.rollout.chat import encode_chat, turn_glue
from reflectrl.rollout.engine import Engine, Sampling
from reflectrl.tasks import Task
from reflectrl.tasks.base import stable_hash
from reflectrl.train.common import count_all_processes


def prompt_key(messages: list[dict[str, str]]) -> str:
    return json.dumps(messages, sort_keys=True, ensure_ascii=False)


def failure_rows(failures: list[dict[str, Any]], episode: EpisodeConfig, cfg: TrainConfig) -> list[dict[str, Any]]:
    """GRPO prompts: the query, the failed attempt, and the reflection request."""
    per_query: dict[str, int] = {}
    rows = []
    for f in failures:
        if f["query_success_rate"] < cfg.min_query_success:
            continue
        if per_query.get(f["query_id"], 0) >= cfg.max_failures_per_query:
            continue
        per_query[f["query_id"]] = per_query.get(f["query_id"], 0) + 1
        prompt = [
            *f["prompt"],
            {"role": "assistant", "content": f["attempt"]},
            {"role": "user", "content": episode.reflection_prompt},
        ]
        rows.append({"prompt": prompt, "example": json.dumps(f["example"])})
    if not rows:
        raise ReflectrlError(
            f"no failures to train on ({len(failures)} mined; train.min_query_success={cfg.min_query_success} "
            "filters them all out)"
        )
    random.Random(cfg.seed).shuffle(rows)
    return rows


class ReflectRetryRollout:
    """TRL ``rollout_func``: reflections for each prompt group, then a retry after each, verified."""

    def __init__(
        self,
        task: Task,
        rows: list[dict[str, Any]],
        episode: EpisodeConfig,
        cfg: TrainConfig,
        engine_cfg: EngineConfig,
        train_successful_retry: bool = False,
    ):
        self.task = task
        self.examples = {prompt_key(r["prompt"]): json.loads(r["example"]) for r in rows}
        self.episode = episode
        self.cfg = cfg
        self.engine_cfg = engine_cfg
        self.train_successful_retry = train_successful_retry
        self.reflection_sampling = Sampling(episode.max_reflection_tokens, cfg.temperature, cfg.top_p)
        self.retry_sampling = Sampling(episode.max_retry_tokens, cfg.temperature, cfg.top_p)
        self.engine: Engine | None = None
        self.generated_tokens = 0  # everything sampled, for train.budget_tokens
        self.rollout_seconds = 0.0  # wall time inside this call: generation, weight sync, verification

    def __call__(self, prompts: list[list[dict[str, str]]], trainer) -> dict[str, list]:
        from reflectrl.train.rl import prompt_groups, synced_engine

        started = time.perf_counter()
        self.engine = synced_engine(self.engine, self.engine_cfg, trainer)
        tok = trainer.processing_class
        seed = stable_hash("r3", self.cfg.seed, trainer.state.global_step, trainer.accelerator.process_index) % 2**31

        # Sample the G reflections of a group together.
        group_prompts, g = prompt_groups(prompts)
        # With the task's tools, as the failed attempt was sampled (function calling needs its schemas).
        contexts = [encode_chat(tok, p, self.task.tools(self.examples[prompt_key(p)])) for p in group_prompts]
        samples = self.engine.generate(contexts, g, self.reflection_sampling, seed=seed)
        reflections = [s for group in samples for s in group]
        prompt_ids = [ctx for ctx in contexts for _ in range(g)]
        examples = [self.examples[prompt_key(p)] for p in prompts]

        glues, retry_contexts = [], []
        for ctx, refl, ex in zip(prompt_ids, reflections, examples, strict=True):
            glue = turn_glue(tok, self.episode.retry_prompt.format(question=self.task.question(ex)), _end(refl))
            glues.append(glue)
            retry_contexts.append(ctx + refl.token_ids + glue)
        retries = [s[0] for s in self.engine.generate(retry_contexts, 1, self.retry_sampling, seed=seed + 1)]
        success = [self.task.verify(ex, r.text).success for ex, r in zip(examples, retries, strict=True)]
        measures = [
            describe_reflection(self.task, ex, p[-2]["content"], refl.text, retry.text, len(refl.token_ids))
            for ex, p, refl, retry in zip(examples, prompts, reflections, retries, strict=True)
        ]
        self.generated_tokens += count_all_processes(trainer, sum(len(s.token_ids) for s in [*reflections, *retries]))
        self.rollout_seconds += time.perf_counter() - started

        completion_ids, env_mask = [], []
        for refl, glue, retry, ok in zip(reflections, glues, retries, success, strict=True):
            if self.train_successful_retry:
                completion_ids.append(refl.token_ids + glue + retry.token_ids)
                env_mask.append([1] * len(refl.token_ids) + [0] * len(glue) + [int(ok)] * len(retry.token_ids))
            else:
                completion_ids.append(refl.token_ids)
                env_mask.append([1] * len(refl.token_ids))
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": completion_ids,
            "logprobs": None,
            "env_mask": env_mask,
            "retry_success": [float(ok) for ok in success],
            "reflection_tokens": [len(r.token_ids) for r in reflections],
            "reflection_measures": measures,
        }


def _end(sample) -> int | None:
    return sample.token_ids[-1] if sample.finished else None


def retry_reward(
    prompts, completions, retry_success, reflection_tokens, reflection_measures=None, log_metric=None, **_
) -> list[float]:
    """Reward = 1 when the retry after the reflection succeeded. Logs what the step's reflections look like
    (reflections.py) as ``reflection/<measure>`` means."""
    if log_metric is not None:
        log_metric("retry_success", sum(retry_success) / len(retry_success))
        log_metric("reflection_tokens", sum(reflection_tokens) / len(reflection_tokens))
        for key, mean in step_means(reflection_measures or []).items():
            log_metric(f"reflection/{key}", mean)
    return list(retry_success)


def _train(model, tokenizer, task, failures, cfg: RunConfig, out_dir, resume: bool, train_successful_retry: bool):
    from reflectrl.train.rl import run_grpo

    rows = failure_rows(failures, cfg.episode, cfg.train)
    rollout = ReflectRetryRollout(task, rows, cfg.episode, cfg.train, cfg.engine, train_successful_retry)
    ep = cfg.episode
    max_len = ep.max_reflection_tokens + (ep.max_retry_tokens + 64 if train_successful_retry else 0)
    return run_grpo(model, tokenizer, rows, rollout, [retry_reward], cfg.train, out_dir, max_len, resume)


def train_r3(model, tokenizer, task: Task, failures, queries, cfg: RunConfig, out_dir, resume: bool = True) -> Path:
    """R3: reward = retry success; loss on the reflection only."""
    return _train(model, tokenizer, task, failures, cfg, out_dir, resume, train_successful_retry=False)


def train_r3_answer(model, tokenizer, task: Task, failures, queries, cfg: RunConfig, out_dir, resume: bool = True):
    """R3 + answer reward: as R3, and the successful retry's tokens are trained too."""
    return _train(model, tokenizer, task, failures, cfg, out_dir, resume, train_successful_retry=True)
