"""Grouped-query attention that reads the shared K/V heads in place, for the HF engine's decode on CPU.

transformers' SDPA path copies the K/V heads once per query head (``repeat_kv``) whenever there is a
padding mask, which dominates decode time on CPU; SDPA's ``enable_gqa`` does the same attention without
the copy. The kernel is registered with transformers on first use (registering is a process-wide
change, so importing this module does not do it) and switched on only inside ``gqa_attention``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

GQA_SDPA = "reflectrl_gqa_sdpa"  # the attention implementation name registered with transformers


def _gqa_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention, except that grouped-query attention with a padding mask uses
    SDPA's ``enable_gqa`` instead of materializing the repeated K/V heads."""
    groups = getattr(module, "num_key_value_groups", 1)
    if attention_mask is None or groups == 1 or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    out = F.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask[:, :, :, : key.shape[-2]],
        dropout_p=kwargs.get("dropout", 0.0),
        scale=kwargs.get("scaling"),
        enable_gqa=True,
    )
    return out.transpose(1, 2).contiguous(), None


@functools.cache  # once per process; registering again would only rewrite the same entries
def _register() -> None:
    AttentionInterface.register(GQA_SDPA, _gqa_sdpa)
    AttentionMaskInterface.register(GQA_SDPA, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


@contextlib.contextmanager
def gqa_attention(model: Any) -> Iterator[None]:
    """Route SDPA attention through ``_gqa_sdpa`` for the duration of a generate call on CPU (CUDA
    SDPA kernels do not take a mask together with ``enable_gqa``, so there we leave it alone)."""
    config = model.config
    before = getattr(config, "_attn_implementation", None)
    if before != "sdpa" or model.device.type != "cpu":
        yield
        return
    _register()
    config._attn_implementation = GQA_SDPA
    try:
        yield
    finally:
        config._attn_implementation = before
