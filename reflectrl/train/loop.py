"""The RL update loop every policy-gradient algorithm shares (r3, r3-answer, grpo), top to bottom.

Each step: draw groups from the rollout's pool until ``train.groups_per_step`` of them have reward variance
(dynamic sampling), pack them (packing.py), take one optimizer step on the clipped policy-gradient loss
(loss.py), hand the new weights to the engine, log, checkpoint. It runs on accelerate, so ``accelerate
launch`` with our DDP, DeepSpeed or FSDP configs runs it unchanged: every process draws its own groups from
one shared order, and all processes train the same number of groups each step.

A rollout (r3.py, grpo.py) has ``name``, ``pool`` (FailurePool), ``sample(engine, items, seed) -> (groups, tokens)``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from reflectrl.config import RunConfig
from reflectrl.console import info, warn
from reflectrl.distributed import reduce_value
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import atomic_write_json, read_jsonl
from reflectrl.reflections import step_means
from reflectrl.tasks.base import stable_hash
from reflectrl.tasks.guard import VERIFIER_ERRORS
from reflectrl.train.common import (
    MetricsFile,
    drop_checkpoints,
    final_model_dir,
    resume_point,
    save_final_model,
    write_weights_hash,
)
from reflectrl.train.loss import group_advantages, policy_loss, token_weights
from reflectrl.train.packing import Group, micro_batches, pack, trained_logprobs
from reflectrl.train.precision import prepare_for_training, rollout_dtype

STATE = "trainer_state.json"  # written last into a checkpoint: its presence marks the checkpoint complete
KEEP_CHECKPOINTS = 2


def train_policy(model, tokenizer, rollout, cfg: RunConfig, out_dir, max_completion_length: int, resume=True) -> Path:
    """Train ``model`` on ``rollout``'s groups; save the final HF model folder under ``out_dir/model``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    tc = cfg.train
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    setting = prepare_for_training(model, tc.precision, "train.precision")
    mixed = "bf16" if setting["bf16"] else "fp16" if setting["fp16"] else "no"
    trackers = [t for t in tc.report_to if t != "none"]
    _forget_accelerator_state()
    accelerator = Accelerator(
        mixed_precision=mixed, cpu=setting["use_cpu"], log_with=trackers or None, project_dir=str(out)
    )
    set_seed(tc.seed)
    if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and accelerator.distributed_type.name != "FSDP":
        warn("accelerate applies FSDP only on GPUs: these processes train with DDP (each holds the whole model)")
    attn = getattr(model.config, "_attn_implementation", None) or "sdpa"
    if attn not in ("sdpa", "eager"):
        raise ReflectrlError(f"training packs groups with a custom attention mask: use sdpa or eager, not {attn!r}")
    if _sharded(accelerator) and cfg.engine.name == "hf":  # each rank's decode step would be a collective
        raise ReflectrlError("sharded training (ZeRO-3 / FSDP) generates with vLLM: set engine.name=vllm")
    if tc.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    # The reference is the starting model: a frozen copy, or (LoRA) the base with adapters switched off.
    reference = copy.deepcopy(model).eval().requires_grad_(False) if tc.beta and not tc.lora.enabled else None
    if tc.lora.enabled:
        from peft import get_peft_model

        model = get_peft_model(model, tc.lora.peft_config())
    model.train()  # from_pretrained returns eval mode, in which HF skips gradient checkpointing
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=tc.learning_rate, weight_decay=0)
    warmup = math.ceil(tc.warmup_ratio * tc.steps)
    scheduler = get_scheduler(tc.lr_scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=tc.steps)
    if accelerator.state.deepspeed_plugin is not None:  # no dataloader to infer these from
        ds = accelerator.state.deepspeed_plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = tc.micro_batch_size or tc.num_generations * tc.groups_per_step
        ds["gradient_clipping"] = tc.max_grad_norm
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)  # stepped by us once per step, whatever the process count
    reference = _prepare_reference(reference, accelerator)
    policy = accelerator.unwrap_model(model)

    state = {"step": 0, "generated_tokens": 0, "rollout_seconds": 0.0, "train_seconds": 0.0}
    state.update(counts={"drawn": 0, "informative": 0}, remined_at=None)
    carried: list[Group] = []  # informative groups drawn beyond a step's need, trained first next step
    checkpoint = resume_point(out) if resume else None
    if checkpoint:
        state, carried = _load_checkpoint(accelerator, Path(checkpoint), rollout)
    if accelerator.is_main_process and trackers:
        accelerator.init_trackers("reflectrl", config=_flat(cfg.model_dump(mode="json")))
    if tc.remine_every and not hasattr(rollout, "remine"):
        raise ReflectrlError(f"train.remine_every re-mines failures for r3 and r3-answer, not {rollout.name}")
    metrics = MetricsFile(out / "metrics.jsonl") if accelerator.is_main_process else None
    engine = _engine(cfg, policy, tokenizer, setting)
    # The trainer's own weights generate under its autocast; a cast copy needs none.
    generating = accelerator.autocast if getattr(engine, "model", None) is policy else contextlib.nullcontext
    with _full_weights(accelerator, model):  # a resumed run's engine starts from the checkpoint's weights
        engine.sync_weights(policy)
    _hash_weights(accelerator, policy, state["step"])

    while state["step"] < tc.steps and not _spent(tc, state):
        step = state["step"] + 1
        started = time.perf_counter()
        remined = _remine(rollout, engine, tc, state, out, generating) if _remine_due(tc, state) else {}
        errors_before = VERIFIER_ERRORS.total()
        with generating():
            drawn, kept, carried, tokens = collect(rollout, engine, tc, step, accelerator, carried, state["counts"])
        rollout_time = time.perf_counter() - started
        if verifier_errors := VERIFIER_ERRORS.total() - errors_before:  # a silent zero reward trains on noise
            warn(f"step {step}: the task's verifier failed on {verifier_errors} answers; they got reward 0")
        lr = scheduler.get_last_lr()[0]
        stats = update(model, reference, kept, tc, max_completion_length, accelerator, optimizer, attn) if kept else {}
        with warnings.catch_warnings():  # a step without an update still advances the schedule
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
            scheduler.step()
        if kept:
            with _full_weights(accelerator, model):
                engine.sync_weights(policy)
        state["step"] = step
        state["generated_tokens"] += tokens
        state["rollout_seconds"] = round(state["rollout_seconds"] + rollout_time, 3)
        # The slowest process's time, so every process stops at the same step.
        elapsed = reduce_value(accelerator, time.perf_counter() - started, "max")
        state["train_seconds"] = round(state.get("train_seconds", 0.0) + elapsed, 3)
        record = {
            **describe(drawn, len(kept), len(carried), tc.dynamic_sampling, accelerator),
            **stats,
            **remined,
            "learning_rate": lr,
            "verifier_errors": verifier_errors,
            "generated_tokens": state["generated_tokens"],
            "rollout_seconds": state["rollout_seconds"],
            "update_seconds": round(time.perf_counter() - started - rollout_time, 3),
            "step_time": round(time.perf_counter() - started, 3),
            "train_seconds": state["train_seconds"],
        }
        _log(accelerator, metrics, step, tc.steps, record)
        _hash_weights(accelerator, policy, step)
        if tc.snapshot_every and step % tc.snapshot_every == 0 and step < tc.steps:  # the last step is model/
            save_final_model(accelerator, model, tokenizer, out / "snapshots" / f"step-{step}", mid_run=True)
        if step % tc.save_steps == 0 or step == tc.steps or _spent(tc, state):
            _save_checkpoint(accelerator, out / "checkpoints" / f"checkpoint-{step}", state, rollout, carried)

    for tracker in accelerator.trackers:  # not end_training(): it would end the process group the next stage uses
        tracker.finish()
    if accelerator.is_main_process:  # before the model: a rerun skips the stage once its model is there
        atomic_write_json(out / "train_state.json", {"global_step": state["step"]})
        summary = {"generated_tokens": state["generated_tokens"], "steps": state["step"], "budget": tc.budget_tokens}
        summary["budget_seconds"] = tc.budget_seconds
        summary.update(rollout_seconds=state["rollout_seconds"], train_seconds=state.get("train_seconds", 0.0))
        atomic_write_json(out / "generated_tokens.json", summary)
    final = save_final_model(accelerator, model, tokenizer, final_model_dir(out))
    if accelerator.is_main_process and (message := no_signal_warning(read_jsonl(out / "metrics.jsonl"))):
        warn(message)  # after saving: a diagnostic only
    drop_checkpoints(out, tc.keep_checkpoints)
    return final


def collect(rollout, engine, tc, step: int, accelerator, carried: list[Group], counts: dict[str, int]):
    """(drawn groups, groups to train, informative groups carried to the next step, tokens generated by all
    processes). With dynamic sampling the step starts from the informative groups the last step drew beyond its
    need (sampled one update ago: their importance weights against the sampler's log-probs correct for that),
    then draws rounds until every process holds ``groups_per_step`` informative groups or ``max_draws_per_step``
    were drawn. A round draws the missing count divided by the run's informative share so far (``counts``, over
    all processes), so few, well-filled generation batches find them. All processes train the smallest count
    any of them holds, so they take the same backward passes."""
    want = tc.groups_per_step
    if not tc.dynamic_sampling:
        items = rollout.pool.draw(want, accelerator.process_index, accelerator.num_processes)
        seed = stable_hash(rollout.name, tc.seed, step, 0, accelerator.process_index) % 2**31
        groups, generated = rollout.sample(engine, items, seed)
        return groups, groups, [], int(reduce_value(accelerator, generated, "sum"))
    cap = tc.max_draws_per_step or 4 * want
    drawn: list[Group] = []
    kept = list(carried)
    tokens, round_ = 0, 0
    have = int(reduce_value(accelerator, len(kept), "min"))
    while have < want and len(drawn) < cap:
        rate = (counts["informative"] + 1) / (counts["drawn"] + 2)
        n = min(cap - len(drawn), math.ceil((want - have) / rate))
        items = rollout.pool.draw(n, accelerator.process_index, accelerator.num_processes)
        seed = stable_hash(rollout.name, tc.seed, step, round_, accelerator.process_index) % 2**31
        groups, generated = rollout.sample(engine, items, seed)
        informative = [g for g in groups if g.informative]
        drawn += groups
        kept += informative
        tokens += generated
        counts["drawn"] += int(reduce_value(accelerator, len(groups), "sum"))
        counts["informative"] += int(reduce_value(accelerator, len(informative), "sum"))
        have = int(reduce_value(accelerator, len(kept), "min"))
        round_ += 1
    trained = min(have, want)
    return drawn, kept[:trained], kept[trained : trained + want], int(reduce_value(accelerator, tokens, "sum"))


def update(model, reference, groups: list[Group], tc, max_completion_length, accelerator, optimizer, attn):
    """One optimizer step on ``groups``: the step's loss, grad norm, entropy and KL (means over processes)."""
    stats = accumulate_gradients(model, reference, groups, tc, max_completion_length, accelerator, attn)
    norm = accelerator.clip_grad_norm_(model.parameters(), tc.max_grad_norm)  # DeepSpeed clips in its own step
    stats["grad_norm"] = float("nan") if norm is None else float(norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {k: reduce_value(accelerator, v, "mean") for k, v in stats.items()}


def accumulate_gradients(model, reference, groups: list[Group], tc, max_completion_length, accelerator, attn="sdpa"):
    """Backward of the step's loss over micro-batches (exact: token_weights normalise over the whole step)."""
    rewards = torch.tensor([r for g in groups for r in g.rewards])
    group_ids = torch.tensor([i for i, g in enumerate(groups) for _ in g.rewards])
    advantages = group_advantages(rewards, group_ids, tc.scale_rewards)
    trained = torch.tensor([sum(m) for g in groups for m in g.masks])
    batches = micro_batches(groups, tc.micro_batch_size)
    loss_sum, kl_sum, entropy_sum, gap_sum, n = 0.0, 0.0, 0.0, 0.0, 0
    for i, pieces in enumerate(batches):
        packed = pack(pieces)
        last = i == len(batches) - 1
        # Gradients are reduced across processes after the last micro-batch only (DDP's no_sync; DeepSpeed reads
        # the same flag as its accumulation boundary and steps there).
        accelerator.gradient_state._set_sync_gradients(last)
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            logprobs, entropy = trained_logprobs(model, packed, tc.temperature, attn)
            ref = None
            if tc.beta:
                with torch.no_grad(), accelerator.autocast(), _reference(accelerator, model, reference) as ref_model:
                    ref = trained_logprobs(ref_model, packed, tc.temperature, attn)[0]
            dev = logprobs.device
            loss, kl = policy_loss(
                logprobs,
                advantages[packed.seq].to(dev),
                token_weights(packed.seq, trained, tc.loss_type, max_completion_length).to(dev),
                behaviour=None if packed.behaviour is None else packed.behaviour.to(dev),
                ref=ref,
                beta=tc.beta,
                epsilon_low=tc.clip_epsilon,
                epsilon_high=tc.clip_epsilon,
                is_cap=tc.importance_cap,
            )
            accelerator.backward(loss)
        if packed.behaviour is not None:
            gap_sum += (logprobs.detach() - packed.behaviour.to(dev)).abs().sum().item()
        loss_sum += loss.item()
        kl_sum += kl.sum().item()
        entropy_sum += entropy.sum().item()
        n += len(packed.targets)
    stats = {"loss": loss_sum, "entropy": entropy_sum / max(n, 1)}
    if all(lp is not None for g in groups for lp in g.logprobs):  # the engine reported the sampler's log-probs
        # Mean |trainer - sampler| log-prob of a trained token: their numerics differ (and carried groups are stale).
        stats["sampler_logprob_gap"] = gap_sum / max(n, 1)
    if tc.beta:
        stats["kl"] = kl_sum / max(n, 1)
    return stats


def describe(drawn: list[Group], trained: int, carried: int, dynamic: bool, accelerator) -> dict[str, float]:
    """What the step's drawn groups looked like (all processes): reward, the share with no reward variance,
    the rollout's own per-sample values (retry_success, reflection_tokens, ...) and reflection measures; how
    many groups were drawn, trained and carried to the next step (means per process)."""
    from accelerate.utils import gather_object

    rows = [{"rewards": g.rewards, "info": g.info, "measures": g.measures, "informative": g.informative} for g in drawn]
    if accelerator.num_processes > 1:
        rows = gather_object(rows)
    record: dict[str, float] = {
        "groups_drawn": len(rows) / accelerator.num_processes,
        "groups_trained": reduce_value(accelerator, trained, "mean"),
        "groups_carried": reduce_value(accelerator, carried, "mean"),
    }
    if not rows:  # every group came from the last step's surplus
        return record
    rewards = [r for row in rows for r in row["rewards"]]
    stds = [torch.tensor(row["rewards"]).std().item() if len(row["rewards"]) > 1 else 0.0 for row in rows]
    flat = sum(not row["informative"] for row in rows) / len(rows)
    record.update(
        reward=sum(rewards) / len(rewards),
        reward_std=sum(stds) / len(stds),
        frac_reward_zero_std=flat,
        frac_groups_dropped=flat if dynamic else 0.0,  # dynamic sampling drops the flat groups
    )
    infos = [i for row in rows for i in row["info"]]
    for key in sorted({k for i in infos for k in i}):
        values = [i[key] for i in infos if key in i]
        record[key] = sum(values) / len(values)
    for key, mean in step_means([m for row in rows for m in row["measures"]]).items():
        record[f"reflection/{key}"] = mean
    return record


def no_signal_warning(metrics: list[dict[str, Any]]) -> str | None:
    """GRPO learns from reward differences within a group. When no step ever trained an informative group
    there was no advantage anywhere: worth saying loudly, since the run still "succeeds"."""
    steps = [m for m in metrics if "frac_reward_zero_std" in m]
    if not steps or any(m.get("groups_trained", 1) and m["frac_reward_zero_std"] < 1.0 for m in steps):
        return None
    return (
        f"no reward signal: in all {len(steps)} logged steps every drawn group's rewards were equal (all failed or "
        "all succeeded), so training had nothing to learn from; raise train.num_generations, "
        "train.max_draws_per_step or train.steps, or boost more, until some groups mix successes and failures"
    )


def _engine(cfg: RunConfig, policy, tokenizer, setting: dict[str, Any]):
    from reflectrl.rollout import make_engine

    if cfg.engine.name == "vllm" and cfg.engine.vllm_mode == "server":
        from reflectrl.rollout.vllm import server_engine

        return server_engine(cfg.engine, policy, tokenizer)
    # Under mixed precision the hf engine generates from a bf16 (fp16) copy, refreshed after every update.
    return make_engine(cfg.engine, policy, tokenizer, cfg.model.trust_remote_code, rollout_dtype(setting))


def _prepare_reference(reference, accelerator):
    """The frozen reference on this process: sharded like the policy under ZeRO-3 (a DeepSpeed inference
    engine, as TRL builds it) and FSDP, whole elsewhere. None without a KL term or with LoRA."""
    if reference is None:
        return None
    kind = accelerator.distributed_type.name
    if kind == "DEEPSPEED":
        import deepspeed

        config = copy.deepcopy(accelerator.state.deepspeed_plugin.deepspeed_config)
        config.pop("optimizer", None)
        config.pop("scheduler", None)
        if config.get("zero_optimization", {}).get("stage") != 3:
            config["zero_optimization"] = {"stage": 0}
        engine, *_ = deepspeed.initialize(model=reference, config=config)
        return engine.eval()
    if kind == "FSDP":
        return accelerator.prepare_model(reference, evaluation_mode=True)
    return reference.to(accelerator.device)


def _remine_due(tc, state) -> bool:
    """Before the step after every ``remine_every``-th, once (``remined_at`` is checkpointed); a run resumed from
    a checkpoint written before it redoes it (mine() reads back the finished folder the same weights wrote)."""
    every, done = tc.remine_every, state["step"]
    return bool(every) and done > 0 and done % every == 0 and state.get("remined_at") != done


def _remine(rollout, engine, tc, state, out: Path, generating) -> dict[str, float]:
    """Re-mine the queries with the current policy (its tokens count toward budget_tokens); train on its failures."""
    started, step = time.perf_counter(), state["step"]
    info(f"re-mining the queries with the policy of step {step} (train.remine_every={tc.remine_every})")
    seed = stable_hash("remine", tc.seed, step) % 2**31
    with generating():
        stats = rollout.remine(engine, _remine_dir(out, step), seed)
    state["generated_tokens"] += stats["generated_tokens"]  # all processes': read from the merged folder
    if rollout.use_failures(_remine_dir(out, step)):
        state["remined_at"] = step
    else:
        warn(f"re-mining at step {step} left no trainable failure: training goes on with the previous ones")
    return {
        "remine/failure_rate": stats["failure_rate"] or 0.0,
        "remine/queries_mixed": stats["queries_mixed"],
        "remine/failures": len(rollout.pool.items),
        "remine/generated_tokens": stats["generated_tokens"],
        "remine_seconds": round(time.perf_counter() - started, 3),
    }


def _remine_dir(out: Path, step: int) -> Path:
    return out / "remine" / f"step-{step}"


def _spent(tc, state) -> bool:
    """Whether ``train.budget_tokens`` (all processes' generated tokens) or ``train.budget_seconds`` (this
    stage's measured time) is reached. ``reflectrl compare`` gives every algorithm the same budget because
    optimizer steps are not comparable across algorithms (a GRPO step samples first attempts, an R3 step a
    reflection and a retry, a RISE round N samples per turn): tokens are exact and reproducible, seconds are
    what a user pays."""
    tokens = tc.budget_tokens is not None and state["generated_tokens"] >= tc.budget_tokens
    return tokens or (tc.budget_seconds is not None and state.get("train_seconds", 0.0) >= tc.budget_seconds)


@contextlib.contextmanager
def _reference(accelerator, model, reference):
    """The frozen starting model: the copy, or the LoRA model with its adapters switched off."""
    if reference is not None:
        yield reference
        return
    peft_model = accelerator.unwrap_model(model)
    with peft_model.disable_adapter():
        yield peft_model


def _sharded(accelerator) -> bool:
    """Whether each process holds only a shard of the weights (ZeRO-3 or FSDP)."""
    kind = accelerator.distributed_type.name
    return kind == "FSDP" or (kind == "DEEPSPEED" and accelerator.state.deepspeed_plugin.zero_stage == 3)


@contextlib.contextmanager
def _full_weights(accelerator, model):
    """Whole weights for the engine's sync: gathered under ZeRO-3 / FSDP1 on every rank (FSDP2's DTensors are
    gathered tensor by tensor in ``rollout.vllm._policy_weights``), nothing to do otherwise."""
    kind = accelerator.distributed_type.name
    if kind == "DEEPSPEED" and accelerator.state.deepspeed_plugin.zero_stage == 3:
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters())):
            yield
    elif kind == "FSDP" and getattr(accelerator.state.fsdp_plugin, "fsdp_version", 1) == 1:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        with FSDP.summon_full_params(model, writeback=False):
            yield
    else:
        yield


def _log(accelerator, metrics, step: int, steps: int, record: dict[str, float]) -> None:
    if not accelerator.is_main_process:
        return
    metrics.write({"step": step, **record})
    accelerator.log(record, step=step)
    trained, drawn = record["groups_trained"], record["groups_drawn"]
    line = (
        f"step {step}/{steps}: {drawn:g} groups drawn (reward {record.get('reward', float('nan')):.3f}), "
        f"{trained:g} trained, {record['groups_carried']:g} carried; rollout "
        f"{record['step_time'] - record['update_seconds']:.1f} s, update {record['update_seconds']:.1f} s"
    )
    if trained:
        info(line)
    else:
        warn(f"{line}: no informative group within train.max_draws_per_step, so no update this step")


def _save_checkpoint(accelerator, folder: Path, state: dict, rollout, carried: list[Group]) -> None:
    accelerator.save_state(str(folder))
    atomic_write_json(folder / f"carried_{accelerator.process_index}.json", [asdict(g) for g in carried])
    accelerator.wait_for_everyone()  # every rank's shards and RNG state are written before the folder counts
    if accelerator.is_main_process:
        atomic_write_json(folder / STATE, {**state, "pool": rollout.pool.state_dict(), "loop": "reflectrl"})
        done = sorted(
            (int(d.name.removeprefix("checkpoint-")), d)
            for d in folder.parent.glob("checkpoint-*")
            if d.name.removeprefix("checkpoint-").isdigit()
        )
        for _, old in done[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _load_checkpoint(accelerator, folder: Path, rollout) -> dict:
    saved = json.loads((folder / STATE).read_text())
    if saved.get("loop") != "reflectrl":
        raise ReflectrlError(
            f"{folder} was written by the TRL-based trainer of reflectrl < 0.2, which this version cannot resume: "
            "train again into a new --out (or delete its checkpoints/ folder)"
        )
    accelerator.load_state(str(folder))
    if saved.get("remined_at"):  # the pool was re-mined: draw from those failures again
        rollout.use_failures(_remine_dir(folder.parent.parent, saved["remined_at"]))
    rollout.pool.load_state_dict(saved.pop("pool"))
    saved.pop("loop")
    carried = folder / f"carried_{accelerator.process_index}.json"
    return saved, [Group(**g) for g in json.loads(carried.read_text())] if carried.is_file() else []


def _hash_weights(accelerator, policy, step: int) -> None:
    if folder := os.environ.get("REFLECTRL_WEIGHTS_HASH_DIR"):  # test hook: data-parallel processes agree
        write_weights_hash(Path(folder), accelerator.process_index, step, policy)


def _forget_accelerator_state() -> None:
    """accelerate keeps one global state per process; a second training in the same process (tests, compare)
    may use another precision."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()


def _flat(config: dict, prefix: str = "") -> dict[str, Any]:
    """Trackers take flat scalar hyperparameters."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, int | float | str | bool) else str(value)
    return flat
