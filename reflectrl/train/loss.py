"""The RL update's loss, small enough to check by eye (in the spirit of tiny-grpo's loss.py).

A step's batch holds G sequences per group (for R3: G reflections after one failed attempt). Each sequence
gets the group-relative advantage of its reward, and every trained token (``loss_mask``: the reflection
for R3) the clipped policy-gradient loss, optionally weighted by a truncated importance ratio against the
policy that sampled it, plus a k3 KL penalty to a frozen reference when beta > 0. tests/test_loss.py
checks the gradient against a float64 computation written out token by token, and the loss against TRL
1.16's GRPOTrainer on the same batch. Training still runs TRL's GRPOTrainer (train/rl.py); our own update
loop (issue 17) is to be built on this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class RolloutBatch:
    input_ids: torch.Tensor  # (B, T) prompt + completion, right-padded
    attention_mask: torch.Tensor  # (B, T) 1 on real tokens
    loss_mask: torch.Tensor  # (B, T) 1 where token t is trained
    rewards: torch.Tensor  # (B,)
    group_ids: torch.Tensor  # (B,) same id = same prompt (query + failed attempt)
    behaviour_logprobs: torch.Tensor | None = None  # (B, T) log-prob of token t under the sampler; None: on-policy


def group_advantages(rewards: torch.Tensor, group_ids: torch.Tensor, scale: str = "group") -> torch.Tensor:
    """Reward minus its group's mean, divided by the group's ('group') or the batch's ('batch') std, or not ('none')."""
    _, group = torch.unique(group_ids, return_inverse=True)
    count = torch.zeros(int(group.max()) + 1, dtype=rewards.dtype).index_add_(0, group, torch.ones_like(rewards))
    mean = torch.zeros_like(count).index_add_(0, group, rewards)[group] / count[group]
    if scale == "none":
        return rewards - mean
    if scale == "batch":
        std = rewards.std() if rewards.numel() > 1 else torch.zeros(())
        return (rewards - mean) / (std + 1e-4)
    sq = torch.zeros_like(count).index_add_(0, group, (rewards - mean) ** 2)[group]
    std = (sq / (count[group] - 1).clamp(min=1)).sqrt()  # unbiased, as torch.std
    return (rewards - mean) / (std + 1e-4)


def token_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, temperature: float = 1.0):
    """(B, T): log-prob of token t given tokens < t at the sampling temperature; 0 at t = 0."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1]
    logp = torch.log_softmax(logits.float() / temperature, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    return F.pad(logp, (1, 0))


def policy_loss(
    logprobs: torch.Tensor,
    batch: RolloutBatch,
    advantages: torch.Tensor,
    *,
    loss_type: str = "dapo",
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    is_cap: float = 2.0,
    beta: float = 0.0,
    ref_logprobs: torch.Tensor | None = None,
    max_completion_length: int | None = None,
) -> torch.Tensor:
    """The step's loss. ``dapo``/``bnpo``: mean over trained tokens; ``grpo``: mean over sequences of their token
    mean; ``dr_grpo``: sum over B x max_completion_length."""
    mask = batch.loss_mask.to(logprobs.dtype)
    old = logprobs.detach()  # one update per batch: the ratio is 1 but carries the gradient
    ratio = torch.exp(logprobs - old)
    clipped = ratio.clamp(1 - epsilon_low, 1 + epsilon_high)
    loss = -torch.min(ratio * advantages[:, None], clipped * advantages[:, None])
    if batch.behaviour_logprobs is not None:  # truncated importance sampling: sampler != trainer numerics
        loss = loss * torch.exp(old - batch.behaviour_logprobs).clamp(max=is_cap)
    if beta:
        delta = ref_logprobs - logprobs  # k3 estimator of KL(policy || reference)
        loss = loss + beta * (torch.exp(delta) - delta - 1)
    if loss_type in ("dapo", "bnpo"):
        return (loss * mask).sum() / mask.sum().clamp(min=1)
    if loss_type == "grpo":
        return ((loss * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
    if loss_type == "dr_grpo":
        return (loss * mask).sum() / (loss.shape[0] * max_completion_length)
    raise ValueError(f"unknown loss_type {loss_type!r}: dapo, bnpo, grpo or dr_grpo")
