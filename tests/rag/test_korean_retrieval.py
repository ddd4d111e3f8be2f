"""Korean questions about English documents: loanwords heard as the English words of the passages
found, and English words typed in a Korean question raising the passages that have them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from qdrant_client import AsyncQdrantClient

from agent_common.rag import loanwords
from agent_common.rag.query_translation import Glossary
from agent_common.rag.ranking import AGREEMENT_BONUS, agree, rank
from agent_common.rag.records import ChunkRecord, ScoredChunk
from agent_common.rag.store import VectorStore
from agent_common.rag.store.local import LocalVectorStore

DEBUGGER = "Is there a source code level debugger? pdb, the Python debugger, steps through code."
SORTING = "How do I sort a list? Lists have a sort() method, and sorted() returns a new list."
# Loanwords as Korean developers write them, and the English words they come from.
LOANWORDS = [
    ("디버거", "debugger"),
    ("패키지", "package"),
    ("리눅스", "Linux"),
    ("제너레이터", "generator"),
    ("시퀀스", "sequence"),
    ("인터페이스", "interface"),
    ("데이터베이스", "database"),
    ("소켓", "socket"),
    ("스레드", "thread"),
    ("독스트링", "docstring"),
    ("인덱스", "index"),
    ("레퍼런스", "reference"),
]


@pytest.mark.parametrize(("korean", "english"), LOANWORDS)
def test_a_loanword_sounds_like_the_english_word_it_comes_from(korean: str, english: str) -> None:
    assert loanwords.hangul_key(korean) in loanwords.english_keys(english)


def test_a_loanword_is_rendered_in_english_with_its_particle_kept() -> None:
    words = loanwords.vocabulary([DEBUGGER])
    assert loanwords.render("파이썬에도 디버거가 있나요?", words) == "python 에도 debugger 가 있나요?"


def test_a_korean_word_that_only_sounds_like_one_is_left_alone() -> None:
    # 만드 sounds like "mind", but 만드나요 is a verb (나요 is no particle); 함수 like nothing here.
    assert loanwords.render("함수는 어떻게 만드나요?", loanwords.vocabulary(["Mind the functions."])) is None


def test_only_the_documents_words_are_put_in_a_question() -> None:
    assert loanwords.render("디버거가 있나요?", loanwords.vocabulary([SORTING])) is None


def record(index: int, text: str) -> ChunkRecord:
    return ChunkRecord(
        tenant="default",
        source="faq",
        doc_id="faq.html",
        title="FAQ",
        version="v1",
        last_updated="2026-01-01",
        language="en",
        checksum="c",
        chunk_index=index,
        text=text,
        heading_path=["FAQ", text.split("?")[0]],
    )


class WordEmbedder:
    """A query naming the debugger points at its passage; any other sits between the two passages."""

    name = "words"
    dimensions = 2

    async def passages(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] if "debugger" in text else [0.0, 1.0] for text in texts]

    async def query(self, text: str) -> list[float]:
        return [1.0, 0.0] if "debugger" in text else [0.6, 0.8]

    async def close(self) -> None:
        pass


@pytest.fixture
async def faq() -> AsyncIterator[VectorStore]:
    store = LocalVectorStore(AsyncQdrantClient(location=":memory:"), "documents", WordEmbedder.dimensions)
    embedder = WordEmbedder()
    texts = [DEBUGGER, SORTING]
    await store.upsert(
        await store.ensure_live(), [record(i, t) for i, t in enumerate(texts)], await embedder.passages(texts)
    )
    yield store
    await store.close()


async def test_a_korean_question_finds_the_passage_its_loanword_names(faq: VectorStore) -> None:
    question = "디버거가 있나요?"
    # The glossary knows no such term: as asked, the question is closer to the sorting passage.
    plain = await rank(faq, WordEmbedder(), question, 2, glossary=Glossary((), loanwords=False))
    assert plain[0].record.text == SORTING
    heard = await rank(faq, WordEmbedder(), question, 2, glossary=Glossary(()))
    assert heard[0].record.text == DEBUGGER and heard[0].score == pytest.approx(1.0)


def hit(index: int, text: str, score: float) -> ScoredChunk:
    return ScoredChunk(record=record(index, text), score=score)


def test_an_english_word_typed_in_a_korean_question_raises_the_passages_that_have_it() -> None:
    gil = hit(0, "Can't we get rid of the Global Interpreter Lock? The GIL has been ...", 0.819)
    others = [hit(i, f"Python question {i}? An answer about Python.", 0.821) for i in range(1, 8)]
    ranked = agree("GIL을 아예 없앨 수는 없나요?", [*others, gil])
    assert ranked[0].record.text == gil.record.text
    assert ranked[0].score == pytest.approx(0.819 + AGREEMENT_BONUS)
    assert [h.score for h in ranked[1:]] == [0.821] * 7  # the others keep their cosine


def test_a_word_most_passages_have_tells_none_apart() -> None:
    hits = [hit(i, f"Python question {i}? An answer about Python.", 0.82 - i / 1000) for i in range(8)]
    assert agree("Python은 무료인가요?", hits) == hits
