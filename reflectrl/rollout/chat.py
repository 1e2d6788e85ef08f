"""Chat templates at the token level: encode a conversation, the ids that end a sampled assistant turn
(and a sampled turn cut there), and the tokens that close an assistant turn and open the next user +
assistant turns (the "glue" between sampled turns)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from reflectrl.rollout.engine import Sample

_PLACEHOLDER = "\x00reflectrl-turn\x00"


def render_chat(tokenizer: Any, messages: list[dict[str, str]], tools: list[dict] | None = None) -> str:
    kwargs = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **kwargs)


def encode_chat(tokenizer: Any, messages: list[dict[str, str]], tools: list[dict] | None = None) -> list[int]:
    """Token ids of a conversation, ending with the assistant header the model continues from."""
    return tokenizer(render_chat(tokenizer, messages, tools), add_special_tokens=False).input_ids


def turn_glue(tokenizer: Any, user_text: str, end_token_id: int | None) -> list[int]:
    """Ids to append after a sampled assistant turn to add ``user_text`` as the next user turn.

    ``end_token_id`` is the end-of-turn token the model sampled (None when it was cut off, in which
    case the glue closes the turn itself)."""
    end_text = tokenizer.decode([end_token_id]) if end_token_id is not None else ""
    return list(_glue(tokenizer, user_text, end_text))


@lru_cache(maxsize=4096)
def _glue(tokenizer: Any, user_text: str, end_text: str) -> tuple[int, ...]:
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": _PLACEHOLDER},
        {"role": "user", "content": user_text},
    ]
    text = render_chat(tokenizer, messages)
    suffix = text[text.index(_PLACEHOLDER) + len(_PLACEHOLDER) :]
    if end_text and suffix.startswith(end_text):
        suffix = suffix[len(end_text) :]
    return tuple(tokenizer(suffix, add_special_tokens=False).input_ids)


def end_of_turn_ids(tokenizer: Any, model: Any = None, also: Iterable[int | None] = ()) -> set[int]:
    """The ids that end a sampled turn: the tokenizer's eos, the eos id(s) of ``model``'s generation config
    (chat models often end a turn with another token than the tokenizer's eos, e.g. ``<|im_end|>``
    beside ``<|endoftext|>``), and ``also``."""
    ids = {tokenizer.eos_token_id, *also}
    if model is not None:
        eos = model.generation_config.eos_token_id
        ids.update(eos if isinstance(eos, list) else [eos])
    return {i for i in ids if i is not None}


def sample_from_ids(tokenizer: Any, end_ids: set[int], ids: list[int], logprobs: list[float] | None = None) -> Sample:
    """The ``Sample`` of generated ``ids`` (and their ``logprobs``) up to and including the first id of
    ``end_ids``; ``finished`` says whether there was one. Everything after it is dropped: ``model.generate``
    keeps a finished row going (padding) until the longest row of its batch ends."""
    for i, tok in enumerate(ids):
        if tok in end_ids:
            ids, finished = ids[: i + 1], True
            break
    else:
        finished = False
    if logprobs is not None:
        logprobs = logprobs[: len(ids)]
    text = tokenizer.decode(ids, skip_special_tokens=True)
    return Sample(text=text, token_ids=ids, finished=finished, logprobs=logprobs)
