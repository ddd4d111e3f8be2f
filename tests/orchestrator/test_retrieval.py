"""What the documents do to a run's prompt: passages for a question they cover, nothing
(the model answers alone) for one they do not, and the no-match fallback only for a
documents-only caller; counted in `rag_retrievals_total` by outcome."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from qdrant_client import AsyncQdrantClient

from agent_common.events import Citation
from agent_common.rag.context import FALLBACKS
from agent_common.rag.query_translation import Glossary
from agent_common.rag.records import ChunkRecord
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import VectorStore
from agent_common.rag.store.local import LocalVectorStore
from agent_orchestrator.retrieval import DocumentsOnly, Retriever, cited, ground

# Two axes: a question about vacation lands on the passage, anything else beside it.
VACATION = [1.0, 0.0]
ELSEWHERE = [0.0, 1.0]


class KeywordEmbedder:
    """A question mentioning vacation points at the passage, any other question away from it."""

    name = "keywords"
    dimensions = 2

    async def passages(self, texts: list[str]) -> list[list[float]]:
        return [VACATION for _ in texts]

    async def query(self, text: str) -> list[float]:
        return VACATION if "vacation" in text.lower() else ELSEWHERE

    async def close(self) -> None:
        pass


@pytest.fixture
async def store() -> AsyncIterator[VectorStore]:
    store = LocalVectorStore(AsyncQdrantClient(location=":memory:"), "documents", KeywordEmbedder.dimensions)
    record = ChunkRecord(
        tenant="default",
        source="handbook",
        doc_id="handbook.md",
        title="Handbook",
        version="v1",
        last_updated="2026-01-01",
        language="en",
        checksum="c",
        chunk_index=0,
        text="Every employee gets 25 days of paid vacation per year.",
    )
    live = await store.ensure_live()
    await store.upsert(live, [record], [VACATION])
    # The legal tenant's own copy, under a name relative to its root (as the indexer names files).
    legal = record.model_copy(update={"tenant": "legal", "doc_id": "/srv/legal/handbook.md", "name": "handbook.md"})
    await store.upsert(live, [legal], [VACATION])
    yield store
    await store.close()


def retriever(store: VectorStore, documents_only: DocumentsOnly | None = None) -> Retriever:
    policy = documents_only or DocumentsOnly()
    return Retriever(store, KeywordEmbedder(), top_k=3, threshold=0.82, documents_only=policy)


def retrievals(outcome: str) -> float:
    return REGISTRY.get_sample_value("rag_retrievals_total", {"outcome": outcome}) or 0.0


async def test_a_covered_question_gets_the_passages_and_their_citations(store: VectorStore) -> None:
    before = retrievals("covered")
    grounding = await ground(retriever(store), "How many vacation days?", None)
    assert grounding.fallback is None and grounding.context is not None and "25 days" in grounding.context
    assert [c.source for c in grounding.citations] == ["handbook.md"]
    assert retrievals("covered") == before + 1


@pytest.mark.parametrize("question", ["Hello!", "안녕하세요"])
async def test_by_default_an_uncovered_question_is_left_to_the_model(store: VectorStore, question: str) -> None:
    before = retrievals("uncovered"), retrievals("fallback")
    grounding = await ground(retriever(store), question, None, tenant="acme")
    assert grounding.context is None and grounding.citations == [] and grounding.fallback is None
    assert (retrievals("uncovered"), retrievals("fallback")) == (before[0] + 1, before[1])


@pytest.mark.parametrize(("question", "language"), [("Hello!", "en"), ("안녕하세요", "ko")])
async def test_documents_only_for_everyone_answers_an_uncovered_question_with_the_fallback(
    store: VectorStore, question: str, language: str
) -> None:
    before = retrievals("fallback")
    grounding = await ground(retriever(store, DocumentsOnly(everyone=True)), question, None, tenant="acme")
    assert grounding.fallback == FALLBACKS[language] and grounding.context is None and grounding.citations == []
    assert retrievals("fallback") == before + 1


async def test_documents_only_tenants_get_the_fallback_and_the_others_the_model(store: VectorStore) -> None:
    strict = retriever(store, DocumentsOnly.of(RagSettings(documents_only_tenants="legal, audit")))  # type: ignore[arg-type]
    assert (await ground(strict, "Hello!", None, tenant="audit")).fallback == FALLBACKS["en"]
    assert (await ground(strict, "Hello!", None, tenant="acme")).fallback is None
    assert (await ground(strict, "Hello!", None, tenant=None)).fallback is None  # a message from before tenants
    covered = await ground(strict, "vacation days?", None, tenant="legal")  # what they cover, they answer
    assert covered.fallback is None and covered.citations


async def test_a_tenant_is_answered_from_its_own_documents_only(store: VectorStore) -> None:
    assert (await ground(retriever(store), "How many vacation days?", None, tenant="globex")).citations == []
    strict = retriever(store, DocumentsOnly(everyone=True))  # covered for another tenant: not for this one
    assert (await ground(strict, "How many vacation days?", None, tenant="globex")).fallback == FALLBACKS["en"]


async def test_citations_name_the_document_relative_to_its_root_never_the_server_path(store: VectorStore) -> None:
    cited = await ground(retriever(store), "How many vacation days?", None, tenant="legal")
    assert [c.source for c in cited.citations] == ["handbook.md"]
    assert "/srv/legal" not in (cited.context or "")


def test_the_documents_only_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DOCUMENTS_ONLY_TENANTS", "legal,audit")
    assert DocumentsOnly.of(RagSettings()) == DocumentsOnly(everyone=False, tenants=frozenset({"legal", "audit"}))
    monkeypatch.setenv("RAG_DOCUMENTS_ONLY", "true")
    assert DocumentsOnly.of(RagSettings()).applies_to("anyone")
    monkeypatch.delenv("RAG_DOCUMENTS_ONLY")
    monkeypatch.delenv("RAG_DOCUMENTS_ONLY_TENANTS")
    assert not DocumentsOnly.of(RagSettings()).applies_to("default")


def test_every_outcome_is_exported_before_the_first_question() -> None:
    for outcome in ("covered", "uncovered", "fallback", "skipped"):
        assert REGISTRY.get_sample_value("rag_retrievals_total", {"outcome": outcome}) is not None


class AngleEmbedder(KeywordEmbedder):
    """A question's vector sits at the cosine the test names (`cos=0.83`) from the vacation passage;
    a question naming "vacation" sits on it."""

    async def query(self, text: str) -> list[float]:
        match = re.search(r"cos=([0-9.]+)", text)
        if match is None:
            return await super().query(text)
        cos = float(match.group(1))
        return [cos, math.sqrt(1 - cos * cos)]


def record(chunk_index: int, heading: str, text: str = "Vacation: 25 days a year.") -> ChunkRecord:
    return ChunkRecord(
        source="handbook",
        doc_id="handbook.md",
        title="Handbook",
        version="v1",
        last_updated="2026-01-01",
        language="en",
        checksum="c",
        chunk_index=chunk_index,
        text=text,
        heading_path=["Handbook", heading],
    )


async def test_one_long_section_fills_at_most_two_of_the_five_passages() -> None:
    store = LocalVectorStore(AsyncQdrantClient(location=":memory:"), "documents", 2)
    long_section = [record(i, "Vacation policy") for i in range(4)]
    others = [record(10, "Public holidays"), record(11, "Parental leave")]
    await store.upsert(await store.ensure_live(), [*long_section, *others], [VACATION] * 4 + [[0.95, 0.31]] * 2)
    try:
        grounding = await ground(Retriever(store, KeywordEmbedder(), top_k=5, threshold=0.82), "vacation?", None)
    finally:
        await store.close()
    sections = [c.heading_path[-1] for c in grounding.citations]
    assert sections.count("Vacation policy") == 2
    assert {"Public holidays", "Parental leave"} <= set(sections)


@pytest.mark.parametrize(("cos", "near_miss"), [(0.83, True), (0.5, False)])
async def test_a_fallback_tells_the_client_its_best_score_and_whether_it_was_a_near_miss(
    store: VectorStore, cos: float, near_miss: bool
) -> None:
    strict = Retriever(store, AngleEmbedder(), top_k=3, threshold=0.84, documents_only=DocumentsOnly(everyone=True))
    grounding = await ground(strict, f"cos={cos}", None)
    assert grounding.fallback == FALLBACKS["en"] and grounding.summary is not None
    assert grounding.summary.outcome == "fallback" and grounding.summary.threshold == 0.84
    assert grounding.summary.best_score == pytest.approx(cos, abs=1e-3)
    assert grounding.summary.near_miss is near_miss
    open_ = await ground(Retriever(store, AngleEmbedder(), top_k=3, threshold=0.84), f"cos={cos}", None)
    assert open_.summary is not None and open_.summary.outcome == "uncovered" and open_.summary.near_miss is near_miss


async def test_a_korean_question_is_held_to_the_korean_threshold(store: VectorStore) -> None:
    both = Retriever(store, AngleEmbedder(), top_k=3, threshold=0.84, korean_threshold=0.825)
    assert (await ground(both, "휴가 cos=0.83", None)).citations  # Korean: 0.83 >= 0.825
    assert not (await ground(both, "vacations cos=0.83", None)).citations  # English: 0.83 < 0.84


async def test_a_korean_question_is_searched_again_with_its_terms_in_english(store: VectorStore) -> None:
    question = "휴가는 며칠인가요?"
    plain = Retriever(store, KeywordEmbedder(), top_k=3, threshold=0.82)
    assert not (await ground(plain, question, None)).citations
    glossary = Glossary.parse("휴가\tvacation\n")
    translated = Retriever(store, KeywordEmbedder(), top_k=3, threshold=0.82, glossary=glossary)
    assert [c.source for c in (await ground(translated, question, None)).citations] == ["handbook.md"]


def test_the_built_in_glossary_renders_korean_programming_terms_inside_words() -> None:
    assert Glossary.built_in().translate("리스트를 정렬하려면?") == "list 를 sort 하려면?"
    assert Glossary.built_in().translate("How do I sort a list?") is None  # nothing to add: one search


@pytest.mark.parametrize(
    ("answer", "markers"),
    [("See [2].", [2]), ("Per [1][3] and [1, 2]", [1, 2, 3]), ("[2-3]", [2, 3]), ("No citation", [])],
)
def test_done_cites_only_the_passages_the_answer_cites(answer: str, markers: list[int]) -> None:
    retrieved = [
        Citation(marker=i, title="T", source="s", version="v", location="l", snippet="x", score=0.9)
        for i in range(1, 5)
    ]
    assert [c.marker for c in cited(answer, retrieved)] == markers


def test_the_retrieval_settings_read_a_korean_threshold_and_default_to_the_measured_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = RagSettings()
    assert (settings.threshold_for("en"), settings.threshold_for("ko")) == (0.84, 0.825)
    monkeypatch.setenv("RAG_SCORE_THRESHOLD_KO", "0.8")
    assert RagSettings().threshold_for("ko") == 0.8
    retriever = Retriever.from_settings(RagSettings(), None, KeywordEmbedder())  # type: ignore[arg-type]
    assert retriever.threshold_for("안녕") == 0.8 and retriever.threshold_for("hi") == 0.84
    assert retriever.glossary is not None and retriever.per_section == 2
