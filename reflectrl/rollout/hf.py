"""Hugging Face ``generate`` engine: sorts rows by prompt length to cut padding, left-pads, samples."""

from __future__ import annotations

import contextlib

import torch

from reflectrl.rollout.engine import Engine, ProgressFn, Sample, Sampling


class HFEngine(Engine):
    def __init__(self, model, tokenizer, batch_size: int = 32):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        eos_ids.add(tokenizer.eos_token_id)
        self.eos_ids = {e for e in eos_ids if e is not None}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        sampling: Sampling,
        seed: int = 0,
        on_progress: ProgressFn | None = None,
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
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            input_ids[i, width - len(p) :] = torch.tensor(p)
            attention[i, width - len(p) :] = 1
        kwargs: dict = {"max_new_tokens": sampling.max_new_tokens, "pad_token_id": self.pad_id}
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        was_training = self.model.training
        self.model.eval()
        torch.manual_seed(seed)
        try:
            with torch.inference_mode(), _quiet():
                out = self.model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention.to(device),
                    eos_token_id=sorted(self.eos_ids),
                    use_cache=True,
                    **kwargs,
                )
        finally:
            self.model.train(was_training)
        return [self._to_sample(row[width:].tolist()) for row in out.cpu()]

    def _to_sample(self, ids: list[int]) -> Sample:
        for i, tok in enumerate(ids):
            if tok in self.eos_ids:
                ids, finished = ids[: i + 1], True
                break
        else:
            finished = False
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Sample(text=text, token_ids=ids, finished=finished)


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
