"""The one shape every document takes once read, whatever its format."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["heading", "paragraph"]

_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Block:
    """A heading or a paragraph, with the headings above it and its page (PDF)."""

    kind: BlockKind
    text: str
    heading_path: tuple[str, ...] = ()
    level: int = 0
    page: int | None = None


@dataclass(frozen=True)
class PlacedBlock:
    """A block and where it sits in the document's extracted text."""

    block: Block
    start: int
    end: int


@dataclass(frozen=True)
class Parsed:
    """What a reader returns: a title (if the format has one) and the blocks in order."""

    title: str | None
    blocks: list[Block]


@dataclass(frozen=True)
class Document:
    """A normalised document: metadata plus the extracted text and its blocks' positions."""

    source: str
    doc_id: str
    title: str
    version: str
    last_updated: str
    language: str
    checksum: str
    text: str
    blocks: list[PlacedBlock] = field(default_factory=list)


def checksum_of(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def detect_language(text: str) -> str:
    """`ko` when at least a fifth of the letters are Hangul, else `en`."""
    letters = _LETTER.findall(text[:20_000])
    if not letters:
        return "en"
    hangul = sum(1 for ch in letters if _HANGUL.match(ch))
    return "ko" if hangul * 5 >= len(letters) else "en"


def place(blocks: list[Block]) -> tuple[str, list[PlacedBlock]]:
    """Join the blocks with blank lines; each keeps its character span in the result."""
    parts: list[str] = []
    placed: list[PlacedBlock] = []
    offset = 0
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(text)
        placed.append(
            PlacedBlock(
                block=Block(block.kind, text, block.heading_path, block.level, block.page),
                start=offset,
                end=offset + len(text),
            )
        )
        offset += len(text)
    return "".join(parts), placed


def normalise(
    *,
    source: str,
    doc_id: str,
    parsed: Parsed,
    checksum: str,
    fallback_title: str,
    title: str | None = None,
    version: str | None,
    last_updated: str,
    language: str | None,
) -> Document:
    text, placed = place(parsed.blocks)
    return Document(
        source=source,
        doc_id=doc_id,
        # The title the command gave, else the document's own (first H1, <title>, PDF metadata), else its name.
        title=(title or parsed.title or "").strip() or fallback_title,
        version=version or checksum.split(":", 1)[-1][:12],
        last_updated=last_updated,
        language=language or detect_language(text),
        checksum=checksum,
        text=text,
        blocks=placed,
    )
