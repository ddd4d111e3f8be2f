"""Readers turn one format's bytes into blocks: plain text, Markdown, HTML, PDF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from agent_common.errors import ErrorCode, PlatformError
from agent_rag_indexer.documents import Parsed
from agent_rag_indexer.readers.html import read_html
from agent_rag_indexer.readers.markdown import read_markdown
from agent_rag_indexer.readers.pdf import read_pdf
from agent_rag_indexer.readers.text import read_text

Reader = Callable[[bytes], Parsed]

READERS: dict[str, Reader] = {
    "text": read_text,
    "markdown": read_markdown,
    "html": read_html,
    "pdf": read_pdf,
}

FORMAT_OF_SUFFIX: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}


def format_of(path: Path) -> str | None:
    return FORMAT_OF_SUFFIX.get(path.suffix.lower())


def read(content: bytes, fmt: str) -> Parsed:
    reader = READERS.get(fmt)
    if reader is None:
        raise PlatformError(ErrorCode.RAG_FORMAT_UNSUPPORTED, f"Documents of format {fmt!r} are not read.", format=fmt)
    return reader(content)
