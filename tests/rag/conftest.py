"""The real offline embedder (loaded once) and a fresh embedded vector store per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_common.rag.embeddings import OfflineEmbedder
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import VectorStore, open_store


@pytest.fixture(scope="session")
def embedder() -> OfflineEmbedder:
    return OfflineEmbedder()


@pytest.fixture
async def store(tmp_path: Path, embedder: OfflineEmbedder) -> AsyncIterator[VectorStore]:
    opened = open_store(RagSettings(store_path=str(tmp_path / "store")), embedder.dimensions)
    try:
        yield opened
    finally:
        await opened.close()
