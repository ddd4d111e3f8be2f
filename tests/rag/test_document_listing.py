"""`VectorStore.documents`: what the chat page's documents panel lists, from the live index."""

from __future__ import annotations

from pathlib import Path

from agent_common.messages import InlineDocument, ReindexRequested, ReindexSource
from agent_common.rag.embeddings import OfflineEmbedder
from agent_common.rag.store import VectorStore
from agent_rag_indexer.chunking import ChunkingConfig
from agent_rag_indexer.indexer import Indexer
from tests.rag.test_indexer import Statuses


async def test_each_document_is_listed_once_with_its_version_date_and_chunk_count(
    tmp_path: Path, store: VectorStore, embedder: OfflineEmbedder
) -> None:
    assert await store.documents() == []  # before the first index
    long_text = "\n\n".join(f"# Part {i}\n\n" + f"Paragraph {i} about parking rules. " * 20 for i in range(3))
    source = ReindexSource(
        name="handbook",
        documents=[
            InlineDocument(doc_id="parking", title="Parking", text=long_text, format="markdown", version="v2",
                           last_updated="2026-11-30"),
            InlineDocument(doc_id="lunch", title="Lunch", text="Lunch is at noon.", version="v1"),
        ],
    )  # fmt: skip
    command = ReindexRequested(request_id="rdx_list", session_id="s", user_id="u", source=source)
    indexer = Indexer(store=store, embedder=embedder, chunking=ChunkingConfig("heading", 400, 50), allowed_roots=[])
    final = await indexer.run(command, Statuses())
    listed = await store.documents()
    assert [(d.source, d.doc_id, d.title, d.version) for d in listed] == [
        ("handbook", "lunch", "Lunch", "v1"),
        ("handbook", "parking", "Parking", "v2"),
    ]
    parking = listed[1]
    assert parking.updated_at == "2026-11-30"
    assert parking.chunks > 1 and sum(d.chunks for d in listed) == final.counts.chunks_written == await store.count()
