"""Warm-up SFT ("knowledge boost", as in RISE) on verified solutions, with TRL's SFTTrainer.

A model with zero task ability gives GRPO nothing to learn from, so it first learns the answer
format from solver-verified solutions. Answer-only data alone teaches the model to answer every
turn with another guess, so part of the data is whole episodes: a wrong attempt, a reflection that
names the verifier's finding, and a correct retry (the reflection and retry are trained; the wrong
attempt is context only, never a target).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from trl import SFTTrainer

from reflectrl.config import BoostConfig, EpisodeConfig
from reflectrl.console import info
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import atomic_write_json
from reflectrl.rollout.episode import after_attempt
from reflectrl.tasks import Example, Task
from reflectrl.train.common import (
    drop_checkpoints,
    final_model_dir,
    last_checkpoint,
    save_final_model,
    trained_token_nll,
)
from reflectrl.train.precision import prepare_for_training, training_arguments


def boost_rows(task: Task, examples: list[Example], episode: EpisodeConfig, reflection_fraction: float, seed: int):
    """Prompt-completion rows (TRL's conversational format) for the warm-up."""
    rng = random.Random(seed)
    prompts = episode.prompts()
    rows: list[dict[str, Any]] = []
    for ex in examples:
        pairs = task.boost_examples(ex)
        for messages, completion in pairs:
            rows.append({"prompt": messages, "completion": [{"role": "assistant", "content": completion}]})
        if not pairs or rng.random() >= reflection_fraction:
            continue
        messages, answer = pairs[0]
        retry = episode.retry_prompt.format(question=task.question(ex))
        for attempt, reflection in task.boost_reflections(ex, seed):
            context = [
                *messages,
                {"role": "assistant", "content": attempt},
                {"role": "user", "content": after_attempt(task, ex, attempt, prompts, prompts.reflection)},
            ]
            rows.append({"prompt": context, "completion": [{"role": "assistant", "content": reflection}]})
            context = [
                *context,
                {"role": "assistant", "content": reflection},
                {"role": "user", "content": retry},
            ]
            rows.append({"prompt": context, "completion": [{"role": "assistant", "content": answer}]})
    rng.shuffle(rows)
    return rows


def completion_loss(model, inputs, num_items_in_batch=None) -> torch.Tensor:
    """TRL's SFT loss (summed NLL of the trained tokens over ``num_items_in_batch``), with the LM head run only
    where rows train (``trained_token_nll``): ~15-token answers after ~100-token prompts."""
    extra = {k: inputs[k] for k in ("attention_mask", "position_ids") if inputs.get(k) is not None}
    nll, trained = trained_token_nll(model, inputs["input_ids"], inputs["labels"], **extra)
    count = num_items_in_batch if num_items_in_batch is not None else trained.sum()
    return (nll * trained).sum() / torch.as_tensor(count).clamp(min=1)  # all masked: a finite zero, as in TRL


def boost(model, tokenizer, task: Task, examples: list[Example], cfg: BoostConfig, episode: EpisodeConfig, out_dir):
    """Train and save an HF model folder under ``out_dir/model``; resumes from the last checkpoint."""
    from datasets import Dataset
    from trl import SFTConfig

    out = Path(out_dir)
    rows = boost_rows(task, examples, episode, cfg.reflection_fraction, cfg.seed)
    if not rows:
        raise ReflectrlError(f"task {task.name!r} provides no boost data (Task.boost_examples returned nothing)")
    info(f"boost: {len(rows)} rows from {len(examples)} problems ({cfg.reflection_fraction:.0%} with reflections)")
    args = training_arguments(
        SFTConfig,
        "boost.precision",
        cfg.precision,
        output_dir=str(out / "checkpoints"),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=0.0,
        max_length=cfg.max_length,
        completion_only_loss=True,
        # Answer rows are ~110 tokens, reflection episodes ~300: batching by length avoids paying for padding.
        train_sampling_strategy="group_by_length",
        gradient_checkpointing=cfg.gradient_checkpointing,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        report_to=cfg.report_to,
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=0,
        disable_tqdm=False,
        **prepare_for_training(model, cfg.precision, "boost.precision"),
    )
    peft_config = cfg.lora.peft_config() if cfg.lora.enabled else None
    trainer = CompletionSFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.train(resume_from_checkpoint=last_checkpoint(out / "checkpoints"))
    final = save_final_model(trainer.accelerator, trainer.model, tokenizer, final_model_dir(out))
    summary = {"rows": len(rows), "problems": len(examples), "steps": trainer.state.global_step}
    summary["log_history"] = trainer.state.log_history
    atomic_write_json(out / "boost.json", summary)
    drop_checkpoints(out, cfg.keep_checkpoints)
    return final


class CompletionSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer with ``completion_loss`` off CUDA. On CUDA TRL's Triton head already scores only the
    trained positions, in chunks, without materialising logits: it stays (``trl_loss``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trl_loss = self.args.device.type == "cuda"

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        a = self.args
        # Ours is TRL's plain NLL only: other losses, label smoothing and packed rows stay TRL's.
        plain = a.loss_type == "nll" and self.label_smoother is None and self.compute_loss_func is None
        if self.trl_loss or return_outputs or not plain or a.packing or a.padding_free:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = completion_loss(model, inputs, num_items_in_batch)
        # As TRL: with a token count summed over all processes, undo DDP's gradient averaging.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        return loss
