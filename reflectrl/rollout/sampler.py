"""The next token of each row from its logits, and the log-prob training needs of it.

The HF engine's fast loop draws every token here; its ``model.generate`` path takes only ``token_logprobs``.
"""

from __future__ import annotations

import torch

from reflectrl.rollout.engine import Sampling


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """log_softmax(logits)[row, ids[row]] for each row: [rows, vocab], [rows] -> [rows]."""
    return logits.log_softmax(-1).gather(-1, ids[:, None].to(logits.device)).squeeze(-1)


def sample_next_tokens(
    logits: torch.Tensor, generators: list[torch.Generator | None], sampling: Sampling
) -> tuple[list[int], list[float]]:
    """Next token per row: greedy, or temperature -> top-k -> top-p (transformers' order), drawn with
    each row's own generator (exponential race: argmax p_i / E_i is a draw from p), so a row's draw does
    not depend on the rows beside it. Also each token's log-prob under softmax(logits / temperature) over
    the whole vocabulary, before top-k/top-p (temperature 1 when greedy): the behaviour policy training
    compares against (``Sample.logprobs``)."""
    logits = logits.float()
    if sampling.temperature <= 0:
        ids = logits.argmax(-1)
        return ids.tolist(), token_logprobs(logits, ids).tolist()
    logits = scaled = logits / sampling.temperature
    if sampling.top_k and sampling.top_k < logits.shape[-1]:
        kth = torch.topk(logits, sampling.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1)
    if sampling.top_p < 1.0:
        sorted_p, idx = probs.sort(-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (always at least the top token).
        drop_sorted = (sorted_p.cumsum(-1) - sorted_p) >= sampling.top_p
        probs = probs.masked_fill(drop_sorted.scatter(-1, idx, drop_sorted), 0.0)
    noise = torch.stack(
        [torch.empty(probs.shape[-1], device=probs.device).exponential_(generator=g) for g in generators]
    )
    ids = (probs / noise).argmax(-1)
    return ids.tolist(), token_logprobs(scaled, ids).tolist()
