"""Every strategy cuts the document into chunks that keep their span, headings and page."""

from __future__ import annotations

import itertools

import pytest

from agent_rag_indexer.chunking import STRATEGIES, ChunkingConfig, chunk_document
from agent_rag_indexer.documents import Block, Document, Parsed, normalise


def document(blocks: list[Block]) -> Document:
    return normalise(
        source="s",
        doc_id="d",
        parsed=Parsed(title="T", blocks=blocks),
        checksum="sha256:00",
        fallback_title="d",
        version="1",
        last_updated="",
        language="en",
    )


def sections(count: int, words: int) -> list[Block]:
    blocks: list[Block] = []
    for i in range(count):
        blocks.append(Block("heading", f"Question {i}?", ("T", f"Question {i}?"), 2))
        blocks.append(Block("paragraph", " ".join(f"w{i}x{j}" for j in range(words)), ("T", f"Question {i}?")))
    return blocks


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_chunk_points_at_its_text_in_the_document(strategy: str) -> None:
    doc = document(sections(6, 120))
    chunks = chunk_document(doc, ChunkingConfig(strategy, size=400, overlap=80))  # type: ignore[arg-type]
    assert chunks
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end].strip() in chunk.text
        assert len(doc.text[chunk.start : chunk.end]) <= 400
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert not {i for i, ch in enumerate(doc.text) if not ch.isspace()} - covered, "text left out of every chunk"


def test_heading_chunks_are_one_section_each_with_its_heading_path() -> None:
    doc = document(sections(3, 20))
    chunks = chunk_document(doc, ChunkingConfig("heading", size=1000, overlap=0))
    assert [c.text.split("\n")[0] for c in chunks] == ["Question 0?", "Question 1?", "Question 2?"]
    assert [c.heading_path for c in chunks] == [("T", f"Question {i}?") for i in range(3)]


def test_a_long_section_is_split_by_paragraphs_each_piece_headed_by_its_path() -> None:
    blocks = [Block("heading", "Long?", ("Long?",), 2)] + [
        Block("paragraph", f"Paragraph {i} " + "word " * 40, ("Long?",)) for i in range(6)
    ]
    chunks = chunk_document(document(blocks), ChunkingConfig("heading", size=500, overlap=0))
    assert len(chunks) > 1
    assert all(c.text.startswith("Long?\n") for c in chunks)


def test_fixed_windows_overlap_by_about_the_overlap() -> None:
    doc = document([Block("paragraph", " ".join(f"word{i}" for i in range(400)))])
    chunks = chunk_document(doc, ChunkingConfig("fixed", size=300, overlap=60))
    for before, after in itertools.pairwise(chunks):
        shared = before.end - after.start
        assert 30 <= shared <= 60


def test_paragraph_chunks_never_cut_a_paragraph_that_fits() -> None:
    doc = document(sections(8, 15))
    chunks = chunk_document(doc, ChunkingConfig("paragraph", size=300, overlap=0))
    starts = {p.start for p in doc.blocks}
    ends = {p.end for p in doc.blocks}
    assert all(c.start in starts and c.end in ends for c in chunks)


def test_pages_are_kept_for_citations() -> None:
    doc = document([Block("paragraph", "first page text", (), 0, 1), Block("paragraph", "second page", (), 0, 2)])
    chunks = chunk_document(doc, ChunkingConfig("paragraph", size=16, overlap=0))
    assert [c.page for c in chunks] == [1, 2]


def long_section() -> list[Block]:
    path = ("Guide", "Installing on Windows?")
    return [Block("heading", "Installing on Windows?", path, 2)] + [
        Block("paragraph", f"Step {i}: " + "download the installer and run it " * 6, path) for i in range(8)
    ]


def test_the_first_piece_of_a_long_section_names_its_heading_once() -> None:
    chunks = chunk_document(document(long_section()), ChunkingConfig("heading", size=500, overlap=0))
    assert len(chunks) > 2
    assert chunks[0].text.count("Installing on Windows?") == 1
    assert chunks[0].text.startswith("Guide\nInstalling on Windows?\n")
    for later in chunks[1:]:  # the other pieces are headed by the whole path
        assert later.text.startswith("Guide > Installing on Windows?\nStep")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("size", [200, 500, 1200])
def test_no_chunk_is_longer_than_the_chunk_size_heading_path_included(strategy: str, size: int) -> None:
    long_paragraph = Block("paragraph", "word " * 400, ("Guide", "Installing on Windows?"))
    doc = document([*long_section(), long_paragraph, *sections(3, 150)])
    chunks = chunk_document(doc, ChunkingConfig(strategy, size=size, overlap=size // 6))  # type: ignore[arg-type]
    assert max(len(c.text) for c in chunks) <= size
