"""Where a command's documents come from: inline in the command, or files and folders.

Listing is cheap (paths only); each document's bytes are read when it is its turn, so
an unchanged file costs one read and one checksum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent_common.errors import ErrorCode, PlatformError
from agent_common.messages import InlineDocument, ReindexSource
from agent_rag_indexer.readers import format_of

_INLINE_FORMATS = {"text": "text", "markdown": "markdown", "html": "html"}


@dataclass(frozen=True)
class Loaded:
    content: bytes
    format: str
    last_updated: str
    title: str | None = None
    version: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A document to index: its id within the source, and how to read it."""

    doc_id: str
    fallback_title: str
    load: Callable[[], Loaded]


@dataclass(frozen=True)
class Refused:
    """A path named in the command that cannot be indexed."""

    doc_id: str
    error: PlatformError


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _inline(doc: InlineDocument) -> Candidate:
    def load() -> Loaded:
        return Loaded(
            content=doc.text.encode(),
            format=_INLINE_FORMATS[doc.format],
            last_updated=doc.last_updated or _now(),
            title=doc.title,
            version=doc.version,
            language=doc.language,
        )

    return Candidate(doc_id=doc.doc_id, fallback_title=doc.title or doc.doc_id, load=load)


def _file(path: Path, fmt: str) -> Candidate:
    def load() -> Loaded:
        try:
            content = path.read_bytes()
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise PlatformError(
                ErrorCode.RAG_SOURCE_UNREADABLE, "The file could not be read.", reason=type(exc).__name__
            ) from exc
        updated = dt.datetime.fromtimestamp(mtime, dt.UTC).isoformat(timespec="seconds")
        return Loaded(content=content, format=fmt, last_updated=updated)

    return Candidate(doc_id=str(path), fallback_title=path.stem, load=load)


def _allowed(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def candidates(source: ReindexSource, allowed_roots: Sequence[Path]) -> tuple[list[Candidate], list[Refused]]:
    """Every document of `source`, and the named paths that cannot be indexed (with why).

    Folders are walked recursively for the formats there are readers for (other files are
    not documents and are passed over); a file named explicitly in another format is refused.
    Paths outside `allowed_roots` are refused: the indexer reads only where it is told it may.
    """
    found: list[Candidate] = [_inline(doc) for doc in source.documents]
    refused: list[Refused] = []
    seen: set[str] = {c.doc_id for c in found}
    for raw in source.paths:
        path = Path(raw).expanduser().resolve()
        if not _allowed(path, allowed_roots):
            refused.append(
                Refused(
                    str(path),
                    PlatformError(
                        ErrorCode.RAG_SOURCE_UNREADABLE,
                        "The path is outside the folders the indexer may read (RAG_INDEXER_ALLOWED_ROOTS).",
                        reason="outside_allowed_roots",
                    ),
                )
            )
            continue
        if path.is_dir():
            try:
                files = sorted(p for p in path.rglob("*") if p.is_file() and format_of(p) is not None)
            except OSError as exc:
                unreadable = PlatformError(
                    ErrorCode.RAG_SOURCE_UNREADABLE, "The folder could not be listed.", reason=type(exc).__name__
                )
                refused.append(Refused(str(path), unreadable))
                continue
        elif path.is_file():
            if format_of(path) is None:
                refused.append(
                    Refused(
                        str(path),
                        PlatformError(
                            ErrorCode.RAG_FORMAT_UNSUPPORTED,
                            "Only plain text, Markdown, HTML and PDF documents are read.",
                            suffix=path.suffix,
                        ),
                    )
                )
                continue
            files = [path]
        else:
            refused.append(
                Refused(
                    str(path),
                    PlatformError(ErrorCode.RAG_SOURCE_UNREADABLE, "No such file or folder.", reason="missing"),
                )
            )
            continue
        for file in files:
            fmt = format_of(file)
            if fmt is not None and str(file) not in seen:
                seen.add(str(file))
                found.append(_file(file, fmt))
    return found, refused
