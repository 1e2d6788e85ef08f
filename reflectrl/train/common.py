"""What every training algorithm shares: checkpoints and the final model folder (precision: precision.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

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


def final_model_dir(stage_dir: Path) -> Path:
    return stage_dir / "model"


def save_final_model(trainer, tokenizer, path: Path) -> Path:
    """An HF folder that ``from_pretrained`` loads directly (LoRA merged), written atomically by the
    main process; every process returns once it is there (the next stage may load it at once)."""
    accelerator = trainer.accelerator
    model = accelerator.unwrap_model(trainer.model)
    # Under DeepSpeed ZeRO-3 / FSDP each process holds a shard: accelerate gathers the full weights
    # (a collective, so every process takes part). With LoRA the adapters are merged in memory first.
    sharded = accelerator.distributed_type.name in ("DEEPSPEED", "FSDP") and not hasattr(model, "merge_and_unload")
    state_dict = accelerator.get_state_dict(trainer.model) if sharded else None
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    if accelerator.is_main_process:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
        try:
            model.save_pretrained(tmp, state_dict=state_dict)
            tokenizer.save_pretrained(tmp)
            if path.exists():
                shutil.rmtree(path)
            os.rename(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def count_all_processes(trainer, n: int) -> int:
    """``n`` summed over every training process (a collective: all of them call it at the same point).
    Token budgets count what all processes generated, so every process stops at the same step."""
    if trainer.accelerator.num_processes == 1:
        return n
    total = trainer.accelerator.reduce(torch.tensor([n], device=trainer.accelerator.device), reduction="sum")
    return int(total.item())


class WeightsHash(TrainerCallback):
    """Test hook, on when REFLECTRL_WEIGHTS_HASH_DIR is set: after every optimizer step each process
    writes a hash of its parameters to ``rank<r>-step<s>.sha256``, so a test can check that data-parallel
    processes hold identical weights."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._write(args, state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._write(args, state, model)

    def _write(self, args, state, model) -> None:
        import hashlib

        digest = hashlib.sha256()
        for name, p in sorted(model.named_parameters()):
            digest.update(name.removeprefix("module.").encode())
            digest.update(p.detach().float().cpu().numpy().tobytes())
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"rank{args.process_index}-step{state.global_step}.sha256").write_text(digest.hexdigest())


def debug_callbacks() -> list[TrainerCallback]:
    folder = os.environ.get("REFLECTRL_WEIGHTS_HASH_DIR")
    return [WeightsHash(folder)] if folder else []
