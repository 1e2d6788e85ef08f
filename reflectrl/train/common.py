"""What every training algorithm shares: precision, LoRA, checkpoints, and the final model folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from reflectrl.console import warn
from reflectrl.models import cpu_has_fast_bf16


def precision_flags(precision: str, model) -> dict[str, bool]:
    """TrainingArguments' bf16/fp16 flags. TRL defaults to bf16=True; on a CPU without AMX or
    AVX512-BF16 bf16 autocast runs ~3x slower than fp32 (measured: docs/BENCHMARKS.md), which is
    why GRPO with default settings looked hung on such CPUs. 'auto' picks bf16 only where it is fast."""
    on_gpu = next(model.parameters()).device.type == "cuda"
    if precision == "auto":
        bf16 = torch.cuda.is_bf16_supported() if on_gpu else cpu_has_fast_bf16()
        return {"bf16": bool(bf16), "fp16": False}
    if precision == "bf16" and not on_gpu and not cpu_has_fast_bf16():
        warn("bf16 asked for on a CPU without AMX/AVX512-BF16: expect it to be ~3x slower than fp32")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def last_checkpoint(checkpoints: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None


def final_model_dir(stage_dir: Path) -> Path:
    return stage_dir / "model"


def save_final_model(trainer, tokenizer, path: Path) -> Path:
    """An HF folder that ``from_pretrained`` loads directly (LoRA merged), written atomically."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    if not trainer.accelerator.is_main_process:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
