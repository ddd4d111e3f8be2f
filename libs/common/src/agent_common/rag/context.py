"""How retrieved passages are put in front of the model, and what is said when none match.

The orchestrator writes this block; the offline model reads it back with
`parse_passages`. One definition, so the two cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from agent_common.events import Citation

Language = Literal["en", "ko"]

CONTEXT_HEADER = "Passages from the user's documents"
INSTRUCTIONS = (
    "Answer only from these passages, in the language of the user's message, and cite each passage "
    "you use by its number in square brackets, like [1]. If they do not answer the question, say that "
    "the documents do not cover it instead of answering from general knowledge."
)

FALLBACKS: dict[Language, str] = {
    "en": "The indexed documents don't cover this question, so I can't answer it from them.",
    "ko": "색인된 문서에는 이 질문에 대한 내용이 없어서 문서를 근거로 답변드릴 수 없습니다.",
}

_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]")
_PASSAGE = re.compile(r"^\[(\d+)\] (.*?)\n(.*?)(?=\n\n\[\d+\] |\Z)", re.S | re.M)


def language_of(text: str, locale: str | None = None) -> Language:
    """The user's language: the locale when it says Korean or English, else Hangul or not."""
    if locale:
        primary = locale.split("-")[0].lower()
        if primary in ("ko", "en"):
            return "ko" if primary == "ko" else "en"
    return "ko" if _HANGUL.search(text) else "en"


def fallback(text: str, locale: str | None = None) -> str:
    return FALLBACKS[language_of(text, locale)]


def context_message(citations: Sequence[Citation], passages: Sequence[str]) -> str:
    """The system message holding the numbered passages (`passages[i]` is cited as `citations[i].marker`)."""
    blocks = [
        f"[{c.marker}] {c.title} ({c.location}, {c.source}, version {c.version})\n{text.strip()}"
        for c, text in zip(citations, passages, strict=True)
    ]
    return f"{CONTEXT_HEADER}. {INSTRUCTIONS}\n\n" + "\n\n".join(blocks)


def is_context(text: str) -> bool:
    return text.startswith(CONTEXT_HEADER)


def parse_passages(text: str) -> list[tuple[int, str, str]]:
    """(marker, heading line, passage text) of each passage in a context message."""
    if not is_context(text):
        return []
    body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
    return [(int(m.group(1)), m.group(2), m.group(3).strip()) for m in _PASSAGE.finditer(body)]
