"""The vector store's contract (`document_store.py`) over each implementation: the embedded
default's local folder and PostgreSQL with pgvector (a real server, `postgres_url`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_common.errors import ErrorCode, PlatformError
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import open_store
from agent_common.rag.store.local import LocalVectorStore
from agent_common.rag.store.postgres import PostgresVectorStore
from tests.contracts.document_store import DIMENSIONS, NORTH, DocumentStoreContract
from tests.support.web import free_tcp_port


class TestLocalVectorStore(DocumentStoreContract):
    @pytest.fixture(autouse=True)
    async def _store(self, tmp_path: Path) -> AsyncIterator[None]:
        store = open_store(RagSettings(store_path=str(tmp_path / "store")), DIMENSIONS)
        assert isinstance(store, LocalVectorStore)
        async with store:
            self.store = store
            yield


def _collection() -> str:
    """An index of the test's own in the shared database: tests never see each other's rows."""
    return f"t{uuid.uuid4().hex[:16]}"


class TestPostgresVectorStore(DocumentStoreContract):
    @pytest.fixture(autouse=True)
    async def _store(self, postgres_url: str) -> AsyncIterator[None]:
        settings = RagSettings(store_url=postgres_url, collection=_collection())  # type: ignore[arg-type]
        store = open_store(settings, DIMENSIONS)
        assert isinstance(store, PostgresVectorStore)
        async with store:
            self.store = store
            yield

    async def test_the_schema_is_migrated_once_by_processes_starting_together(self, postgres_url: str) -> None:
        stores = [PostgresVectorStore(postgres_url, _collection(), DIMENSIONS) for _ in range(4)]
        try:
            await asyncio.gather(*(s.open() for s in stores))
            assert all([await s.ping() for s in stores])
        finally:
            for s in stores:
                await s.close()

    async def test_an_embedder_of_other_dimensions_is_refused_naming_both(self, postgres_url: str) -> None:
        store = PostgresVectorStore(postgres_url, _collection(), DIMENSIONS + 1)
        with pytest.raises(PlatformError) as refused:
            await store.open()
        assert refused.value.code is ErrorCode.RAG_STORE_UNAVAILABLE
        assert f"{DIMENSIONS} dimensions" in str(refused.value) and f"makes {DIMENSIONS + 1}" in str(refused.value)

    async def test_an_unreachable_store_is_classified_and_named_without_its_password(self) -> None:
        url = f"postgresql://indexer:s3cret@127.0.0.1:{free_tcp_port()}/documents"
        store = PostgresVectorStore(url, "documents", DIMENSIONS)
        assert not await store.ping()
        with pytest.raises(PlatformError) as failed:
            await store.search(NORTH, 5, tenant="acme")
        assert failed.value.code is ErrorCode.RAG_STORE_UNAVAILABLE
        assert f"127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/documents" in str(failed.value)
        assert "s3cret" not in str(failed.value.info.model_dump()) and "indexer" not in str(failed.value)
        await store.close()
