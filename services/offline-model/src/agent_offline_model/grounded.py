"""Answers from retrieved passages: what the offline model says when the prompt holds the
platform's numbered passages (agent_common.rag.context).

It quotes the passage that shares the most words with the question (else the first,
which the platform ranked closest) and cites it by its number. It follows the
platform's no-match rule too: a passages block with no passage in it gets the
documents-don't-cover-it fallback rather than an improvised answer.

The offline model reads the prompt as any model does, without importing the platform,
so it keeps its own copy of the block's shape (header, `[n] heading` lines) and of the
fallback sentences; a test holds them equal to agent_common.rag.context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Language = Literal["en", "ko"]

CONTEXT_HEADER = "Passages from the user's documents"
FALLBACKS: dict[Language, str] = {
    "en": "The indexed documents don't cover this question, so I can't answer it from them.",
    "ko": "색인된 문서에는 이 질문에 대한 내용이 없어서 문서를 근거로 답변드릴 수 없습니다.",
}
_PASSAGE = re.compile(r"^\[(\d+)\] (.*?)\n(.*?)(?=\n\n\[\d+\] |\Z)", re.S | re.M)

QUOTE_LIMIT = 220
_WORD = re.compile(r"[^\W_]{2,}")
_STOPWORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "is",
        "are",
        "was",
        "were",
        "be",
        "to",
        "of",
        "in",
        "on",
        "for",
        "and",
        "or",
        "how",
        "do",
        "does",
        "did",
        "what",
        "why",
        "when",
        "where",
        "which",
        "who",
        "can",
        "i",
        "you",
        "it",
        "with",
        "from",
        "this",
        "that",
        "my",
        "me",
        "as",
        "at",
        "by",
        "not",
    ]
)


def context_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The platform's passages block, when the prompt has one (the last such system message)."""
    found = None
    for message in messages:
        content = message.get("content")
        if message.get("role") == "system" and isinstance(content, str) and content.startswith(CONTEXT_HEADER):
            found = content
    return found


def parse_passages(context: str) -> list[tuple[int, str, str]]:
    """(marker, heading line, text) of each numbered passage."""
    body = context.split("\n\n", 1)[1] if "\n\n" in context else ""
    return [(int(m.group(1)), m.group(2), m.group(3).strip()) for m in _PASSAGE.finditer(body)]


def _words(text: str) -> set[str]:
    return {w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOPWORDS}


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_LIMIT else flat[:QUOTE_LIMIT].rstrip() + "…"


def grounded_answer(context: str, question: str, language: Language) -> str:
    passages = parse_passages(context)
    asked = _words(question)
    best: tuple[int, int, str] | None = None
    for marker, heading, text in passages:
        overlap = len(asked & _words(f"{heading} {text}"))
        if overlap and (best is None or overlap > best[0]):
            best = (overlap, marker, text)
    if not passages:
        return FALLBACKS[language]
    # No word in common (a Korean question about English passages, say): the platform
    # ranked the passages by meaning and put the closest first.
    _, marker, text = best if best is not None else (0, passages[0][0], passages[0][2])
    if language == "ko":
        return f'문서에 따르면 [{marker}]: "{_excerpt(text)}"'
    return f'According to your documents [{marker}]: "{_excerpt(text)}"'
