"""Vanilla GRPO (the standard RLVR recipe): G first attempts per train query, reward = the verifier's
success, loss on the answer tokens. No failures, reflections or retries.

It trains on all the mined train queries (``Mined.queries``: every query ``reflectrl mine`` sampled, solved or
not), not only the failures R3 uses. With dynamic sampling (the default) groups where every attempt
got the same reward never reach the update.
"""

from __future__ import annotations

from pathlib import Path

from reflectrl.config import EpisodeConfig, RunConfig, TrainConfig
from reflectrl.errors import ReflectrlError
from reflectrl.rollout.engine import Engine
from reflectrl.rollout.episode import attempt_prompt
from reflectrl.tasks import Example, Task
from reflectrl.train.packing import Group
from reflectrl.train.pool import FailurePool, Mined


class FirstAttempt:
    """G first attempts per train query, verified."""

    name = "grpo"

    def __init__(self, task: Task, queries: list[Example], episode: EpisodeConfig, cfg: TrainConfig):
        if not queries:
            raise ReflectrlError("no train queries to train on (is the mine folder's mined.jsonl empty?)")
        self.task, self.cfg = task, cfg
        self.pool = FailurePool(queries, cfg.seed)
        self.sampling = episode.sampling("attempt", cfg)

    def sample(self, engine: Engine, queries: list[Example], seed: int) -> tuple[list[Group], int]:
        prompts = [attempt_prompt(engine, self.task, q) for q in queries]
        attempts = engine.generate(prompts, self.cfg.num_generations, self.sampling, seed=seed)
        groups = []
        for prompt, q, samples in zip(prompts, queries, attempts, strict=True):
            success = [float(self.task.verify(q, s.text).success) for s in samples]
            groups.append(
                Group(
                    prefix=prompt,
                    completions=[s.token_ids for s in samples],
                    masks=[[1] * len(s.token_ids) for s in samples],  # every answer token is trained
                    rewards=success,
                    logprobs=[s.logprobs for s in samples],
                    info=[{"answer_success": ok} for ok in success],
                )
            )
        return groups, sum(len(s.token_ids) for samples in attempts for s in samples)


def train_grpo(model, tokenizer, task: Task, mined: Mined, cfg: RunConfig, out_dir, resume: bool = True) -> Path:
    """Plain GRPO on first attempts of the mined train queries."""
    from reflectrl.train.loop import train_policy

    rollout = FirstAttempt(task, mined.queries, cfg.episode, cfg.train)
    return train_policy(model, tokenizer, rollout, cfg, out_dir, cfg.episode.max_attempt_tokens, resume)
