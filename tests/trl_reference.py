"""TRL 1.16's GRPOTrainer fed recorded groups: the update path reflectrl used before its own loop
(reflectrl/train/loop.py). tests/test_loss.py checks our loss and gradient against it; benchmarks/train_step.py
times both on the same rollouts. Plain Python with no pytest import."""

from __future__ import annotations

import os
from pathlib import Path


def trl_trainer(model, tokenizer, steps: list, cfg, out: Path, max_completion_length: int):
    """A GRPOTrainer whose rollout returns ``steps[i]`` (a list of ``packing.Group``) at its i-th generation.
    ``cfg`` is a TrainConfig; precision, micro-batching, loss and KL follow it as reflectrl's old path did."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from reflectrl.train.precision import prepare_for_training, training_arguments

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    replay = iter(steps)
    per_step, g = len(steps[0]), len(steps[0][0].rewards)

    def rollout(prompts, trainer):
        groups = next(replay)
        batch = {"prompt_ids": [], "completion_ids": [], "env_mask": [], "recorded_reward": [], "logprobs": None}
        for group in groups:
            for completion, mask, reward in zip(group.completions, group.masks, group.rewards, strict=True):
                batch["prompt_ids"].append(group.prefix)
                batch["completion_ids"].append(completion)
                batch["env_mask"].append(mask)
                batch["recorded_reward"].append(reward)
        return batch

    def recorded_reward(prompts, completions, recorded_reward, **_):
        return list(recorded_reward)

    batch = g * per_step
    micro = min(cfg.micro_batch_size or batch, batch)
    args = training_arguments(
        GRPOConfig,
        "train.precision",
        cfg.precision,
        output_dir=str(out),
        max_steps=len(steps),
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=batch // micro,
        num_generations=g,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        weight_decay=0.0,
        max_grad_norm=cfg.max_grad_norm,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        temperature=cfg.temperature,
        max_completion_length=max_completion_length,
        num_iterations=1,
        mask_truncated_completions=False,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=cfg.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        **prepare_for_training(model, cfg.precision, "train.precision"),
    )
    prompts = [{"prompt": [{"role": "user", "content": f"group {i}"}]} for i in range(per_step * len(steps))]
    return GRPOTrainer(
        model=model,
        reward_funcs=[recorded_reward],
        args=args,
        train_dataset=Dataset.from_list(prompts),
        processing_class=tokenizer,
        rollout_func=rollout,
    )
