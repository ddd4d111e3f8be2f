"""The labelled set: the Python FAQ shipped by Debian's `python3.11-doc` package.

Each FAQ page is a list of questions, each a heading followed by its answer. A heading
ending in `?` is a query; the section under it (up to the next heading of the same or a
higher level) is its gold passage, located by character offsets in the text the HTML
reader extracts, the very text the indexer chunks. The key text, the answer's first
words, is what must reach the prompt for the answer to be built from the right passage.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent_rag_indexer.documents import Document, checksum_of, normalise
from agent_rag_indexer.readers.html import read_html

FAQ_DIR = Path("/usr/share/doc/python3.11/html/faq")
KEY_TEXT_CHARS = 80


@dataclass(frozen=True)
class Question:
    id: str
    query: str
    doc_id: str
    gold_start: int
    gold_end: int
    key_text: str


def read_page(path: Path, source: str = "python-faq") -> Document:
    content = path.read_bytes()
    return normalise(
        source=source,
        doc_id=str(path.resolve()),
        parsed=read_html(content),
        checksum=checksum_of(content),
        fallback_title=path.stem,
        version=None,
        last_updated="",
        language=None,
    )


def key_text(answer: str) -> str:
    """The answer's first words, cut at a word boundary."""
    flat = " ".join(answer.split())
    if len(flat) <= KEY_TEXT_CHARS:
        return flat
    return flat[:KEY_TEXT_CHARS].rsplit(" ", 1)[0]


def questions_of(doc: Document) -> list[Question]:
    found: list[Question] = []
    blocks = doc.blocks
    for index, placed in enumerate(blocks):
        block = placed.block
        if block.kind != "heading" or block.level < 2 or not block.text.endswith("?"):
            continue
        end = index + 1
        while end < len(blocks) and not (
            blocks[end].block.kind == "heading" and blocks[end].block.level <= block.level
        ):
            end += 1
        section = blocks[index + 1 : end]
        answer = next((b.block.text for b in section if b.block.kind == "paragraph"), "")
        if not answer:
            continue
        found.append(
            Question(
                id=f"{Path(doc.doc_id).stem}-{len(found) + 1:03d}",
                query=block.text,
                doc_id=doc.doc_id,
                gold_start=placed.start,
                gold_end=section[-1].end,
                key_text=key_text(answer),
            )
        )
    return found


def faq_pages(faq_dir: Path = FAQ_DIR, pages: list[str] | None = None) -> list[Path]:
    if not faq_dir.is_dir():
        raise FileNotFoundError(
            f"{faq_dir} not found: install Debian's python3.11-doc (scripts/ensure-system-deps.sh does)"
        )
    chosen = sorted(p for p in faq_dir.glob("*.html") if p.name != "index.html")
    if pages:
        chosen = [p for p in chosen if p.name in pages]
    return chosen


def build(faq_dir: Path = FAQ_DIR, pages: list[str] | None = None) -> list[Question]:
    return [q for page in faq_pages(faq_dir, pages) for q in questions_of(read_page(page))]


def write_jsonl(questions: list[Question], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for q in questions:
            out.write(json.dumps(asdict(q), ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[Question]:
    return [Question(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fold(question_id: str, folds: int = 10) -> int:
    """The question's fold, the same on every run."""
    return zlib.crc32(question_id.encode()) % folds


def is_held_out(question_id: str) -> bool:
    """Three questions in ten, the same ones on every run: tuned on the others, reported apart."""
    return fold(question_id) < 3


@dataclass(frozen=True)
class Translated:
    """A question of the labelled set asked in another language: its wording there, its gold passage."""

    query: str
    question: Question

    @property
    def held_out(self) -> bool:
        return is_held_out(self.question.id)


def translations_of(
    entries: Sequence[dict[str, Any]], questions: Sequence[Question], language: str = "ko"
) -> list[Translated]:
    """The wordings (`id`, `en`, `<language>` per entry, as in evals/rag/korean.yaml) of the questions
    at hand (a slice of the FAQ has fewer). Raises when an `en` is not its question's heading: the FAQ moved."""
    by_id = {q.id: q for q in questions}
    found: list[Translated] = []
    for entry in entries:
        question = by_id.get(str(entry["id"]))
        if question is None:
            continue
        if question.query != entry["en"]:
            raise ValueError(f"{entry['id']} is {question.query!r} in the FAQ, not {entry['en']!r}")
        found.append(Translated(str(entry[language]), question))
    return found
