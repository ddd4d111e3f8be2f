"""What the documents do to a run's prompt: passages for a question they cover, nothing
(the model answers alone) for one they do not, and the no-match fallback only for a
documents-only caller; counted in `rag_retrievals_total` by outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from qdrant_client import AsyncQdrantClient

from agent_common.rag.context import FALLBACKS
from agent_common.rag.records import ChunkRecord
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import VectorStore
from agent_common.rag.store.local import LocalVectorStore
from agent_orchestrator.retrieval import DocumentsOnly, Retriever, ground

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
