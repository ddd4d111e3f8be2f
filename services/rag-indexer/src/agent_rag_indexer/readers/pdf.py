"""PDF: the text layer of each page (pypdf, pure Python), paragraphs by blank lines or
short lines; every block keeps its page number. Scanned pages without text yield nothing."""

from __future__ import annotations

import io
import re

from agent_common.errors import ErrorCode, PlatformError
from agent_rag_indexer.documents import Block, Parsed

_BLANK_LINES = re.compile(r"\n\s*\n")


def read_pdf(content: bytes) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise PlatformError(
            ErrorCode.RAG_DOCUMENT_INVALID, "The PDF could not be read.", reason=str(exc)[:200]
        ) from exc
    blocks: list[Block] = []
    for number, text in enumerate(pages, start=1):
        for paragraph in _BLANK_LINES.split(text.replace("\r\n", "\n")):
            flat = " ".join(paragraph.split())
            if flat:
                blocks.append(Block("paragraph", flat, (), 0, number))
    return Parsed(title=str(title) if title else None, blocks=blocks)
