"""RISE: Recursive IntroSpEction (Qu, Zhang, Garg, Kumar; NeurIPS 2024), the self-distillation variant.

Each round:

1. *Collect* with the current model. Per train query, a multi-turn rollout of up to ``rise.turns`` turns:
   turn 1 is the query; turn t+1 is the whole conversation so far plus the generic
   ``episode.retry_message`` ("that is incorrect, try again": no hint of what is wrong). At each turn N =
   ``rise.samples`` responses are drawn and the best one (the first correct, else the first sample) is
   that turn's training target. The rollout goes on with the on-policy sample (which, when it goes on,
   is wrong, like every other sample of that turn) and stops at the first turn solved, so no rollout ever
   gets worse in a later turn.
2. *Train* by reward-weighted regression: SFT on every collected (conversation so far -> target), where
   only the target's tokens carry loss (earlier turns and feedback are context), each weighted by
   ``exp(r / tau)``: with the binary reward a correct target weighs exp(1/0.4) ~= 12.2 and a wrong one 1.
   Wrong targets are trained too, as in RISE (it learns from both good and bad parts of rollouts).

The loss of a batch is sum_i w_i * sum_t nll_it / (number of trained tokens), as in the reference RWR
trainer (a mean over tokens; the weights scale, they are not renormalised per batch).

``train.budget_tokens`` is split evenly over the rounds: round i collects chunks of queries until the
tokens generated so far reach (i + 1) / rounds of the budget (one chunk at least; so the budget can be
overshot by up to a chunk's tokens, and the tokens actually generated are what gets reported).
``train.budget_seconds`` is split the same way over the stage's measured time: the collection of every chunk
and every round's training (trainer setup + ``Trainer.train``) count; loading the round's model does not. A
round whose share is used up still collects one chunk and trains, so the budget is overshot by up to a chunk
and a round's training.
Everything is resumable: collected rollouts are appended per chunk of queries (with the chunk's seconds),
each round's training checkpoints (with the seconds trained so far), and a round whose model exists is
skipped; so resumed sittings add up to the time of the work kept.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from reflectrl.config import RiseConfig, RunConfig
from reflectrl.console import info
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import JsonlWriter, atomic_write_json, atomic_write_text, read_jsonl
from reflectrl.models import atomic_folder, load_model
from reflectrl.rollout.engine import Engine, Sampling
from reflectrl.rollout.episode import attempt_prompt, continue_chat
from reflectrl.tasks import Example, Task
from reflectrl.tasks.base import stable_hash
from reflectrl.train.common import (
    IGNORE,
    drop_checkpoints,
    final_model_dir,
    last_checkpoint,
    save_final_model,
    trained_token_nll,
)
from reflectrl.train.pool import Mined
from reflectrl.train.precision import prepare_for_training, rollout_dtype, training_arguments


def rwr_weight(reward: float, tau: float) -> float:
    return math.exp(reward / tau)


def collect(
    engine: Engine,
    task: Task,
    queries: list[Example],
    retry_message: str,
    cfg: RiseConfig,
    sampling: Sampling,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One multi-turn rollout per query, batched across queries turn by turn. Returns one record per query:
    its training rows (one per turn reached), the tokens generated, and each turn's sampled success rate."""
    tok = engine.tokenizer
    states = [attempt_prompt(engine, task, q) for q in queries]
    records: list[dict[str, Any]] = [{"id": q["id"], "tokens": 0, "rows": [], "sampled_success": []} for q in queries]
    active = list(range(len(queries)))
    for turn in range(1, cfg.turns + 1):
        if not active:
            break
        outputs = engine.generate([states[i] for i in active], cfg.samples, sampling, seed=seed + turn)
        still = []
        for i, samples in zip(active, outputs, strict=True):
            oks = [task.verify(queries[i], s.text).success for s in samples]
            best = oks.index(True) if any(oks) else 0
            reward = float(oks[best])
            rec = records[i]
            rec["tokens"] += sum(len(s.token_ids) for s in samples)
            rec["sampled_success"].append(sum(oks) / len(oks))
            rec["rows"].append(
                {
                    "turn": turn,
                    "context_ids": states[i],
                    "target_ids": samples[best].token_ids,
                    "target": samples[best].text,
                    "reward": reward,
                    "weight": rwr_weight(reward, cfg.tau),
                }
            )
            if not oks[best] and turn < cfg.turns:
                # Continue on-policy: the learner's own (wrong) sample stays in the conversation.
                states[i] = continue_chat(tok, states[i], samples[0], retry_message)
                still.append(i)
        active = still
    return records


def training_rows(records: list[dict[str, Any]], max_length: int) -> tuple[list[dict[str, Any]], int]:
    """Tokenized SFT rows: the conversation so far is context (label -100), the target is trained."""
    rows, dropped = [], 0
    for rec in records:
        for r in rec["rows"]:
            ids = r["context_ids"] + r["target_ids"]
            if len(ids) > max_length:
                dropped += 1
                continue
            labels = [IGNORE] * len(r["context_ids"]) + r["target_ids"]
            rows.append({"input_ids": ids, "labels": labels, "weight": r["weight"]})
    return rows, dropped


def collate(pad_id: int):
    def fn(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            input_ids[i, :n] = torch.tensor(b["input_ids"])
            attention[i, :n] = 1
            labels[i, :n] = torch.tensor(b["labels"])
        weight = torch.tensor([float(b["weight"]) for b in batch])
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels, "weight": weight}

    return fn


def rwr_loss(model, input_ids, attention_mask, labels, weight) -> torch.Tensor:
    """sum_i w_i * sum_t nll_it over trained tokens, divided by the number of trained tokens."""
    if not (labels[:, 1:] != IGNORE).any():
        raise ReflectrlError("a RISE batch has no trained tokens")
    nll, trained = trained_token_nll(model, input_ids, labels, attention_mask=attention_mask)
    return (nll * weight.to(nll.dtype)[:, None] * trained).sum() / trained.sum()


class RewardWeightedTrainer(Trainer):
    """transformers' Trainer with RISE's reward-weighted regression loss (a ``weight`` column per row)."""

    loss_is_scaled_for_ga = False  # a per-micro-batch mean: the Trainer divides by the accumulation steps

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = rwr_loss(model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"], inputs["weight"])
        return (loss, None) if return_outputs else loss


def make_rwr_trainer(model, tokenizer, rows: list[dict[str, Any]], cfg: RunConfig, out: Path, setting: dict[str, Any]):
    """The round's reward-weighted SFT trainer; ``setting``: ``prepare_for_training``'s, for ``model``."""
    from datasets import Dataset
    from transformers import TrainingArguments

    from reflectrl.train.common import MetricsFile

    rc, tc = cfg.rise, cfg.train
    args = training_arguments(
        TrainingArguments,
        "train.precision",
        tc.precision,
        output_dir=str(out / "checkpoints"),
        num_train_epochs=rc.epochs,
        per_device_train_batch_size=rc.batch_size,
        gradient_accumulation_steps=rc.gradient_accumulation_steps,
        learning_rate=rc.learning_rate,
        lr_scheduler_type=rc.lr_scheduler,
        warmup_steps=tc.warmup_ratio,
        weight_decay=0.0,
        max_grad_norm=tc.max_grad_norm,
        gradient_checkpointing=tc.gradient_checkpointing,
        logging_steps=1,
        save_strategy="steps",
        save_steps=tc.save_steps,
        save_total_limit=2,
        report_to=tc.report_to,
        seed=tc.seed,
        data_seed=tc.seed,
        remove_unused_columns=False,  # keeps the weight column
        label_names=["labels"],
        dataloader_num_workers=0,
        disable_tqdm=False,
        **setting,
    )
    if tc.lora.enabled:
        from peft import get_peft_model

        model = get_peft_model(model, tc.lora.peft_config())
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return RewardWeightedTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        data_collator=collate(pad_id),
        callbacks=[MetricsFile(out / "metrics.jsonl")],
    )


def round_queries(queries: list[Example], cfg: RiseConfig, round_index: int, seed: int) -> list[Example]:
    """Round i rolls out the next ``queries_per_round`` queries of a seeded order, cycling (distinct within a round)."""
    order = list(queries)
    random.Random(stable_hash("rise-order", seed)).shuffle(order)
    per = min(cfg.queries_per_round or len(order), len(order))
    start = round_index * per
    return [order[(start + j) % len(order)] for j in range(per)]


def collect_round(
    engine, task, queries, cfg: RunConfig, path: Path, round_index: int, spent: int, stop_at, seconds=0.0, until=None
):
    """Collect into ``path`` chunk by chunk (resumable), until the queries are done, the tokens generated so
    far reach ``stop_at`` or the stage's seconds so far reach ``until``. Returns this round's records and the
    updated token count and seconds. Each newly written record carries its share of its chunk's collection
    time (``seconds``), so a resumed sitting counts the time of the chunks it reuses."""
    rc = cfg.rise
    sampling = cfg.episode.sampling("attempt", cfg.train)
    done = {r["id"]: r for r in read_jsonl(path, repair=True)}
    records: list[dict[str, Any]] = []
    with JsonlWriter(path) as writer:
        for start in range(0, len(queries), rc.chunk_size):
            chunk = queries[start : start + rc.chunk_size]
            if all(q["id"] in done for q in chunk):
                got = [done[q["id"]] for q in chunk]
                seconds += sum(r.get("seconds", 0.0) for r in got)
            elif records and _reached(spent, stop_at, seconds, until):  # every round collects one chunk at least
                break
            else:
                seed = stable_hash("rise", cfg.train.seed, round_index, chunk[0]["id"]) % 2**31
                started = time.perf_counter()
                got = collect(engine, task, chunk, cfg.episode.retry_message, rc, sampling, seed)
                elapsed = time.perf_counter() - started
                new = [r for r in got if r["id"] not in done]
                for r in new:
                    r["seconds"] = round(elapsed / len(new), 6)
                writer.write_many(new)
                seconds += elapsed
            records += got
            spent += sum(r["tokens"] for r in got)
    return records, spent, seconds


def _reached(tokens: int, token_limit, seconds: float, second_limit) -> bool:
    return (token_limit is not None and tokens >= token_limit) or (second_limit is not None and seconds >= second_limit)


SECONDS = "reflectrl_seconds.json"  # in a RISE round's checkpoint: the round's training seconds up to it


class Stopwatch(TrainerCallback):
    """Writes the round's training seconds so far (``base``: those of the sittings before) into each checkpoint."""

    def __init__(self, base: float, started: float):
        self.base, self.started = base, started

    def seconds(self) -> float:
        return self.base + time.perf_counter() - self.started

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                atomic_write_json(folder / SECONDS, {"seconds": round(self.seconds(), 3)})


def _checkpoint_seconds(checkpoint: str | None) -> float:
    path = Path(checkpoint or "") / SECONDS
    return json.loads(path.read_text())["seconds"] if checkpoint and path.is_file() else 0.0


def _round_metrics(
    round_index: int, records, spent: int, steps_before: int, trainer_log: list[dict], seconds: float
) -> list[dict]:
    rows = [r for rec in records for r in rec["rows"]]
    first = [rec["sampled_success"][0] for rec in records if rec["sampled_success"]]
    sampled = [x for rec in records for x in rec["sampled_success"]]
    point = {
        "step": steps_before,
        "round": round_index,
        "generated_tokens": spent,
        "reward": sum(sampled) / len(sampled) if sampled else 0.0,  # success of the sampled responses
        "turn1_success": sum(first) / len(first) if first else 0.0,
        "best_of_n_success": sum(r["reward"] for r in rows) / len(rows) if rows else 0.0,
        "rollout_turns": len(rows) / len(records) if records else 0.0,
        "train_seconds": round(seconds, 3),  # the stage's seconds when the round's collection ended
    }
    logged = [
        {**m, "step": steps_before + m["step"], "round": round_index, "generated_tokens": spent} for m in trainer_log
    ]
    return [point, *logged]


def train_rise(model, tokenizer, task: Task, mined: Mined, cfg: RunConfig, out_dir, resume: bool = True) -> Path:
    """RISE rounds (collect with the current model -> reward-weighted SFT) on the mined train queries. Saves the
    last round's model as ``out_dir/model``."""
    from reflectrl.rollout import make_engine

    queries = mined.queries
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rc, budget, budget_seconds = cfg.rise, cfg.train.budget_tokens, cfg.train.budget_seconds
    if not queries:
        raise ReflectrlError("no train queries to roll out (is the mine folder's mined.jsonl empty?)")
    if not resume and any(out.glob("round-*")):
        raise ReflectrlError(f"{out} already holds RISE rounds: resume, or choose another output folder")
    spent, seconds, steps, metrics, previous = 0, 0.0, 0, [], None
    for i in range(rc.rounds):
        rdir = out / f"round-{i}"
        rdir.mkdir(exist_ok=True)
        if previous is not None:  # each round starts from the model the previous round trained (fp32 masters)
            model, tokenizer = load_model(str(previous), "fp32", cfg.model.device, cfg.model.threads, cfg.model)
        stop_at = None if budget is None else budget * (i + 1) // rc.rounds
        until = None if budget_seconds is None else budget_seconds * (i + 1) / rc.rounds
        setting = prepare_for_training(model, cfg.train.precision, "train.precision")  # the masters, cast in place
        # Under mixed precision the round collects with a bf16 (fp16) copy, dropped before the round trains.
        engine = make_engine(cfg.engine, model, tokenizer, cfg.model.trust_remote_code, rollout_dtype(setting))
        qs = round_queries(queries, rc, i, cfg.train.seed)
        records, spent, seconds = collect_round(
            engine, task, qs, cfg, rdir / "collected.jsonl", i, spent, stop_at, seconds, until
        )
        del engine
        if not records:
            break
        collected_seconds = seconds
        rows, dropped = training_rows(records, rc.max_length)
        if dropped:
            info(f"rise round {i}: dropped {dropped} rows longer than rise.max_length={rc.max_length}")
        if not (final_model_dir(rdir) / "config.json").is_file():
            info(f"rise round {i}: {len(records)} rollouts, {len(rows)} trained turns, {spent} tokens generated so far")
            started = time.perf_counter()
            trainer = make_rwr_trainer(model, tokenizer, rows, cfg, rdir, setting)
            checkpoint = last_checkpoint(rdir / "checkpoints")
            stopwatch = Stopwatch(_checkpoint_seconds(checkpoint), started)
            trainer.add_callback(stopwatch)
            trainer.train(resume_from_checkpoint=checkpoint)
            trained = {"global_step": trainer.state.global_step, "rows": len(rows), "seconds": stopwatch.seconds()}
            atomic_write_json(rdir / "train_state.json", trained)  # before the model, whose presence ends the round
            save_final_model(trainer.accelerator, trainer.model, tokenizer, final_model_dir(rdir))
        drop_checkpoints(rdir, cfg.train.keep_checkpoints)  # again on a rerun: a kill may have come before it
        state = json.loads((rdir / "train_state.json").read_text())
        seconds += state.get("seconds", 0.0)
        metrics += _round_metrics(i, records, spent, steps, read_jsonl(rdir / "metrics.jsonl"), collected_seconds)
        atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))
        steps += state["global_step"]
        previous = final_model_dir(rdir)
        if _reached(spent, budget, seconds, budget_seconds):
            break
    if previous is None:
        raise ReflectrlError("RISE collected nothing (train.budget_tokens too small?)")
    summary = {"generated_tokens": spent, "steps": steps, "budget": budget, "train_seconds": round(seconds, 3)}
    atomic_write_json(out / "generated_tokens.json", {**summary, "budget_seconds": budget_seconds})
    atomic_write_json(out / "train_state.json", {"global_step": steps})  # both before the model that ends the stage
    final = final_model_dir(out)
    if not (final / "config.json").is_file():
        with atomic_folder(final) as tmp:  # the last round's model, made of hard links (no extra disk)
            shutil.copytree(previous, tmp, copy_function=os.link, dirs_exist_ok=True)
    return final
