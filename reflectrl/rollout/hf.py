"""Hugging Face engines.

``mode="fast"`` (default): our own decode loop over the model's forward, with continuous batching.
Rows live in a fixed number of slots of one preallocated KV buffer; a row that finishes frees its
slot, which is refilled from the queue (so the batch stays full instead of decoding padding until
its longest row ends); the prompt of a group of n samples is prefilled once and its KV copied into
n slots; prompts are queued longest first so the rows prefilled together have similar lengths.
Each (prompt, sample) draws from its own seeded generator, so the output does not depend on the
batch layout. Grouped-query attention reads the shared K/V heads in place (transformers' SDPA path
copies them per query head whenever there is a padding mask, which dominates decode time on CPU).

``mode="naive"``: plain ``model.generate`` on left-padded, length-sorted batches: the baseline a
TRL user gets, kept for comparison (benchmarks/rollout.py) and for models the fast loop does not
support (sliding-window or recurrent caches).
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

from reflectrl.rollout.engine import Engine, ProgressFn, Sample, Sampling

Mode = Literal["fast", "naive"]
_FREE = 1 << 62  # ``_SlotCache.first`` of a free slot
_ATTN = "reflectrl_gqa_sdpa"


class HFEngine(Engine):
    def __init__(
        self,
        model,
        tokenizer,
        batch_size: int = 32,
        mode: Mode = "fast",
        prefill_tokens: int = 8192,
        refill_fraction: float = 0.25,
        prefix_cache_gb: float = 2.0,
    ):
        """``batch_size``: rows decoded together. ``prefill_tokens``: padded prompt tokens per prefill
        forward (bounds its memory). ``refill_fraction``: refill freed slots once this fraction of
        the batch is free (one batched prefill instead of one per finished row). ``prefix_cache_gb``:
        memory for the KV of finished rows, reused when a later prompt continues their conversation
        (0 turns it off)."""
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.prefill_tokens = prefill_tokens
        self.refill_fraction = refill_fraction
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        eos_ids.add(tokenizer.eos_token_id)
        self.eos_ids = {e for e in eos_ids if e is not None}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.mode: Mode = mode if mode == "naive" or _fast_loop_supported(model) else "naive"
        # Where the time goes (fast mode): prefill vs decode seconds, prompt tokens computed vs reused
        # from the prefix store, decode steps.
        self.stats = {
            "prefill_s": 0.0,
            "prefill_tokens": 0,
            "cached_tokens": 0,
            "decode_s": 0.0,
            "decode_steps": 0,
        }
        self.prefix_store = _PrefixStore(int(prefix_cache_gb * 2**30))

    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        sampling: Sampling,
        seed: int = 0,
        on_progress: ProgressFn | None = None,
    ) -> list[list[Sample]]:
        if not prompts or n < 1:
            return [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), _quiet():
                if self.mode == "naive":
                    return self._generate_naive(prompts, n, sampling, seed, on_progress)
                with _gqa_attention(self.model):
                    return _Batcher(self, prompts, n, sampling, seed, on_progress).run()
        finally:
            self.model.train(was_training)

    def to_sample(self, ids: list[int], logprobs: list[float] | None = None) -> Sample:
        """``ids`` (and their ``logprobs``) up to and including the first end token."""
        for i, tok in enumerate(ids):
            if tok in self.eos_ids:
                ids, finished = ids[: i + 1], True
                break
        else:
            finished = False
        if logprobs is not None:
            logprobs = logprobs[: len(ids)]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Sample(text=text, token_ids=ids, finished=finished, logprobs=logprobs)

    # -- naive: model.generate ------------------------------------------------------------------

    def _generate_naive(self, prompts, n, sampling, seed, on_progress) -> list[list[Sample]]:
        rows = [(p, k) for p in range(len(prompts)) for k in range(n)]
        # Longest first: similar lengths share a batch (less padding), and memory peaks early.
        rows.sort(key=lambda r: -len(prompts[r[0]]))
        results: list[list[Sample | None]] = [[None] * n for _ in prompts]
        for b, start in enumerate(range(0, len(rows), self.batch_size)):
            batch = rows[start : start + self.batch_size]
            samples = self._generate_batch([prompts[p] for p, _ in batch], sampling, seed * 1_000_003 + b)
            for (p, k), sample in zip(batch, samples, strict=True):
                results[p][k] = sample
            if on_progress:
                on_progress(len(batch), sum(len(s.token_ids) for s in samples))
        return results  # type: ignore[return-value]

    def _generate_batch(self, prompts: list[list[int]], sampling: Sampling, seed: int) -> list[Sample]:
        device = self.model.device
        input_ids, attention = _left_pad(prompts, self.pad_id)
        kwargs: dict = {"max_new_tokens": sampling.max_new_tokens, "pad_token_id": self.pad_id}
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        torch.manual_seed(seed)
        out = self.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            eos_token_id=sorted(self.eos_ids),
            use_cache=True,
            # The raw float32 logits of every step (before temperature and top-k/top-p), for the log-probs:
            # rows x steps x vocab floats held until the batch ends (the fast loop keeps one step's).
            output_logits=True,
            return_dict_in_generate=True,
            **kwargs,
        )
        new = out.sequences[:, input_ids.shape[1] :]
        temperature = sampling.temperature if sampling.temperature > 0 else 1.0
        logprobs = torch.stack(
            [_logprob_of(step.float() / temperature, new[:, t]) for t, step in enumerate(out.logits)], dim=1
        )
        return [self.to_sample(ids, lps) for ids, lps in zip(new.tolist(), logprobs.tolist(), strict=True)]


# -- fast: continuous batching over slots ---------------------------------------------------------


@dataclass
class _Row:
    prompt: int
    sample: int
    generator: torch.Generator | None
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)  # of each token, see ``_sample``


class _Batcher:
    """One ``generate`` call: a queue of rows, ``slots`` of KV, and the decode loop."""

    def __init__(self, engine: HFEngine, prompts, n, sampling: Sampling, seed: int, on_progress):
        self.engine, self.model, self.prompts, self.n = engine, engine.model, prompts, n
        self.sampling, self.on_progress = sampling, on_progress
        self.device = engine.model.device
        self.max_new = max(1, sampling.max_new_tokens)
        self.results: list[list[Sample | None]] = [[None] * n for _ in prompts]
        self.greedy = sampling.temperature <= 0
        self.seed = seed
        store = engine.prefix_store
        store.check_weights(self.model)
        # The longest cached prefix of each prompt (KV of an earlier row whose conversation it continues).
        self.hits = {p: store.lookup(prompts[p]) for p in range(len(prompts))}
        # Longest uncached part first: a prefill batch then holds similar lengths (little padding to
        # compute), and memory peaks early.
        order = sorted(range(len(prompts)), key=lambda p: -(len(prompts[p]) - self.hits[p][0]))
        self.queue: deque[tuple[int, list[int]]] = deque((p, list(range(n))) for p in order)
        self.slots = min(engine.batch_size, len(prompts) * n)
        self.rows: list[_Row | None] = [None] * self.slots
        self.positions = torch.zeros(self.slots, dtype=torch.long)  # tokens in each slot's KV
        self.next_tok = torch.full((self.slots,), engine.pad_id, dtype=torch.long)
        self.cache = _SlotCache(self.slots, max(len(p) for p in prompts), self.max_new, self.device)

    def run(self) -> list[list[Sample]]:
        while True:
            free = [s for s in range(self.slots) if self.rows[s] is None]
            live = self.slots - len(free)
            refill_at = max(1, int(self.slots * self.engine.refill_fraction))
            if self.queue and (live == 0 or len(free) >= refill_at):
                self._refill(free)
                continue
            if live == 0:
                break
            if not self.queue and live <= self.slots // 2:
                self._shrink()
            self._decode_step()
        return self.results  # type: ignore[return-value]

    def _generator(self, prompt: int, sample: int) -> torch.Generator | None:
        if self.greedy:
            return None
        g = torch.Generator(device=self.device)
        g.manual_seed(hash((self.seed, prompt, sample)) & 0x7FFF_FFFF_FFFF_FFFF)
        return g

    def _pick(self, free: int) -> list[tuple[int, list[int]]]:
        """The next prompts of the queue for up to ``free`` rows, within the prefill token budget."""
        picked: list[tuple[int, list[int]]] = []
        width = 0
        while self.queue and free > 0:
            p, samples = self.queue[0]
            width = max(width, len(self.prompts[p]) - self.hits[p][0])
            if picked and width * (len(picked) + 1) > self.engine.prefill_tokens:
                break
            take = samples[:free]
            picked.append((p, take))
            free -= len(take)
            if len(take) == len(samples):
                self.queue.popleft()
            else:
                self.queue[0] = (p, samples[len(take) :])
        return picked

    def _refill(self, free: list[int]) -> None:
        """Prefill the next prompts (each once, continuing from its cached prefix if any) and place
        their samples in free slots."""
        started = time.perf_counter()
        picked = self._pick(len(free))
        cached = [self.hits[p] for p, _ in picked]
        suffix_ids, suffix_mask = _left_pad(
            [self.prompts[p][m:] for (p, _), (m, _) in zip(picked, cached, strict=True)], self.engine.pad_id
        )
        prefill = DynamicCache(config=self.model.config)
        past_mask = _load_prefixes(prefill, cached, self.device)
        attention = torch.cat([past_mask, suffix_mask.bool()], dim=1)
        prefix_len = torch.tensor([m for m, _ in cached])
        positions = (prefix_len[:, None] + suffix_mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(
            input_ids=suffix_ids.to(self.device),
            attention_mask=attention.to(self.device),
            position_ids=positions.to(self.device),
            past_key_values=prefill,
            use_cache=True,
            logits_to_keep=1,
        ).logits[:, -1]

        split = picked[-1][0]
        if self.queue and self.queue[0][0] == split:
            # More samples of this prompt than free slots: keep its KV (all but the last token, whose
            # logits the next prefill needs) for the rest, instead of prefilling it again.
            cols = attention[-1].nonzero().squeeze(1)[:-1]
            kv = [(layer.keys[-1][:, cols], layer.values[-1][:, cols]) for layer in prefill.layers]
            self.hits[split] = (len(cols), kv)

        group, rows = [], []
        for i, (p, take) in enumerate(picked):
            for k in take:
                group.append(i)
                rows.append(_Row(p, k, self._generator(p, k)))
        first, first_logprobs = _sample(logits[group], rows, self.sampling)
        placed_slots, placed_group, done = [], [], []
        slot_iter = iter(free)
        for g, row, tok, logprob in zip(group, rows, first, first_logprobs, strict=True):
            row.tokens.append(tok)
            row.logprobs.append(logprob)
            if self._finished(row):
                done.append(row)
                continue
            s = next(slot_iter)
            self.rows[s] = row
            self.positions[s] = len(self.prompts[row.prompt])
            self.next_tok[s] = tok
            placed_slots.append(s)
            placed_group.append(g)
        if placed_slots:
            kv = [(layer.keys, layer.values) for layer in prefill.layers]
            self.cache.place(kv, attention[placed_group].to(self.device), placed_group, placed_slots)
        stats = self.engine.stats
        stats["prefill_s"] += time.perf_counter() - started
        stats["prefill_tokens"] += int(suffix_mask.sum())
        stats["cached_tokens"] += int(prefix_len.sum())
        self._report(done)

    def _decode_step(self) -> None:
        started = time.perf_counter()
        cache = self.cache
        logits = self.model(
            input_ids=self.next_tok[:, None].to(self.device),
            attention_mask=cache.decode_mask(),
            position_ids=self.positions[:, None].to(self.device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits[:, -1]
        cache.advance()
        live = [s for s in range(self.slots) if self.rows[s] is not None]
        toks, logprobs = _sample(logits[live], [self.rows[s] for s in live], self.sampling)
        done = []
        for s, tok, logprob in zip(live, toks, logprobs, strict=True):
            row = self.rows[s]
            assert row is not None
            row.tokens.append(tok)
            row.logprobs.append(logprob)
            self.positions[s] += 1
            self.next_tok[s] = tok
            if self._finished(row):
                done.append(row)
                # Its KV (prompt + all but the last token) is the prefix of the conversation's next turn.
                self.engine.prefix_store.add(self.prompts[row.prompt] + row.tokens[:-1], cache.extract(s))
                self.rows[s] = None
                cache.release(s)
        self.engine.stats["decode_s"] += time.perf_counter() - started
        self.engine.stats["decode_steps"] += 1
        self._report(done)

    def _finished(self, row: _Row) -> bool:
        return row.tokens[-1] in self.engine.eos_ids or len(row.tokens) >= self.max_new

    def _shrink(self) -> None:
        """Drop free slots once the queue is empty, so the tail of a call decodes only live rows."""
        keep = [s for s in range(self.slots) if self.rows[s] is not None]
        self.cache.select(keep)
        self.rows = [self.rows[s] for s in keep]
        self.positions = self.positions[keep]
        self.next_tok = self.next_tok[keep]
        self.slots = len(keep)

    def _report(self, done: list[_Row]) -> None:
        for row in done:
            self.results[row.prompt][row.sample] = self.engine.to_sample(row.tokens, row.logprobs)
        if done and self.on_progress:
            self.on_progress(len(done), sum(len(r.tokens) for r in done))


def _load_prefixes(cache: DynamicCache, cached: list[tuple[int, list | None]], device) -> torch.Tensor:
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


class _PrefixStore:
    """KV of finished rows (prompt + completion) kept for the next turn of the same conversation:
    the reflection prompt continues the attempt, the retry continues the reflection. Least recently
    used entries go first once ``max_bytes`` is reached; everything goes when the weights change."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self.lengths: dict[int, int] = {}  # stored sequence length -> how many entries have it
        self.bytes = 0
        self.version = -1

    def check_weights(self, model) -> None:
        # In-place updates (optimizer steps, load_state_dict) bump a parameter's version counter.
        version = sum(p._version for p in model.parameters())
        if version != self.version:
            self.clear()
            self.version = version

    def clear(self) -> None:
        self.entries.clear()
        self.lengths.clear()
        self.bytes = 0

    def lookup(self, prompt: list[int]) -> tuple[int, list | None]:
        for m in sorted(self.lengths, reverse=True):
            if m >= len(prompt):  # at least one token must be computed, for its logits
                continue
            kv = self.entries.get(tuple(prompt[:m]))
            if kv is not None:
                self.entries.move_to_end(tuple(prompt[:m]))
                return m, kv
        return 0, None

    def add(self, tokens: list[int], kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
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


def _logprob_of(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """log_softmax(logits)[row, ids[row]] for each row: [rows, vocab], [rows] -> [rows]."""
    return logits.log_softmax(-1).gather(-1, ids[:, None].to(logits.device)).squeeze(-1)


def _sample(logits: torch.Tensor, rows: list[_Row], sampling: Sampling) -> tuple[list[int], list[float]]:
    """Next token per row: greedy, or temperature -> top-k -> top-p (transformers' order), drawn with
    each row's own generator (exponential race: argmax p_i / E_i is a draw from p). Also each token's
    log-prob under softmax(logits / temperature) over the whole vocabulary, before top-k/top-p
    (temperature 1 when greedy): the behaviour policy training compares against (``Sample.logprobs``)."""
    logits = logits.float()
    if sampling.temperature <= 0:
        ids = logits.argmax(-1)
        return ids.tolist(), _logprob_of(logits, ids).tolist()
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
        [torch.empty(probs.shape[-1], device=probs.device).exponential_(generator=r.generator) for r in rows]
    )
    ids = (probs / noise).argmax(-1)
    return ids.tolist(), _logprob_of(scaled, ids).tolist()


class _SlotLayer(DynamicLayer):
    """One layer's K/V for all slots, [slots, heads, capacity, dim]; the live window is [start, end)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        super().__init__()
        self.kbuf, self.vbuf, self.start, self.end = keys, values, 0, 0
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True

    def update(self, key_states, value_states, *args, **kwargs):
        n = key_states.shape[-2]
        self.kbuf[:, :, self.end : self.end + n] = key_states
        self.vbuf[:, :, self.end : self.end + n] = value_states
        return self.kbuf[:, :, self.start : self.end + n], self.vbuf[:, :, self.start : self.end + n]

    def get_seq_length(self) -> int:
        return self.end - self.start


class _SlotCache(Cache):
    """A transformers Cache over preallocated slot buffers: no per-step concatenation.

    All rows end at column ``end`` (the next decode step writes there); ``valid`` marks which
    earlier columns hold each slot's tokens (left padding, and the gap between a cached prefix and
    the rest of a prompt, are masked). ``first[s]`` is slot s's first valid column."""

    def __init__(self, slots: int, max_prompt: int, max_new: int, device):
        super().__init__(layers=[])  # allocated by the first ``place``, which knows the K/V shapes
        self.slots, self.growth, self.device = slots, max(64, max_new), device
        self.start = self.end = max_prompt
        self.first = [_FREE] * slots
        self.valid = torch.zeros((slots, 0), dtype=torch.bool, device=device)

    def _sync(self) -> None:
        for layer in self.layers:
            layer.start, layer.end = self.start, self.end

    def place(self, kv: list[tuple[torch.Tensor, torch.Tensor]], valid, rows: list[int], slots: list[int]):
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

    def extract(self, slot: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
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


def _left_pad(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        attention[i, width - len(p) :] = 1
    return ids, attention


def _fast_loop_supported(model) -> bool:
    """The slot cache handles plain full-attention layers only (no sliding windows, no recurrent state)."""
    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def _gqa_sdpa(module, query, key, value, attention_mask, **kwargs):
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


AttentionInterface.register(_ATTN, _gqa_sdpa)
AttentionMaskInterface.register(_ATTN, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


@contextlib.contextmanager
def _gqa_attention(model):
    """Route SDPA attention through ``_gqa_sdpa`` for the duration of a generate call on CPU (CUDA
    SDPA kernels do not take a mask together with ``enable_gqa``, so there we leave it alone)."""
    config = model.config
    before = getattr(config, "_attn_implementation", None)
    if before != "sdpa" or model.device.type != "cpu":
        yield
        return
    config._attn_implementation = _ATTN
    try:
        yield
    finally:
        config._attn_implementation = before


@contextlib.contextmanager
def _quiet():
    """Silence transformers' per-call generation warnings (e.g. about generation_config defaults)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)
