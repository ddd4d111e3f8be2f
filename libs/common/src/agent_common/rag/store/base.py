"""The vector store's contract: what the indexer writes, the orchestrator searches and
the evaluation ranks, whichever store holds the documents (`local.py`, `postgres.py`).

An index has **versions**. Readers search the live one; an incremental reindex writes
into it, one document at a time; a full reindex fills a new version beside it and
switches readers over at once (`switch_to`), so a reader sees either the old complete
index or the new one, never an empty or a mixed one. Every chunk belongs to a tenant,
and `search` returns the asking tenant's chunks only: the filter is part of the store's
query, not a step after it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

from agent_common.errors import ErrorCode, PlatformError
from agent_common.rag.records import ChunkRecord, IndexedDocument, ScoredChunk


class VectorStore(ABC):
    """One index (`RAG_COLLECTION`) in one store. Entered as an async context manager (or
    used at once, opened on first use), closed on leaving."""

    # Where the store is, for errors and logs: a URL without credentials, or the local folder.
    location: str = "local"

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date (a store also opens on first use)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool:
        """Whether the store answers (readiness)."""

    # Versions

    @abstractmethod
    async def live_version(self) -> str | None:
        """The version readers use now, or None before the first index exists."""

    @abstractmethod
    async def create_version(self) -> str:
        """A new, empty version beside the live one, not visible to readers."""

    async def ensure_live(self) -> str:
        """The live version, created empty (and made live) before the first index."""
        live = await self.live_version()
        if live is not None:
            return live
        version = await self.create_version()
        await self.switch_to(version)
        return version

    @abstractmethod
    async def switch_to(self, version: str) -> None:
        """Make `version` the live one in one step, then drop the version it replaced."""

    @abstractmethod
    async def drop(self, version: str) -> None:
        """Delete a version and its chunks (an unfinished full reindex)."""

    @abstractmethod
    async def copy_other_sources(self, tenant: str, source: str, from_version: str, to_version: str) -> int:
        """Copy every chunk of `from_version` that is not `tenant`'s `source`, vectors included,
        into `to_version`; how many were copied."""

    # Documents

    @abstractmethod
    async def upsert(self, version: str, records: Sequence[ChunkRecord], vectors: Sequence[list[float]]) -> None:
        """Write the chunks of whole documents into `version`: each document named in `records`
        is replaced by the chunks given for it (its old chunks go)."""

    @abstractmethod
    async def delete_document(self, version: str, tenant: str, source: str, doc_id: str) -> None: ...

    @abstractmethod
    async def document_checksums(self, version: str, tenant: str, source: str) -> dict[str, str]:
        """doc_id -> checksum of every document of `tenant`'s `source` in `version`."""

    @abstractmethod
    async def indexed_documents(self, version: str, tenant: str, source: str | None = None) -> list[tuple[str, str]]:
        """(source, doc_id) of every document of `tenant` in `version` (of `source` only, when named), sorted."""

    @abstractmethod
    async def documents(self, tenant: str | None = None) -> list[IndexedDocument]:
        """Every document of the live index (of `tenant` only, when named) with its chunk count,
        by source then id; none before the first index."""

    @abstractmethod
    async def count(self, version: str | None = None) -> int:
        """Chunks in `version` (the live one by default); 0 before the first index, or for a
        version dropped or never made."""

    # Reading

    @abstractmethod
    async def search(self, vector: list[float], limit: int, *, tenant: str) -> list[ScoredChunk]:
        """The `limit` chunks of `tenant` in the live index closest to `vector` (cosine
        similarity, best first); none before the first index."""

    def unavailable(self, exc: Exception) -> PlatformError:
        """`exc` from the store's client, classified: the store named, its credentials not."""
        return PlatformError(
            ErrorCode.RAG_STORE_UNAVAILABLE,
            f"The document store at {self.location} failed: {type(exc).__name__}: {exc}"[:500],
            reason=type(exc).__name__,
            store=self.location,
        )


class StoreInUse(Exception):
    """The local store's folder is locked by another process (another `agent run`, an indexer)."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"the document store folder {path} is in use by another process (is the platform already "
            "running?); stop it, or set RAG_STORE_PATH to another folder (or RAG_STORE_URL to a PostgreSQL store)."
        )


def without_credentials(url: str) -> str:
    """The URL as errors and logs may show it: no user name, password or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
