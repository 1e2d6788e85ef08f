"""Vanilla GRPO (the standard RLVR recipe): G first attempts per train query, reward = the verifier's
success, loss on the answer tokens. No failures, reflections or retries.

It trains on all the mined train queries (the ``queries`` argument: every query ``reflectrl mine``
sampled, solved or not), not only the failures R3 uses; groups where every attempt got the same reward
have zero advantage and teach nothing, as in any GRPO run.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from reflectrl.config import EngineConfig, EpisodeConfig, RunConfig, TrainConfig
from reflectrl.errors import ReflectrlError
from reflectrl.rollout.chat import encode_chat
from reflectrl.rollout.engine import Engine, Sampling
from reflectrl.tasks import Example, Task
from reflectrl.tasks.base import stable_hash
from reflectrl.train.common import count_all_processes
from reflectrl.train.r3 import prompt_key


def query_rows(task: Task, queries: list[Example], seed: int) -> list[dict[str, Any]]:
    """GRPO prompts: each train query's first-attempt messages."""
    if not queries:
        raise ReflectrlError("no train queries to train on (is the mine folder's mined.jsonl empty?)")
    rows = [{"prompt": task.messages(q), "example": json.dumps(q)} for q in queries]
    random.Random(seed).shuffle(rows)
    return rows


class FirstAttemptRollout:
    """TRL ``rollout_func``: G first attempts per prompt group with our engine, verified."""

    def __init__(self, task: Task, rows: list[dict[str, Any]], episode: EpisodeConfig, cfg: TrainConfig, engine_cfg):
        self.task = task
        self.examples = {prompt_key(r["prompt"]): json.loads(r["example"]) for r in rows}
        self.cfg = cfg
        self.engine_cfg: EngineConfig = engine_cfg
        self.sampling = Sampling(episode.max_attempt_tokens, cfg.temperature, cfg.top_p)
        self.engine: Engine | None = None
        self.generated_tokens = 0
        self.rollout_seconds = 0.0  # wall time inside this call: generation, weight sync, verification

    def __call__(self, prompts: list[list[dict[str, str]]], trainer) -> dict[str, list]:
        from reflectrl.train.rl import prompt_groups, synced_engine

        started = time.perf_counter()
        self.engine = synced_engine(self.engine, self.engine_cfg, trainer)
        tok = trainer.processing_class
        seed = stable_hash("grpo", self.cfg.seed, trainer.state.global_step, trainer.accelerator.process_index)

        # One generate call draws a group's G attempts.
        group_prompts, g = prompt_groups(prompts)
        examples = [self.examples[prompt_key(p)] for p in group_prompts]
        contexts = [encode_chat(tok, p, self.task.tools(ex)) for p, ex in zip(group_prompts, examples, strict=True)]
        samples = self.engine.generate(contexts, g, self.sampling, seed=seed % 2**31)

        prompt_ids, completion_ids, success = [], [], []
        for ctx, ex, group in zip(contexts, examples, samples, strict=True):
            for s in group:
                prompt_ids.append(ctx)
                completion_ids.append(s.token_ids)
                success.append(float(self.task.verify(ex, s.text).success))
        self.generated_tokens += count_all_processes(trainer, sum(len(ids) for ids in completion_ids))
        self.rollout_seconds += time.perf_counter() - started
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": completion_ids,
            "logprobs": None,
            "env_mask": [[1] * len(ids) for ids in completion_ids],  # every answer token is trained
            "answer_success": success,
        }


def answer_reward(prompts, completions, answer_success, log_metric=None, **_) -> list[float]:
    """Reward = 1 when the first attempt is correct."""
    if log_metric is not None:
        log_metric("answer_success", sum(answer_success) / len(answer_success))
    return list(answer_success)


def train_grpo(model, tokenizer, task: Task, failures, queries, cfg: RunConfig, out_dir, resume: bool = True) -> Path:
    """Plain GRPO on first attempts of the train queries; ``failures`` are not used."""
    from reflectrl.train.rl import run_grpo

    rows = query_rows(task, queries, cfg.train.seed)
    rollout = FirstAttemptRollout(task, rows, cfg.episode, cfg.train, cfg.engine)
    max_len = cfg.episode.max_attempt_tokens
    return run_grpo(model, tokenizer, rows, rollout, [answer_reward], cfg.train, out_dir, max_len, resume)
