"""What the update trains on, and how it is computed cheaply but exactly.

A ``Group`` is one prompt's G samples (R3: one failed attempt's G reflections). ``pack`` lays several groups
out in one row with no padding: each group's shared prefix (prompt + failed attempt) once, then its G
completions, each attending to the prefix and to itself only (tree attention, as a 4D mask with positions that
restart after the prefix). Every token sees exactly the context it was sampled with, so log-probs and
gradients equal G separate forwards, at a fraction of the tokens. The LM head runs only at the positions
whose next token is trained (``logits_to_keep``). Unlike a prefix KV cache this works with gradient
checkpointing, and under DDP/FSDP the wrapped model is still called as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class Group:
    prefix: list[int]  # shared context, never trained
    completions: list[list[int]]  # G sampled continuations
    masks: list[list[int]]  # per completion token: 1 = trained
    rewards: list[float]
    logprobs: list[list[float] | None]  # the sampler's log-prob of each completion token (None: unknown)
    info: list[dict[str, float]] = field(default_factory=list)  # per completion, logged as step means
    measures: list[dict] = field(default_factory=list)  # reflection measures (reflections.py), R3 only

    @property
    def informative(self) -> bool:
        """GRPO learns from reward differences within a group; equal rewards mean zero advantage everywhere."""
        return max(self.rewards) > min(self.rewards)


@dataclass
class Packed:
    input_ids: torch.Tensor  # (1, T)
    position_ids: torch.Tensor  # (1, T)
    visible: torch.Tensor  # (T, T) bool: query t may attend to key s
    parents: torch.Tensor  # (N,) position whose logits predict trained token n
    targets: torch.Tensor  # (N,) trained token ids
    seq: torch.Tensor  # (N,) step-wide index of the sequence each trained token belongs to
    behaviour: torch.Tensor | None  # (N,) sampler log-probs; None when some sample has none


Piece = tuple[list[int], list[tuple[int, list[int], list[int], list[float] | None]]]


def micro_batches(groups: list[Group], size: int | None) -> list[list[Piece]]:
    """Split the step's sequences into micro-batches of at most ``size`` (None: one), in order. A group split
    across micro-batches repeats its prefix in each. Each piece: (prefix, [(sequence index, ids, mask, logprobs)])."""
    batches: list[list[Piece]] = [[]]
    room, s = size, 0
    for g in groups:
        rows = list(zip(g.completions, g.masks, g.logprobs, strict=True))
        while rows:
            if room == 0:
                batches.append([])
                room = size
            take = len(rows) if room is None else min(room, len(rows))
            batches[-1].append((g.prefix, [(s + i, *row) for i, row in enumerate(rows[:take])]))
            rows, s = rows[take:], s + take
            room = None if room is None else room - take
    return [b for b in batches if b]


def pack(pieces: list[Piece]) -> Packed:
    ids: list[int] = []
    pos: list[int] = []
    branch: list[int] = []  # 0: a prefix token; b: a token of completion b of its piece
    piece: list[int] = []
    parents, targets, seqs, behaviour = [], [], [], []
    known = True
    for p, (prefix, completions) in enumerate(pieces):
        ids += prefix
        pos += range(len(prefix))
        branch += [0] * len(prefix)
        piece += [p] * len(prefix)
        last = len(ids) - 1
        for b, (s, completion, mask, logprobs) in enumerate(completions, 1):
            known = known and logprobs is not None
            for j, (token, trained) in enumerate(zip(completion, mask, strict=True)):
                if trained:
                    parents.append(len(ids) - 1 if j else last)
                    targets.append(token)
                    seqs.append(s)
                    behaviour.append(logprobs[j] if logprobs is not None else 0.0)
                ids.append(token)
                pos.append(len(prefix) + j)
                branch.append(b)
                piece.append(p)
    br, pc, idx = torch.tensor(branch), torch.tensor(piece), torch.arange(len(ids))
    visible = (pc[:, None] == pc[None]) & ((br[None] == 0) | (br[None] == br[:, None])) & (idx[None] <= idx[:, None])
    return Packed(
        input_ids=torch.tensor([ids]),
        position_ids=torch.tensor([pos]),
        visible=visible,
        parents=torch.tensor(parents, dtype=torch.long),
        targets=torch.tensor(targets, dtype=torch.long),
        seq=torch.tensor(seqs, dtype=torch.long),
        behaviour=torch.tensor(behaviour) if known else None,
    )


def trained_logprobs(model, packed: Packed, temperature: float, attn_implementation: str = "sdpa"):
    """(log-probs, entropies) of the N trained tokens at the sampling temperature; entropies carry no grad."""
    device = next(model.parameters()).device
    mask = packed.visible[None, None].to(device)
    if attn_implementation == "eager":  # eager attention adds the mask to its scores
        mask = torch.zeros(mask.shape, device=device).masked_fill(~mask, torch.finfo(torch.float32).min)
    logits = model(
        input_ids=packed.input_ids.to(device),
        position_ids=packed.position_ids.to(device),
        attention_mask=mask,
        logits_to_keep=packed.parents.to(device),
        use_cache=False,
    ).logits[0]
    logits = logits.float() / temperature
    logprobs = -F.cross_entropy(logits, packed.targets.to(device), reduction="none")
    with torch.no_grad():
        p = logits.softmax(-1)
        entropy = -(p * logits.log_softmax(-1)).sum(-1)
    return logprobs, entropy
