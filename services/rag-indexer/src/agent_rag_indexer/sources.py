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
from agent_common.rag.roots import path_not_allowed, relative_name, within
from agent_common.security_events import SecurityEvent, SecurityReason, record_security_event
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
    """A document to index: its id within the source, its name for people, and how to read it."""

    doc_id: str
    # What citations show: a file's path relative to its allowed root, an inline document's id.
    name: str
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

    return Candidate(doc_id=doc.doc_id, name=doc.doc_id, fallback_title=doc.title or doc.doc_id, load=load)


def _file(path: Path, fmt: str, roots: Sequence[Path]) -> Candidate:
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

    return Candidate(doc_id=str(path), name=relative_name(path, roots), fallback_title=path.stem, load=load)


def _outside(path: str) -> Refused:
    record_security_event(SecurityEvent.ACCESS_DENIED, SecurityReason.PATH_NOT_ALLOWED)
    return Refused(path, path_not_allowed(path))


def candidates(source: ReindexSource, allowed_roots: Sequence[Path]) -> tuple[list[Candidate], list[Refused]]:
    """Every document of `source`, and the named paths that cannot be indexed (with why).

    Folders are walked recursively for the formats there are readers for (other files are
    not documents and are passed over); a file named explicitly in another format is refused.
    Paths outside `allowed_roots` once symlinks are resolved are refused: the gateway has
    already refused those outside as written, so one here left through a link.
    """
    found: list[Candidate] = [_inline(doc) for doc in source.documents]
    refused: list[Refused] = []
    seen: set[str] = {c.doc_id for c in found}
    for raw in source.paths:
        path = Path(raw).expanduser().resolve()
        if not within(path, allowed_roots):
            refused.append(_outside(raw))
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
            if fmt is None or str(file) in seen:
                continue
            seen.add(str(file))
            if not within(file.resolve(), allowed_roots):  # a link in the folder to a file outside
                refused.append(_outside(str(file)))
                continue
            found.append(_file(file, fmt, allowed_roots))
    return found, refused
