"""KV storage of the HF engine's fast loop: the slot cache it decodes in, and the prefix store that
keeps finished rows' KV for the next turn of their conversation.

``SlotCache`` holds one preallocated K/V buffer per layer with a fixed number of slots (rows): a
finished row frees its slot for the next prompt, and decoding writes one column per step in place
instead of concatenating the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

_FREE = 1 << 62  # ``SlotCache.first`` of a free slot
# One sequence's (or a batch's) cached keys and values, one (keys, values) pair per layer.
KV = list[tuple[torch.Tensor, torch.Tensor]]


def slot_cache_supported(model: Any) -> bool:
    """The slot cache handles plain full-attention layers only (no sliding windows, no recurrent state)."""
    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def load_prefixes(cache: DynamicCache, cached: list[tuple[int, KV | None]], device: torch.device) -> torch.Tensor:
    """Fill an empty prefill cache with the cached prefixes, right-aligned (rows without one get
    none); returns their [rows, width] validity mask."""
    width = max(m for m, _ in cached)
    mask = torch.zeros((len(cached), width), dtype=torch.bool)
    if width == 0:
        return mask
    example = next(kv for _, kv in cached if kv is not None)
    for layer, (k0, v0) in zip(cache.layers, example, strict=True):
        keys = k0.new_zeros((len(cached), k0.shape[0], width, k0.shape[2]))
        values = v0.new_zeros((len(cached), v0.shape[0], width, v0.shape[2]))
        layer.update(keys, values)
    for i, (m, kv) in enumerate(cached):
        if kv is None:
            continue
        mask[i, width - m :] = True
        for layer, (k, v) in zip(cache.layers, kv, strict=True):
            layer.keys[i, :, width - m :] = k
            layer.values[i, :, width - m :] = v
    return mask


class PrefixStore:
    """KV of finished rows (prompt + completion) kept for the next turn of the same conversation:
    the reflection prompt continues the attempt, the retry continues the reflection. Least recently
    used entries go first once ``max_bytes`` is reached; everything goes when the weights change."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple[int, ...], KV] = OrderedDict()
        self.lengths: dict[int, int] = {}  # stored sequence length -> how many entries have it
        self.bytes = 0
        self.version = -1

    def check_weights(self, model: Any) -> None:
        # In-place updates (optimizer steps, load_state_dict) bump a parameter's version counter.
        version = sum(p._version for p in model.parameters())
        if version != self.version:
            self.clear()
            self.version = version

    def clear(self) -> None:
        self.entries.clear()
        self.lengths.clear()
        self.bytes = 0

    def lookup(self, prompt: list[int]) -> tuple[int, KV | None]:
        """The longest stored prefix of ``prompt``: its length and KV (0, None when there is none)."""
        for m in sorted(self.lengths, reverse=True):
            if m >= len(prompt):  # at least one token must be computed, for its logits
                continue
            kv = self.entries.get(tuple(prompt[:m]))
            if kv is not None:
                self.entries.move_to_end(tuple(prompt[:m]))
                return m, kv
        return 0, None

    def add(self, tokens: list[int], kv: KV) -> None:
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        key = tuple(tokens)
        if size > self.max_bytes or key in self.entries:
            return
        self.entries[key] = kv
        self.lengths[len(key)] = self.lengths.get(len(key), 0) + 1
        self.bytes += size
        while self.bytes > self.max_bytes:
            old, old_kv = self.entries.popitem(last=False)
            self.bytes -= sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in old_kv)
            self.lengths[len(old)] -= 1
            if not self.lengths[len(old)]:
                del self.lengths[len(old)]


class _SlotLayer(DynamicLayer):
    """One layer's K/V for all slots, [slots, heads, capacity, dim]; the live window is [start, end)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.kbuf, self.vbuf, self.start, self.end = keys, values, 0, 0
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = key_states.shape[-2]
        self.kbuf[:, :, self.end : self.end + n] = key_states
        self.vbuf[:, :, self.end : self.end + n] = value_states
        return self.kbuf[:, :, self.start : self.end + n], self.vbuf[:, :, self.start : self.end + n]

    def get_seq_length(self) -> int:
        return self.end - self.start


class SlotCache(Cache):
    """A transformers Cache over preallocated slot buffers: no per-step concatenation.

    All rows end at column ``end`` (the next decode step writes there); ``valid`` marks which
    earlier columns hold each slot's tokens (left padding, and the gap between a cached prefix and
    the rest of a prompt, are masked). ``first[s]`` is slot s's first valid column."""

    def __init__(self, slots: int, max_prompt: int, max_new: int, device: torch.device):
        super().__init__(layers=[])  # allocated by the first ``place``, which knows the K/V shapes
        self.slots, self.growth, self.device = slots, max(64, max_new), device
        self.start = self.end = max_prompt
        self.first = [_FREE] * slots
        self.valid = torch.zeros((slots, 0), dtype=torch.bool, device=device)

    def _sync(self) -> None:
        for layer in self.layers:
            layer.start, layer.end = self.start, self.end

    def place(self, kv: KV, valid: torch.Tensor, rows: list[int], slots: list[int]) -> None:
        """Copy prefilled rows ``rows`` of ``kv`` ([rows, heads, width, dim] per layer, ``valid``
        [len(slots), width]) into ``slots``, right-aligned at ``end``."""
        width = valid.shape[1]
        if not self.layers:
            self.start = self.end = max(self.end, width)
            capacity = self.end + self.growth
            for k, v in kv:
                shape = (self.slots, k.shape[1], capacity, k.shape[3])
                self.layers.append(_SlotLayer(k.new_zeros(shape), v.new_zeros(shape)))
            self.valid = torch.zeros((self.slots, capacity), dtype=torch.bool, device=self.device)
        elif self.end < width:
            self._repack(list(range(self.slots)), min_end=width)
        left = self.end - width
        idx = torch.tensor(slots, device=self.device)
        src = torch.tensor(rows, device=kv[0][0].device)
        keep = valid[:, None, :, None]
        for layer, (k, v) in zip(self.layers, kv, strict=True):
            # Padding positions may hold NaNs from fully masked queries: zero them, never copy them.
            layer.kbuf[idx, :, left : self.end] = torch.where(keep, k[src], 0)
            layer.vbuf[idx, :, left : self.end] = torch.where(keep, v[src], 0)
        self.valid[idx] = False
        self.valid[idx, left : self.end] = valid
        first = valid.int().argmax(dim=1).tolist()
        for s, f in zip(slots, first, strict=True):
            self.first[s] = left + f
        self.start = min(self.start, *(self.first[s] for s in slots))
        self._sync()

    def decode_mask(self) -> torch.Tensor:
        """[slots, end - start + 1]: each slot's tokens and the column the step writes now. A free
        slot attends to its own (ignored) new token only, so it never computes NaNs."""
        self.valid[:, self.end] = True
        return self.valid[:, self.start : self.end + 1]

    def advance(self) -> None:
        """The forward wrote one column at ``end``; make room for the next before it is needed."""
        self.end += 1
        if self.end >= self.valid.shape[1]:
            self._repack(list(range(self.slots)))
        self._sync()

    def extract(self, slot: int) -> KV:
        """A copy of one slot's K/V, [heads, tokens, dim] per layer, without its masked columns."""
        cols = self.valid[slot, self.first[slot] : self.end].nonzero().squeeze(1) + self.first[slot]
        return [(layer.kbuf[slot][:, cols], layer.vbuf[slot][:, cols]) for layer in self.layers]

    def release(self, slot: int) -> None:
        """Free a slot, and forget leading columns no live row needs."""
        self.valid[slot] = False
        self.first[slot] = _FREE
        self.start = min(min(self.first), self.end)
        self._sync()

    def select(self, keep: list[int]) -> None:
        """Keep only the slots ``keep``, renumbered 0.. in that order."""
        self._repack(keep)
        self._sync()

    def _repack(self, keep: list[int], min_end: int = 0) -> None:
        """Copy the live window of the kept slots into fresh buffers with room to grow."""
        width = self.end - self.start
        new_end = max(width, min_end)
        capacity = new_end + self.growth
        shift = new_end - self.end
        idx = torch.tensor(keep, device=self.device)
        for layer in self.layers:
            for name in ("kbuf", "vbuf"):
                old = getattr(layer, name)
                new = old.new_zeros((len(keep), old.shape[1], capacity, old.shape[3]))
                new[:, :, new_end - width : new_end] = old[idx, :, self.start : self.end]
                setattr(layer, name, new)
        valid = torch.zeros((len(keep), capacity), dtype=torch.bool, device=self.device)
        valid[:, new_end - width : new_end] = self.valid[idx, self.start : self.end]
        self.valid = valid
        self.first = [f + shift if f != _FREE else f for f in (self.first[s] for s in keep)]
        self.slots = len(keep)
        self.start, self.end = new_end - width, new_end
