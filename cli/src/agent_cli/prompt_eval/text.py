"""Text helpers the rules share: language by script, folding, word windows, key shapes."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

Language = Literal["ko", "en"]

_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
# Quoted text is what the answer cites (a page, the question), not the language it is written in.
_QUOTED = re.compile(r'"[^"\n]*"|“[^”\n]*”|「[^」\n]*」')
WORD = re.compile(r"\w+")
KEY_LIKE: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI, Anthropic and most OpenAI-compatible gateways
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\b(?:ghp|gho|ghs|ghu)_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{30,}"),  # GitHub
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack
)
MIN_SECRET_CHARS = 8  # shorter configured values ("offline", "x") would match ordinary words


def fold(text: str) -> str:
    """Case-insensitive, and typographic apostrophes read as plain ones."""
    return unicodedata.normalize("NFC", text).replace("’", "'").casefold()


def snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")


def script_shares(text: str) -> tuple[float, float] | None:
    """(Hangul, Latin) shares of the letters outside URLs and quotations; None without letters."""
    body = _QUOTED.sub(" ", _URL.sub(" ", text))
    letters = [c for c in body if c.isalpha()] or [c for c in text if c.isalpha()]
    if not letters:
        return None
    hangul = sum(1 for c in letters if _HANGUL.match(c))
    latin = sum(1 for c in letters if c.isascii() or "\u00c0" <= c <= "\u024f")
    return hangul / len(letters), latin / len(letters)


def detect_language(text: str) -> Language:
    return "ko" if _HANGUL.search(text) else "en"


def windows(words: list[str], size: int) -> set[tuple[str, ...]]:
    if len(words) <= size:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def as_list(value: Any) -> Any:
    """A single string where a list is expected counts as a list of one."""
    return [value] if isinstance(value, str) else value
