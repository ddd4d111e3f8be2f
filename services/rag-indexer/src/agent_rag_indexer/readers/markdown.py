"""Markdown: ATX headings (`#` to `######`) open sections; blank lines separate paragraphs;
fenced code stays one paragraph."""

from __future__ import annotations

import re

from agent_rag_indexer.documents import Block, Parsed
from agent_rag_indexer.readers.decoding import decode

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)")


def read_markdown(content: bytes) -> Parsed:
    lines = decode(content).replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    paragraph: list[str] = []
    in_fence = False
    title: str | None = None

    def flush() -> None:
        text = "\n".join(paragraph).strip()
        paragraph.clear()
        if text:
            blocks.append(Block("paragraph", text, tuple(h for _, h in path)))

    for line in lines:
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
            paragraph.append(line)
            continue
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            flush()
            level, text = len(heading.group(1)), heading.group(2)
            path = [(lvl, h) for lvl, h in path if lvl < level]
            path.append((level, text))
            blocks.append(Block("heading", text, tuple(h for _, h in path), level))
            if title is None and level == 1:
                title = text
        elif not line.strip() and not in_fence:
            flush()
        else:
            paragraph.append(line)
    flush()
    return Parsed(title=title, blocks=blocks)
