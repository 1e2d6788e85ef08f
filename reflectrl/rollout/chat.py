"""Chat templates at the token level: encode a conversation, and the tokens that close an assistant
turn and open the next user + assistant turns (the "glue" between sampled turns)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

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
