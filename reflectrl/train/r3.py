"""R3: GRPO on the dataset of failures that rewards only the reflection.

For each (query, failed attempt) the rollout samples G reflections, lets the model retry after each (k times
with ``train.retries_per_reflection``), and verifies the retries. Reward = the share of retries that succeed, or
with ``train.retry_reward: expected`` that share's expectation: the policy's probability of retrying with one of the
task's reference answers, computed rather than sampled; ``train.reflection_format`` adds a bonus for keeping a form;
``train.reward_leaks=false`` gives a reflection that holds a candidate answer nothing.
The loss covers the reflection tokens only: the query and failed attempt are the shared prefix, and the retry
is not part of the trained completion at all. Dropping it is exact, not an approximation: in a causal LM tokens
after the reflection cannot change the reflection's log-probabilities, and it saves the forward/backward over
the retry.

``r3-answer`` (the ablation asked for in the talk) also trains the retry's tokens when the retry succeeded: the
completion is reflection + retry prompt + retry, with the retry prompt (not model-written) and failed retries
untrained.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from reflectrl.config import EpisodeConfig, MineConfig, RunConfig, TrainConfig
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import read_jsonl
from reflectrl.reflections import describe as describe_reflection
from reflectrl.rollout.engine import Engine
from reflectrl.rollout.episode import after_attempt, continue_chat, reference_probability, reflection_context
from reflectrl.tasks import Example, Task
from reflectrl.train.packing import Group
from reflectrl.train.pool import FailurePool, Mined


def trainable_failures(failures: list[dict[str, Any]], cfg: TrainConfig) -> list[dict[str, Any]]:
    """The mined failures R3 trains on: queries solved at least ``min_query_success`` of the time, at most
    ``max_failures_per_query`` failed attempts each."""
    per_query: dict[str, int] = {}
    kept = []
    for f in failures:
        if (
            f["query_success_rate"] < cfg.min_query_success
            or per_query.get(f["query_id"], 0) >= cfg.max_failures_per_query
        ):
            continue
        per_query[f["query_id"]] = per_query.get(f["query_id"], 0) + 1
        kept.append(f)
    if not kept:
        raise ReflectrlError(
            f"no failures to train on ({len(failures)} mined; train.min_query_success={cfg.min_query_success} "
            "filters them all out)"
        )
    random.Random(cfg.seed).shuffle(kept)
    return kept


class ReflectRetry:
    """G reflections per failure, then k retries after each, verified."""

    name = "r3"

    def __init__(
        self,
        task: Task,
        failures: list[dict[str, Any]],
        episode: EpisodeConfig,
        cfg: TrainConfig,
        train_retry=False,
        queries: list[Example] | None = None,
        mine: MineConfig | None = None,
    ):
        if train_retry and cfg.retries_per_reflection > 1:
            raise ReflectrlError(
                "train.retries_per_reflection > 1 is for r3; r3-answer trains one retry per reflection"
            )
        if cfg.remine_every and not queries:
            raise ReflectrlError("train.remine_every needs the mined queries (mined.jsonl next to failures.jsonl)")
        self.task, self.episode, self.cfg, self.train_retry = task, episode, cfg, train_retry
        self.queries, self.mine = queries or [], mine or MineConfig()
        self.pool = FailurePool(trainable_failures(failures, cfg), cfg.seed)
        self.reflection_sampling = episode.sampling("reflection", cfg)
        self.retry_sampling = episode.sampling("retry", cfg)
        self.form = re.compile(cfg.reflection_format) if cfg.reflection_format else None

    def remine(self, engine: Engine, folder: Path, seed: int) -> dict[str, Any]:
        """Mine the queries again with the policy behind ``engine`` into ``folder`` (resumable: a finished folder
        is read back); returns the mining stats. ``use_failures`` then switches the pool to them."""
        from reflectrl.mine import mine

        sampling = self.episode.sampling("attempt", self.cfg)  # as the first mining: at the training temperature
        return mine(engine, self.task, self.queries, folder, self.mine.samples, sampling, seed, self.mine.chunk_size)

    def use_failures(self, folder: Path) -> bool:
        """Train on ``folder``'s failures.jsonl from now on; keeps the current ones (False) when none is trainable.
        A missing or corrupt file is an error, not an empty re-mining."""
        path = folder / "failures.jsonl"
        if not path.is_file():
            raise ReflectrlError(f"re-mined failures not found: {path} (was the run folder's remine/ deleted?)")
        failures = read_jsonl(path)
        try:
            kept = trainable_failures(failures, self.cfg)
        except ReflectrlError:
            return False
        self.pool.replace(kept)
        return True

    def sample(self, engine: Engine, failures: list[dict[str, Any]], seed: int) -> tuple[list[Group], int]:
        tok, g, k = engine.tokenizer, self.cfg.num_generations, self.cfg.retries_per_reflection
        prompts = self.episode.prompts()
        contexts = [
            reflection_context(
                engine, self.task, f, after_attempt(self.task, f["example"], f["attempt"], prompts, prompts.reflection)
            )
            for f in failures
        ]
        reflections = engine.generate(contexts, g, self.reflection_sampling, seed=seed)
        retry_contexts = [
            continue_chat(tok, ctx, r, self.episode.retry_prompt.format(question=self.task.question(f["example"])))
            for ctx, f, group in zip(contexts, failures, reflections, strict=True)
            for r in group
        ]
        retries = engine.generate(retry_contexts, k, self.retry_sampling, seed=seed + 1)
        generated = sum(len(s.token_ids) for group in [*reflections, *retries] for s in group)
        expected = None
        if self.cfg.retry_reward == "expected":
            expected = self._expected_success(engine, failures, retry_contexts)

        groups = []
        for i, (ctx, f) in enumerate(zip(contexts, failures, strict=True)):
            group = Group(prefix=ctx, completions=[], masks=[], rewards=[], logprobs=[])
            for j, refl in enumerate(reflections[i]):
                tries = retries[i * g + j]
                success = [self.task.verify(f["example"], r.text).success for r in tries]
                info = {"retry_success": sum(success) / k, "reflection_tokens": len(refl.token_ids)}
                if expected is not None:
                    info["expected_success"] = expected[i * g + j]
                reward = info.get("expected_success", info["retry_success"])
                if self.form:
                    info["format_match"] = float(self.form.search(refl.text) is not None)
                    reward += self.cfg.format_reward * info["format_match"]
                measures = describe_reflection(
                    self.task, f["example"], f["attempt"], refl.text, tries[0].text, len(refl.token_ids)
                )
                if measures["leak"] and not self.cfg.reward_leaks:
                    reward = 0.0
                group.rewards.append(reward)
                group.info.append(info)
                group.measures.append(measures)
                if not self.train_retry:
                    group.completions.append(refl.token_ids)
                    group.masks.append([1] * len(refl.token_ids))
                    group.logprobs.append(refl.logprobs)
                    continue
                retry, ok = tries[0], success[0]
                glue = retry_contexts[i * g + j][len(ctx) + len(refl.token_ids) :]
                group.completions.append(refl.token_ids + glue + retry.token_ids)
                group.masks.append([1] * len(refl.token_ids) + [0] * len(glue) + [int(ok)] * len(retry.token_ids))
                known = refl.logprobs is not None and retry.logprobs is not None
                group.logprobs.append(refl.logprobs + [0.0] * len(glue) + retry.logprobs if known else None)
            groups.append(group)
        return groups, generated

    def _expected_success(self, engine: Engine, failures: list[dict[str, Any]], retry_contexts) -> list[float]:
        """For each retry context (G per failure), the probability the policy's retry is a reference answer."""
        g, t = self.cfg.num_generations, self.retry_sampling.temperature
        try:
            return [
                p
                for i, f in enumerate(failures)
                for p in reference_probability(engine, self.task, f["example"], retry_contexts[i * g : (i + 1) * g], t)
            ]
        except ReflectrlError as e:
            raise ReflectrlError(f"train.retry_reward=expected: {e} (use retry_reward=sampled)") from e


def _train(model, tokenizer, task, mined: Mined, cfg: RunConfig, out_dir, resume: bool, train_retry: bool) -> Path:
    from reflectrl.train.loop import train_policy

    if cfg.train.retry_reward == "expected" and cfg.engine.name != "hf":  # say so before an engine loads
        raise ReflectrlError(f"train.retry_reward=expected scores retries with the hf engine, not {cfg.engine.name}")
    rollout = ReflectRetry(task, mined.failures, cfg.episode, cfg.train, train_retry, mined.queries, cfg.mine)
    ep = cfg.episode
    max_len = ep.max_reflection_tokens + (ep.max_retry_tokens + 64 if train_retry else 0)
    return train_policy(model, tokenizer, rollout, cfg, out_dir, max_len, resume)


def train_r3(model, tokenizer, task: Task, mined: Mined, cfg: RunConfig, out_dir, resume: bool = True) -> Path:
    """R3 on the mined failures (the queries only to re-mine them): reward = retry success; loss on the reflection."""
    return _train(model, tokenizer, task, mined, cfg, out_dir, resume, train_retry=False)


def train_r3_answer(model, tokenizer, task: Task, mined: Mined, cfg: RunConfig, out_dir, resume: bool = True) -> Path:
    """R3 + answer reward: as R3, and the successful retry's tokens are trained too."""
    return _train(model, tokenizer, task, mined, cfg, out_dir, resume, train_retry=True)
