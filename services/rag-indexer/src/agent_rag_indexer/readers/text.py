"""Plain text: paragraphs are separated by blank lines; no headings."""

from __future__ import annotations

import re

from agent_rag_indexer.documents import Block, Parsed
from agent_rag_indexer.readers.decoding import decode

_BLANK_LINES = re.compile(r"\n\s*\n")


def read_text(content: bytes) -> Parsed:
    text = decode(content).replace("\r\n", "\n")
    paragraphs = [p.strip() for p in _BLANK_LINES.split(text) if p.strip()]
    title = paragraphs[0].splitlines()[0][:120] if paragraphs else None
    return Parsed(title=title, blocks=[Block("paragraph", p) for p in paragraphs])
