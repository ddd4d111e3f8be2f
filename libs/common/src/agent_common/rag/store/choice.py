"""The one choice of vector store: PostgreSQL when `RAG_STORE_URL` names one, else the
embedded default's local folder. Each implementation is imported only when chosen: the
CLI's quick commands import this module and neither client."""

from __future__ import annotations

from agent_common.rag.required import store_url
from agent_common.rag.settings import RagSettings
from agent_common.rag.store.base import VectorStore


def open_store(settings: RagSettings, dimensions: int) -> VectorStore:
    """The store the settings name, for vectors of `dimensions`. PostgreSQL connects (and
    migrates its schema) when entered or first used; the local folder is locked at once
    (`StoreInUse` when another process holds it). A URL of another kind is a `ConfigurationError`."""
    url = store_url(settings)
    if url is not None:
        from agent_common.rag.store.postgres import PostgresVectorStore

        return PostgresVectorStore(url, settings.collection, dimensions, pool_size=settings.store_pool_size)
    from agent_common.rag.store.local import LocalVectorStore

    return LocalVectorStore.in_folder(settings.store_path, settings.collection, dimensions)
