"""What every training algorithm shares: checkpoints and the final model folder (precision: precision.py)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from reflectrl.distributed import barrier, is_main
from reflectrl.errors import ReflectrlError
from reflectrl.jsonl import JsonlWriter, read_jsonl
from reflectrl.models import atomic_folder

IGNORE = -100  # the label of a position that is context, not a target


def trained_token_nll(model, input_ids, labels, **forward) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token NLL (B, K) and the trained mask (B, K) over the K positions that some row trains
    (label != IGNORE). The LM head runs only there: on a CPU the full-vocabulary head over every context
    position is most of an SFT step, and TRL's fused head computes it everywhere off CUDA."""
    target = labels[:, 1:]
    keep = (target != IGNORE).any(0).nonzero()[:, 0]
    logits = model(input_ids=input_ids, logits_to_keep=keep, use_cache=False, **forward).logits
    target = target[:, keep]
    nll = F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), ignore_index=IGNORE, reduction="none")
    return nll.view_as(target), target != IGNORE


def last_checkpoint(checkpoints: Path) -> str | None:
    """The newest complete checkpoint. A process killed while saving leaves a checkpoint folder without
    trainer_state.json (the trainer writes it last), which transformers' get_last_checkpoint would pick."""
    steps = {
        int(step): d
        for d in checkpoints.glob("checkpoint-*")
        if (step := d.name.removeprefix("checkpoint-")).isdigit() and (d / "trainer_state.json").is_file()
    }
    return str(steps[max(steps)]) if steps else None


def resume_point(stage_dir: Path) -> str | None:
    """The checkpoint to resume from. A finished stage whose checkpoints were deleted has none to extend from:
    starting again at step 0 would quietly replace its model."""
    checkpoint = last_checkpoint(stage_dir / "checkpoints")
    if not checkpoint and (final_model_dir(stage_dir) / "config.json").is_file():
        raise ReflectrlError(
            f"{stage_dir} holds a finished run whose checkpoints were deleted (train.keep_checkpoints: false): "
            "nothing to resume from; train into another --out (or keep checkpoints to extend a run)"
        )
    return checkpoint


def final_model_dir(stage_dir: Path) -> Path:
    return stage_dir / "model"


def drop_checkpoints(stage_dir: Path, keep: bool) -> None:
    """Once the stage's model is saved its checkpoints only serve to extend the run: unless ``keep``, delete them
    (the checkpoint-N folders only: the trainer's TensorBoard logs live beside them). Each is renamed first, so a
    kill mid-delete leaves none that looks complete; a rerun that finds the stage finished calls this again."""
    if not keep and is_main():
        folder = stage_dir / "checkpoints"
        for checkpoint in folder.glob("checkpoint-*"):
            if checkpoint.suffix != ".deleting":
                checkpoint.rename(checkpoint.with_name(checkpoint.name + ".deleting"))
        for doomed in folder.glob("checkpoint-*.deleting"):
            shutil.rmtree(doomed, ignore_errors=True)
    barrier()


def save_final_model(accelerator, model, tokenizer, path: Path, mid_run: bool = False) -> Path:
    """An HF folder that ``from_pretrained`` loads directly (LoRA merged; ``mid_run``: merged in a copy, so the
    model in training keeps its adapters), written atomically by the main process; every process returns once it
    is there (the next stage may load it at once)."""
    unwrapped = accelerator.unwrap_model(model)
    # Under DeepSpeed ZeRO-3 / FSDP each process holds a shard: accelerate gathers the full weights
    # (a collective, so every process takes part). With LoRA the adapters are merged in memory first.
    sharded = accelerator.distributed_type.name in ("DEEPSPEED", "FSDP") and not hasattr(unwrapped, "merge_and_unload")
    state_dict = accelerator.get_state_dict(model) if sharded else None
    if hasattr(unwrapped, "merge_and_unload"):
        unwrapped = (copy.deepcopy(unwrapped) if mid_run else unwrapped).merge_and_unload()
    if accelerator.is_main_process:
        with atomic_folder(path) as tmp:
            unwrapped.save_pretrained(tmp, state_dict=state_dict)
            tokenizer.save_pretrained(tmp)
    accelerator.wait_for_everyone()
    return path


class MetricsFile(TrainerCallback):
    """Every logged dict of scalars, once per step, in ``metrics.jsonl`` (what the report plots). Our RL loop
    calls ``write``; as a callback it mirrors a transformers Trainer's logs (RISE). A resumed run that replays
    a step does not write it twice."""

    def __init__(self, path: Path):
        self.path = path
        self.seen = {(r.get("step"), tuple(sorted(r))) for r in read_jsonl(path, repair=True)}

    def write(self, record: dict) -> None:
        key = (record["step"], tuple(sorted(record)))
        if key in self.seen:
            return
        self.seen.add(key)
        with JsonlWriter(self.path) as w:
            w.write(record)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.write({"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, int | float)}})


def write_weights_hash(folder: Path, rank: int, step: int, model) -> None:
    """Test hook (REFLECTRL_WEIGHTS_HASH_DIR): a hash of this process's parameters after ``step``, so a test can
    check that data-parallel processes hold identical weights."""
    import hashlib

    digest = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        digest.update(name.removeprefix("module.").encode())
        digest.update(p.detach().float().cpu().numpy().tobytes())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank{rank}-step{step}.sha256").write_text(digest.hexdigest())
