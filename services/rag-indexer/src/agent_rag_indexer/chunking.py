"""Chunking strategies: how a document's text is cut into the passages that are embedded.

- `fixed`: windows of `size` characters overlapping by `overlap`, cut at whitespace,
  blind to structure (the baseline).
- `paragraph`: whole paragraphs packed up to `size` characters; the last paragraph of a
  chunk is repeated at the start of the next when it is shorter than `overlap`.
- `heading`: one chunk per section (a heading and the paragraphs under it); a section longer
  than `size` is packed by paragraphs, each piece headed by its heading path (the first
  piece, which begins with the heading itself, by the path above it: never twice).

A paragraph longer than `size` is cut with the `fixed` windows inside every strategy, and
no chunk's text, heading path included, is longer than `size`.
Every chunk keeps its span in the document's text, the headings above it and its page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

from agent_rag_indexer.documents import Document, PlacedBlock

Strategy = Literal["fixed", "paragraph", "heading"]
STRATEGIES: tuple[Strategy, ...] = ("fixed", "paragraph", "heading")


@dataclass(frozen=True)
class ChunkingConfig:
    strategy: Strategy = "heading"
    size: int = 1200
    overlap: int = 200


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...]
    page: int | None


def _windows(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) cut into windows of at most `size`, each ending at whitespace when it can."""
    spans: list[tuple[int, int]] = []
    position = start
    while position < end:
        stop = min(position + size, end)
        if stop < end:
            space = text.rfind(" ", position + size // 2, stop)
            newline = text.rfind("\n", position + size // 2, stop)
            cut = max(space, newline)
            if cut > position:
                stop = cut
        spans.append((position, stop))
        if stop >= end:
            break
        position = max(stop - overlap, position + 1)
        while position < stop and not text[position - 1].isspace():
            position += 1
    return spans


def _block_at(blocks: Sequence[PlacedBlock], offset: int) -> PlacedBlock | None:
    found = None
    for placed in blocks:
        if placed.start <= offset:
            found = placed
        else:
            break
    return found


def _chunk(doc: Document, start: int, end: int, prefix: str = "") -> Chunk:
    block = _block_at(doc.blocks, start)
    path = block.block.heading_path if block else ()
    page = block.block.page if block else None
    body = doc.text[start:end].strip()
    return Chunk(text=f"{prefix}{body}" if prefix else body, start=start, end=end, heading_path=path, page=page)


def fixed(doc: Document, config: ChunkingConfig) -> list[Chunk]:
    return [_chunk(doc, s, e) for s, e in _windows(doc.text, 0, len(doc.text), config.size, config.overlap)]


def _pack(
    doc: Document,
    blocks: Sequence[PlacedBlock],
    config: ChunkingConfig,
    prefix: Callable[[PlacedBlock], str] = lambda _: "",
) -> list[Chunk]:
    """Consecutive blocks packed up to `size` characters with the prefix of the piece's first
    block in front of them (long blocks cut into windows)."""
    chunks: list[Chunk] = []
    group: list[PlacedBlock] = []

    def room(first: PlacedBlock) -> int:
        # The heading path is part of the text embedded: it counts against the size.
        return max(config.size - len(prefix(first)), config.size // 2)

    def emit() -> None:
        if group:
            chunks.append(_chunk(doc, group[0].start, group[-1].end, prefix(group[0])))

    for placed in blocks:
        length = placed.end - placed.start
        if length > room(placed):
            emit()
            group = []
            head = prefix(placed)
            for s, e in _windows(doc.text, placed.start, placed.end, room(placed), config.overlap):
                chunks.append(_chunk(doc, s, e, head))
            continue
        if group and placed.end - group[0].start > room(group[0]):
            emit()
            tail = group[-1]
            group = [tail] if tail.end - tail.start <= config.overlap else []
            if group and placed.end - group[0].start > room(group[0]):
                group = []
        group.append(placed)
    emit()
    return chunks


def paragraph(doc: Document, config: ChunkingConfig) -> list[Chunk]:
    return _pack(doc, doc.blocks, config)


def heading(doc: Document, config: ChunkingConfig) -> list[Chunk]:
    sections: list[list[PlacedBlock]] = []
    for placed in doc.blocks:
        if placed.block.kind == "heading" or not sections:
            sections.append([placed])
        else:
            sections[-1].append(placed)
    chunks: list[Chunk] = []
    for section in sections:
        first = section[0]
        if first.block.kind == "heading" and len(section) == 1:
            continue  # a heading with nothing under it before the next one: its text is in the path
        path = first.block.heading_path
        if section[-1].end - first.start <= config.size:
            chunks.append(_chunk(doc, first.start, section[-1].end))
            continue
        chunks.extend(_pack(doc, section, config, partial(_heading_prefix, path, first)))
    return chunks


def _heading_prefix(path: tuple[str, ...], heading: PlacedBlock, first: PlacedBlock) -> str:
    """The heading path written at the top of a piece of a long section; the piece that begins
    with the section's heading gets the path above it, the heading being its first line already."""
    shown = path[:-1] if first is heading and heading.block.kind == "heading" else path
    return " > ".join(shown) + "\n" if shown else ""


CHUNKERS: dict[Strategy, Callable[[Document, ChunkingConfig], list[Chunk]]] = {
    "fixed": fixed,
    "paragraph": paragraph,
    "heading": heading,
}


def chunk_document(doc: Document, config: ChunkingConfig) -> list[Chunk]:
    return [c for c in CHUNKERS[config.strategy](doc, config) if c.text]
