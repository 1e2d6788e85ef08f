"""The RL update's loss, small enough to check by eye (in the spirit of tiny-grpo's loss.py).

A step holds groups of G sequences that share a prompt (for R3: G reflections after one failed attempt).
Each sequence gets the group-relative advantage of its reward. Every trained token (the reflection, for R3)
gets the clipped policy-gradient loss, weighted by a truncated importance ratio against the sampler's
log-prob, plus a k3 KL penalty to a frozen reference when beta > 0. The loss works on the flat vector of a
micro-batch's trained tokens; ``token_weights`` gives each token its share of the whole step's loss, so
micro-batches add up to exactly the full batch's loss and gradient.
tests/test_loss.py checks the gradient against a float64 computation written out token by token, and the
loss against TRL's GRPOTrainer on the same batch.
"""

from __future__ import annotations

import torch

LOSS_TYPES = ("dapo", "bnpo", "grpo", "dr_grpo")


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


def token_weights(seq: torch.Tensor, trained: torch.Tensor, loss_type: str, max_completion_length: int):
    """Each trained token's share of the step's loss. ``seq``: the step-wide sequence index of each trained token
    (N,); ``trained``: trained tokens per sequence of the step (S,). ``dapo``/``bnpo``: mean over the step's
    trained tokens; ``grpo``: mean over sequences of their token mean; ``dr_grpo``: sum / (S x max length)."""
    if loss_type in ("dapo", "bnpo"):
        return torch.full(seq.shape, 1.0 / max(int(trained.sum()), 1))
    if loss_type == "grpo":
        return 1.0 / (trained[seq].clamp(min=1) * trained.numel())
    if loss_type == "dr_grpo":
        return torch.full(seq.shape, 1.0 / (trained.numel() * max_completion_length))
    raise ValueError(f"unknown loss_type {loss_type!r}: {', '.join(LOSS_TYPES)}")


def policy_loss(
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    weights: torch.Tensor,
    *,
    behaviour: torch.Tensor | None = None,
    ref: torch.Tensor | None = None,
    beta: float = 0.0,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    is_cap: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, per-token k3 KL) over N trained tokens: their log-probs under the policy (with grad), their
    sequence's advantage and their ``token_weights``; ``behaviour``: log-probs under the sampler (None: on-policy);
    ``ref``: under the frozen reference (needed when beta > 0)."""
    old = logprobs.detach()  # one update per batch: the ratio is 1 but carries the gradient
    ratio = torch.exp(logprobs - old)
    clipped = ratio.clamp(1 - epsilon_low, 1 + epsilon_high)
    loss = -torch.min(ratio * advantages, clipped * advantages)
    if behaviour is not None:  # truncated importance sampling: the sampler's numerics are not the trainer's
        loss = loss * torch.exp(old - behaviour).clamp(max=is_cap)
    kl = torch.zeros_like(old)
    if beta:
        delta = ref - logprobs  # k3 estimator of KL(policy || reference)
        kl = torch.exp(delta) - delta - 1
        loss = loss + beta * kl
    return (loss * weights.to(loss.dtype)).sum(), kl.detach()
