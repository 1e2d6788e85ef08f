"""One precision policy for every stage that trains (boost, r3, r3-answer, grpo, rise).

Trainers always hold fp32 master weights and fp32 optimizer state: small AdamW updates round away on
bf16 weights (measured: 9% of the fp32 update realised at lr 5e-7, 41% at 1e-5). ``model.dtype`` only
sets the inference copies (eval, mine); rollouts inside training follow the trainer (the hf engine of the update
loop and of RISE's collection: a bf16/fp16 copy of the policy under mixed precision). ``*.precision``
sets what the forward and backward compute in:

- ``fp32``: everything in fp32.
- ``bf16-mixed``: fp32 weights, bf16 autocast (transformers' ``bf16=True``).
- ``fp16-mixed``: fp32 weights, fp16 autocast with a gradient scaler (CUDA only).
- ``bf16-pure``: the weights themselves in bf16. Fastest and smallest, at the cost above; warns.
- ``auto``: bf16-mixed on CUDA GPUs with bf16 and on CPUs with AMX or AVX512-BF16; fp16-mixed on older
  GPUs; fp32 elsewhere (on AVX2-only CPUs a bf16 matmul is many times slower than fp32;
  docs/BENCHMARKS.md has both machines' numbers).
"""

from __future__ import annotations

import os
from typing import Any, get_args

import torch

from reflectrl.config import Precision
from reflectrl.console import warn
from reflectrl.errors import ReflectrlError
from reflectrl.models import cpu_has_fast_bf16, cuda_has_bf16

PRECISIONS: tuple[str, ...] = get_args(get_args(Precision)[0])  # the config's values, one list


def resolve_precision(precision: str, device: torch.device) -> str:
    """The concrete precision ``auto`` stands for on ``device``."""
    if precision not in PRECISIONS:
        raise ReflectrlError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16-mixed" if cuda_has_bf16() else "fp16-mixed"
    return "bf16-mixed" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"


def rollout_dtype(setting: dict[str, Any]) -> torch.dtype | None:
    """What a trainer's own rollouts generate from, given its ``prepare_for_training`` setting: a bf16 (fp16) copy
    under bf16-mixed (fp16-mixed), since fp32 weights generate at 0.63x a bf16 copy's speed even under autocast
    (docs/BENCHMARKS.md, "Rollouts inside training"); ``None``, the trained weights themselves, otherwise."""
    return torch.bfloat16 if setting["bf16"] else torch.float16 if setting["fp16"] else None


def prepare_for_training(model, precision: str, setting: str) -> dict[str, Any]:
    """Cast ``model`` to its master dtype (fp32; bf16 for bf16-pure) in place and return the trainer
    arguments for ``precision``. ``setting`` (e.g. ``boost.precision``) names it in errors."""
    device = next(model.parameters()).device
    resolved = resolve_precision(precision, device)
    shown = f"{setting}={precision}" + (f" (resolved to {resolved})" if precision == "auto" else "")
    if resolved == "fp16-mixed" and device.type != "cuda":
        raise ReflectrlError(f"{shown} needs a CUDA GPU; on a CPU use bf16-mixed or fp32")
    if resolved == "bf16-pure":
        warn(
            f"{shown}: training bf16 weights without fp32 masters; AdamW updates below bf16's resolution round away "
            "(9% of the fp32 update realised at lr 5e-7, 41% at 1e-5); bf16-mixed keeps fp32 masters"
        )
        model.to(torch.bfloat16)
    else:
        model.to(torch.float32)
    return {
        "bf16": resolved == "bf16-mixed",
        "fp16": resolved == "fp16-mixed",
        "use_cpu": device.type == "cpu",  # transformers refuses bf16 on a CPU without it
    }


def training_arguments(cls, setting: str, precision: str, **kwargs):
    """``cls(**kwargs)`` (TrainingArguments, SFTConfig, GRPOConfig) with a one-line error naming our
    setting when transformers or TRL refuse the arguments."""
    # Under `accelerate launch` the launch config's mixed_precision reaches transformers through this
    # variable and wins over bf16=False: for the arguments' construction ours is the one setting that decides.
    mixed = "bf16" if kwargs.get("bf16") else "fp16" if kwargs.get("fp16") else "no"
    launched = os.environ.get("ACCELERATE_MIXED_PRECISION")
    os.environ["ACCELERATE_MIXED_PRECISION"] = mixed
    try:
        return cls(**kwargs)
    except Exception as e:
        lines = str(e).strip().splitlines()
        reason = f"{type(e).__name__}: {lines[0] if lines else ''}"
        section = setting.split(".")[0]
        raise ReflectrlError(
            f"{cls.__name__} refused the {section} settings ({setting}={precision}, bf16={kwargs.get('bf16')}, "
            f"fp16={kwargs.get('fp16')}, use_cpu={kwargs.get('use_cpu')}): {reason}"
        ) from e
    finally:
        if launched is None:
            os.environ.pop("ACCELERATE_MIXED_PRECISION", None)
        else:
            os.environ["ACCELERATE_MIXED_PRECISION"] = launched
