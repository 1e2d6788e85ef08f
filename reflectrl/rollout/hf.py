"""Hugging Face engines.

``mode="fast"`` (default): our own decode loop over the model's forward, with continuous batching.
Rows live in a fixed number of slots of one preallocated KV buffer; a row that finishes frees its
slot, which is refilled from the queue (so the batch stays full instead of decoding padding until
its longest row ends); the prompt of a group of n samples is prefilled once and its KV copied into
n slots; prompts are queued longest first so the rows prefilled together have similar lengths.
Each (prompt, sample) draws from its own seeded generator, so the output does not depend on the
batch layout. Grouped-query attention reads the shared K/V heads in place (transformers' SDPA path
copies them per query head whenever there is a padding mask, which dominates decode time on CPU).
The slot cache and prefix store are in kv_cache.py, the token sampler in sampler.py, the attention
kernel in gqa_attention.py; this module schedules the rows.

``mode="naive"``: plain ``model.generate`` on left-padded, length-sorted batches: the baseline a
TRL user gets, kept for comparison (benchmarks/rollout.py) and for models the fast loop does not
support (sliding-window or recurrent caches).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from transformers.cache_utils import DynamicCache

from reflectrl.rollout.chat import end_of_turn_ids, sample_from_ids
from reflectrl.rollout.engine import Engine, ProgressFn, Sample, Sampling
from reflectrl.rollout.gqa_attention import gqa_attention
from reflectrl.rollout.kv_cache import PrefixStore, SlotCache, load_prefixes, slot_cache_supported
from reflectrl.rollout.sampler import sample_next_tokens, token_logprobs

Mode = Literal["fast", "naive"]


def cast_copy(model: Any, dtype: torch.dtype) -> Any:
    """A frozen copy of ``model`` with its parameters in ``dtype``. Buffers keep their dtype, as when evaluation
    loads bf16 weights: RoPE's inv_freq stays fp32."""
    # deepcopy takes each parameter from the memo, cast: no transient copy of the model; tied weights stay tied.
    memo = {id(p): torch.nn.Parameter(p.detach().to(dtype), requires_grad=False) for p in model.parameters()}
    return copy.deepcopy(model, memo).eval()


class HFEngine(Engine):
    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        batch_size: int = 32,
        mode: Mode = "fast",
        prefill_tokens: int = 8192,
        refill_fraction: float = 0.25,
        prefix_cache_gb: float = 2.0,
    ) -> None:
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
        self.eos_ids = end_of_turn_ids(tokenizer, model)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.mode: Mode = mode if mode == "naive" or slot_cache_supported(model) else "naive"
        # Where the time goes (fast mode): prefill vs decode seconds, prompt tokens computed vs reused
        # from the prefix store, decode steps.
        self.stats = {
            "prefill_s": 0.0,
            "prefill_tokens": 0,
            "cached_tokens": 0,
            "decode_s": 0.0,
            "decode_steps": 0,
            "scored_cached_tokens": 0,  # prompt tokens ``score`` took from the prefix store
        }
        self.prefix_store = PrefixStore(int(prefix_cache_gb * 2**30))

    def sync_weights(self, model: Any) -> None:
        """Copy ``model``'s weights into the engine's own (cast) copy; nothing when it generates with ``model``.
        The in-place copy bumps the parameters' versions, which empties the prefix store."""
        if model is self.model:
            return
        with torch.no_grad():
            for mine, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
                mine.copy_(theirs)

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
                with gqa_attention(self.model):
                    return _Batcher(self, prompts, n, sampling, seed, on_progress).run()
        finally:
            self.model.train(was_training)

    def score(
        self,
        prompt: list[int],
        continuations: list[list[int]],
        temperature: float,
        then: Sequence[int] = (),
        chunk: int = 32,
    ) -> list[float]:
        """The prompt runs once, from the prefix store's KV of the conversation so far when it holds it (a retry
        context continues the reflection just sampled, so only the retry turn's glue is computed); its KV is
        copied for the continuations, ``chunk`` at a time (bounding the logits' memory: a 4-number Countdown
        problem can have ~100 solutions)."""
        if temperature <= 0:
            raise ValueError("score needs a temperature > 0: greedy decoding has no probabilities to score")
        if not continuations:
            return []
        was_training = self.model.training
        self.model.eval()
        fast = gqa_attention(self.model) if self.mode == "fast" else contextlib.nullcontext()
        try:
            with torch.inference_mode(), fast:
                head = self._prompt_forward(prompt)
                scores: list[float] = []
                for start in range(0, len(continuations), chunk):
                    cache = copy.deepcopy(head.past_key_values)
                    part = continuations[start : start + chunk]
                    scores += self._score_after(head.logits[:, -1], cache, part, len(prompt), temperature, then)
        finally:
            self.model.train(was_training)
        return scores

    def _prompt_forward(self, prompt: list[int]) -> Any:
        """The model's output on ``prompt`` (last logits and KV), continuing a stored prefix when there is one."""
        device = next(self.model.parameters()).device
        m, kv = 0, None
        if self.mode == "fast":
            self.prefix_store.check_weights(self.model)
            m, kv = self.prefix_store.lookup(prompt)
        cache = DynamicCache(config=self.model.config)
        if kv is not None:
            load_prefixes(cache, [(m, kv)], device)
            self.stats["scored_cached_tokens"] += m
        return self.model(
            torch.tensor([prompt[m:]], device=device),
            position_ids=torch.arange(m, len(prompt), device=device)[None],
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )

    def _score_after(
        self, last_logits, cache, continuations, prompt_len: int, temperature: float, then: Sequence[int]
    ) -> list[float]:
        """Right-padded continuations after the prompt's cache: a pad after a continuation cannot change its own
        tokens' log-probs in a causal model."""
        n, longest = len(continuations), max(map(len, continuations))
        ids = torch.full((n, longest), self.pad_id, dtype=torch.long, device=last_logits.device)
        mask = torch.zeros_like(ids)
        for i, c in enumerate(continuations):
            ids[i, : len(c)] = torch.tensor(c)
            mask[i, : len(c)] = 1
        cache.batch_repeat_interleave(n)
        seen = torch.cat([torch.ones((n, prompt_len), dtype=torch.long, device=ids.device), mask], 1)
        rest = self.model(ids, attention_mask=seen, past_key_values=cache, use_cache=False).logits
        logp = (torch.cat([last_logits[:, None].expand(n, 1, -1), rest], 1).float() / temperature).log_softmax(-1)
        total = (logp[:, :-1].gather(-1, ids[..., None])[..., 0] * mask).sum(1)
        if then:  # the next token after each continuation is one of ``then``: one forward, not one per end
            after = logp[torch.arange(n, device=ids.device), mask.sum(1)]
            total = total + after[:, list(then)].logsumexp(-1)
        return total.tolist()

    # -- naive: model.generate ------------------------------------------------------------------

    def _generate_naive(
        self, prompts: list[list[int]], n: int, sampling: Sampling, seed: int, on_progress: ProgressFn | None
    ) -> list[list[Sample]]:
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
            [token_logprobs(step.float() / temperature, new[:, t]) for t, step in enumerate(out.logits)], dim=1
        )
        return [
            sample_from_ids(self.tokenizer, self.eos_ids, ids, lps)
            for ids, lps in zip(new.tolist(), logprobs.tolist(), strict=True)
        ]


# -- fast: continuous batching over slots ---------------------------------------------------------


@dataclass
class _Row:
    prompt: int
    sample: int
    generator: torch.Generator | None
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)  # of each token, see ``sample_next_tokens``


class _Batcher:
    """One ``generate`` call: a queue of rows, ``slots`` of KV, and the decode loop."""

    def __init__(
        self,
        engine: HFEngine,
        prompts: list[list[int]],
        n: int,
        sampling: Sampling,
        seed: int,
        on_progress: ProgressFn | None,
    ) -> None:
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
        self.cache = SlotCache(self.slots, max(len(p) for p in prompts), self.max_new, self.device)

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
        past_mask = load_prefixes(prefill, cached, self.device)
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
        first, first_logprobs = sample_next_tokens(logits[group], [r.generator for r in rows], self.sampling)
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
        toks, logprobs = sample_next_tokens(logits[live], [self.rows[s].generator for s in live], self.sampling)
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
            self.results[row.prompt][row.sample] = sample_from_ids(
                self.engine.tokenizer, self.engine.eos_ids, row.tokens, row.logprobs
            )
        if done and self.on_progress:
            self.on_progress(len(done), sum(len(r.tokens) for r in done))


def _left_pad(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[rows, longest] ids padded on the left with ``pad_id``, and the attention mask (1 on real tokens)."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        attention[i, width - len(p) :] = 1
    return ids, attention


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence transformers' per-call generation warnings (e.g. about generation_config defaults)."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)
