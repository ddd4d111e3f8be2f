"""Deterministic stand-ins for tokenisation: what is streamed, and what usage counts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agent_offline_model.policy import message_text

_WORD = re.compile(r"\s*\S+\s*")  # a word with the whitespace around it, so tokens join back exactly
_COUNTED = re.compile(r"\w+|[^\w\s]")  # words and punctuation marks
ARGUMENT_FRAGMENT_CHARS = 16


def split_tokens(text: str) -> list[str]:
    """`text` as word tokens that keep their whitespace: `"".join(split_tokens(t)) == t`."""
    tokens = _WORD.findall(text)
    return tokens if tokens else ([text] if text else [])


def argument_fragments(arguments: str, size: int = ARGUMENT_FRAGMENT_CHARS) -> list[str]:
    """A tool call's JSON arguments in pieces, as OpenAI streams them."""
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def count_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Words and punctuation over every message's content and tool-call arguments."""
    total = 0
    for message in messages:
        total += len(_COUNTED.findall(message_text(message)))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                total += len(_COUNTED.findall(f"{function.get('name', '')} {function.get('arguments', '')}"))
    return total
