"""The GRPO machinery every RL algorithm shares: TRL's GRPOTrainer driven by our own rollout
function (TRL's ``rollout_func`` hook), so generation goes through our engines and episodes, and the
loss mask comes from ``env_mask`` (1 = trained token, 0 = context)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from reflectrl.config import EngineConfig, TrainConfig
from reflectrl.console import warn
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import JsonlWriter, atomic_write_json, read_jsonl
from reflectrl.rollout.engine import Engine
from reflectrl.rollout.vllm import vllm_start_error
from reflectrl.train.common import debug_callbacks, final_model_dir, last_checkpoint, save_final_model
from reflectrl.train.precision import prepare_for_training, training_arguments


class MetricsFile(TrainerCallback):
    """Mirror every logged dict to ``metrics.jsonl`` (what the report plots), once per step even
    after a resume replays steps."""

    def __init__(self, path: Path):
        self.path = path
        self.seen = {(r.get("step"), tuple(sorted(r))) for r in read_jsonl(path, repair=True)}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, int | float)}}
        key = (record["step"], tuple(sorted(record)))
        if key in self.seen:
            return
        self.seen.add(key)
        with JsonlWriter(self.path) as w:
            w.write(record)


def trl_vllm_args(engine: EngineConfig | None) -> dict[str, Any]:
    """GRPOConfig's vLLM settings. On GPUs, and always in server mode, TRL owns the vLLM instance: it starts
    it (colocate: one per process, ``external_launcher``; server: a client of ``vllm serve``) and pushes the
    weights after every optimizer step, gathering them under ZeRO-3/FSDP and merging LoRA. Our rollout
    functions then generate through it (``rollout.vllm.trainer_engine``). On CPU in colocate mode our own
    in-process engine does both (``VLLMEngine.sync_weights``), as before."""
    import torch

    if engine is None or engine.name != "vllm" or (engine.vllm_mode == "colocate" and not torch.cuda.is_available()):
        return {}
    return {
        "use_vllm": True,
        "vllm_mode": engine.vllm_mode,
        "vllm_server_base_url": engine.vllm_server_url,
        "vllm_server_timeout": engine.vllm_server_timeout,
        "vllm_group_port": engine.vllm_group_port,
        "vllm_gpu_memory_utilization": engine.vllm_gpu_memory_utilization,
        # Our rollouts return no sampling logprobs (the episode glues turns together), so TRL's
        # vLLM-vs-trainer importance-sampling correction has nothing to correct with.
        "vllm_importance_sampling_correction": False,
    }


def prompt_groups(prompts: list[list[dict[str, str]]]) -> tuple[list[list[dict[str, str]]], int]:
    """TRL repeats each prompt G times in a row: the distinct prompts in order, and G."""
    groups: list[tuple[list[dict[str, str]], int]] = []
    for p in prompts:
        if groups and groups[-1][0] == p:
            groups[-1] = (p, groups[-1][1] + 1)
        else:
            groups.append((p, 1))
    sizes = {n for _, n in groups}
    if len(sizes) != 1:
        raise RuntimeError(f"expected groups of equal size (num_generations), got sizes {sorted(sizes)}")
    return [p for p, _ in groups], sizes.pop()


def synced_engine(engine: Engine | None, engine_cfg: EngineConfig, trainer) -> Engine:
    """The rollout function's engine, created on first use, holding the trainer's current weights."""
    from reflectrl.rollout import make_engine
    from reflectrl.rollout.vllm import trainer_engine

    tok = trainer.processing_class
    model = trainer.accelerator.unwrap_model(trainer.model)
    if engine is None:
        # With use_vllm (GPUs, or a vLLM server) TRL runs vLLM and syncs its weights; we generate through it.
        engine = trainer_engine(trainer, tok) if trainer.use_vllm else make_engine(engine_cfg, model, tok)
    engine.sync_weights(model)
    return engine


def grpo_args(cfg: TrainConfig, out: Path, model, max_completion_length: int, engine: EngineConfig | None = None):
    from trl import GRPOConfig

    batch = cfg.num_generations * cfg.groups_per_step
    micro = min(cfg.micro_batch_size or batch, batch)  # the config checked that it divides the batch
    return training_arguments(
        GRPOConfig,
        "train.precision",
        cfg.precision,
        output_dir=str(out / "checkpoints"),
        max_steps=cfg.steps,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=batch // micro,  # TRL then generates once per optimizer step
        num_generations=cfg.num_generations,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=0.0,
        max_grad_norm=cfg.max_grad_norm,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        temperature=cfg.temperature,  # TRL divides logits by it when scoring: must match sampling
        top_p=cfg.top_p,
        max_completion_length=max_completion_length,
        num_iterations=1,
        mask_truncated_completions=False,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        report_to=cfg.report_to,
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=False,
        log_completions=False,
        dataloader_num_workers=0,
        **prepare_for_training(model, cfg.precision, "train.precision"),
        **trl_vllm_args(engine),
    )


def make_trainer(
    model, tokenizer, rows, rollout_func, reward_funcs, cfg: TrainConfig, out: Path, max_completion_length, callbacks=()
):
    from datasets import Dataset
    from trl import GRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental; our pin makes it stable
    out.mkdir(parents=True, exist_ok=True)
    engine = getattr(rollout_func, "engine_cfg", None)
    args = grpo_args(cfg, out, model, max_completion_length, engine)
    try:
        return GRPOTrainer(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            rollout_func=rollout_func,
            peft_config=cfg.lora.peft_config() if cfg.lora.enabled else None,
            callbacks=[*callbacks, MetricsFile(out / "metrics.jsonl"), *debug_callbacks()],
        )
    except Exception as e:
        # TRL's VLLMClient raises requests' ConnectionError (not the builtin one) when no server answers.
        unreachable = isinstance(e, ImportError | ConnectionError) or type(e).__name__ == "ConnectionError"
        if not (args.use_vllm and unreachable):
            raise
        raise ReflectrlError(vllm_start_error(e, engine)) from e


def no_signal_warning(metrics: list[dict[str, Any]]) -> str | None:
    """GRPO learns from reward differences within a group. When every group of every step had equal
    rewards there was no advantage anywhere: worth saying loudly, since the run still "succeeds"."""
    zero_std = [m["frac_reward_zero_std"] for m in metrics if "frac_reward_zero_std" in m]
    if not zero_std or min(zero_std) < 1.0:
        return None
    return (
        f"no reward signal: in all {len(zero_std)} logged steps every group's rewards were equal (all failed or "
        "all succeeded), so training had nothing to learn from; raise train.num_generations or train.steps, "
        "or boost more, until some groups mix successes and failures"
    )


def run_grpo(
    model,
    tokenizer,
    rows: list[dict[str, Any]],
    rollout_func,
    reward_funcs: list,
    cfg: TrainConfig,
    out_dir: str | Path,
    max_completion_length: int,
    resume: bool = True,
) -> Path:
    """Train with GRPO and save the final HF model folder under ``out_dir/model``."""
    from reflectrl.train.budget import TokenBudget

    out = Path(out_dir)
    callbacks = [TokenBudget(rollout_func, cfg.budget_tokens, out / "generated_tokens.json")]
    trainer = make_trainer(
        model, tokenizer, rows, rollout_func, reward_funcs, cfg, out, max_completion_length, callbacks
    )
    trainer.train(resume_from_checkpoint=last_checkpoint(out / "checkpoints") if resume else None)
    final = save_final_model(trainer, tokenizer, final_model_dir(out))
    if trainer.accelerator.is_main_process:
        atomic_write_json(out / "train_state.json", {"global_step": trainer.state.global_step})
        if message := no_signal_warning(read_jsonl(out / "metrics.jsonl")):  # after saving: a diagnostic only
            warn(message)
    return final
