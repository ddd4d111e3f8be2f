"""The vector store: Qdrant, on local disk (embedded mode) or a server (server mode), one client.

Readers always use the alias `RAG_COLLECTION`. An incremental reindex writes into the
collection the alias points at; a full reindex fills a new collection and moves the
alias in one call, so readers switch from the old complete index to the new one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qdrant_client import AsyncQdrantClient, models

from agent_common.errors import ErrorCode, PlatformError
from agent_common.rag.records import ChunkRecord, IndexedDocument, ScoredChunk
from agent_common.rag.settings import RagSettings

_POINT_NAMESPACE = uuid.UUID("5b4c0a52-6d1f-4a4e-9a3c-3f1f0f6a9e11")


class StoreInUse(Exception):
    """The local store's folder is locked by another process (another `agent run`, an indexer)."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"the document store folder {path} is in use by another process (is the platform already "
            "running?); stop it, or set RAG_STORE_PATH to another folder (or RAG_STORE_URL to a Qdrant server)."
        )


def open_client(settings: RagSettings) -> AsyncQdrantClient:
    """Server mode when `RAG_STORE_URL` is set, else files under `RAG_STORE_PATH`."""
    if settings.store_url:
        key = settings.store_api_key.get_secret_value() if settings.store_api_key else None
        return AsyncQdrantClient(url=settings.store_url, api_key=key, timeout=30)
    try:
        return AsyncQdrantClient(path=settings.store_path)
    except RuntimeError as exc:  # qdrant's lock on the folder: one process per local store
        raise StoreInUse(settings.store_path) from exc


def open_store(settings: RagSettings, dimensions: int) -> VectorStore:
    store = VectorStore(open_client(settings), settings.collection, dimensions, server=bool(settings.store_url))
    store.location = without_credentials(settings.store_url) if settings.store_url else settings.store_path
    return store


def without_credentials(url: str) -> str:
    """The URL as errors and logs may show it: no user name, password or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def point_id(source: str, doc_id: str, checksum: str, chunk_index: int) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{source}\x1f{doc_id}\x1f{checksum}\x1f{chunk_index}"))


def _document_filter(source: str, doc_id: str | None = None) -> models.Filter:
    must: list[models.Condition] = [models.FieldCondition(key="source", match=models.MatchValue(value=source))]
    if doc_id is not None:
        must.append(models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id)))
    return models.Filter(must=must)


class VectorStore:
    def __init__(self, client: AsyncQdrantClient, alias: str, dimensions: int, *, server: bool = False) -> None:
        self.client = client
        # Where the store is, for errors: a URL without credentials, or the local folder.
        self.location = "local"
        # Payload indexes exist only in server mode (local mode filters by scanning).
        self.server = server
        self.alias = alias
        self.dimensions = dimensions

    async def _guard(self, coro: Any) -> Any:
        try:
            return await coro
        except PlatformError:
            raise
        except Exception as exc:
            raise PlatformError(
                ErrorCode.RAG_STORE_UNAVAILABLE,
                f"The document store at {self.location} failed: {type(exc).__name__}: {exc}"[:500],
                reason=type(exc).__name__,
                store=self.location,
            ) from exc

    async def live_collection(self) -> str | None:
        """The collection readers use now, or None before the first index exists."""
        aliases = await self._guard(self.client.get_aliases())
        for alias in aliases.aliases:
            if alias.alias_name == self.alias:
                name: str = alias.collection_name
                return name
        return None

    async def create_version(self) -> str:
        """A new, empty collection beside the live one (not yet visible to readers)."""
        name = f"{self.alias}__v{time.time_ns()}"
        await self._guard(
            self.client.create_collection(
                name, vectors_config=models.VectorParams(size=self.dimensions, distance=models.Distance.COSINE)
            )
        )
        for field in ("source", "doc_id") if self.server else ():
            await self._guard(
                self.client.create_payload_index(name, field, field_schema=models.PayloadSchemaType.KEYWORD)
            )
        return name

    async def ensure_live(self) -> str:
        live = await self.live_collection()
        if live is not None:
            return live
        name = await self.create_version()
        await self.switch_to(name)
        return name

    async def switch_to(self, collection: str) -> None:
        """Point the alias at `collection` in one operation, then drop the collection it left."""
        old = await self.live_collection()
        operations: list[models.AliasOperations] = []
        if old is not None:
            operations.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.alias)))
        operations.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=self.alias)
            )
        )
        await self._guard(self.client.update_collection_aliases(change_aliases_operations=operations))
        if old is not None and old != collection:
            await self._guard(self.client.delete_collection(old))

    async def drop(self, collection: str) -> None:
        await self._guard(self.client.delete_collection(collection))

    async def copy_other_sources(self, source: str, from_collection: str, to_collection: str) -> int:
        """Copy every point not of `source`, vectors included, into `to_collection`; how many."""
        others = models.Filter(must_not=[models.FieldCondition(key="source", match=models.MatchValue(value=source))])
        copied = 0
        offset: Any = None
        while True:
            points, offset = await self._guard(
                self.client.scroll(
                    from_collection,
                    scroll_filter=others,
                    limit=256,
                    offset=offset,
                    with_payload=True,
                    with_vectors=True,
                )
            )
            batch = [models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in points]
            if batch:
                await self._guard(self.client.upsert(to_collection, points=batch, wait=True))
                copied += len(batch)
            if offset is None:
                return copied

    async def document_checksums(self, collection: str, source: str) -> dict[str, str]:
        """doc_id -> checksum of every document of `source` in `collection`."""
        found: dict[str, str] = {}
        offset: Any = None
        while True:
            points, offset = await self._guard(
                self.client.scroll(
                    collection,
                    scroll_filter=_document_filter(source),
                    limit=512,
                    offset=offset,
                    with_payload=["doc_id", "checksum"],
                    with_vectors=False,
                )
            )
            for point in points:
                payload = point.payload or {}
                found[str(payload["doc_id"])] = str(payload["checksum"])
            if offset is None:
                return found

    async def indexed_documents(self, collection: str, source: str | None = None) -> list[tuple[str, str]]:
        """(source, doc_id) of every document in `collection` (of `source` only, when named), sorted."""
        found: set[tuple[str, str]] = set()
        offset: Any = None
        while True:
            points, offset = await self._guard(
                self.client.scroll(
                    collection,
                    scroll_filter=_document_filter(source) if source is not None else None,
                    limit=512,
                    offset=offset,
                    with_payload=["source", "doc_id"],
                    with_vectors=False,
                )
            )
            for point in points:
                payload = point.payload or {}
                found.add((str(payload["source"]), str(payload["doc_id"])))
            if offset is None:
                return sorted(found)

    async def documents(self) -> list[IndexedDocument]:
        """Every document of the live index with its chunk count, by source then id (none before the first index)."""
        name = await self.live_collection()
        found: dict[tuple[str, str], IndexedDocument] = {}
        offset: Any = None
        while name is not None:
            points, offset = await self._guard(
                self.client.scroll(
                    name,
                    limit=512,
                    offset=offset,
                    with_payload=["source", "doc_id", "title", "version", "last_updated"],
                    with_vectors=False,
                )
            )
            for point in points:
                p = point.payload or {}
                key = (str(p["source"]), str(p["doc_id"]))
                seen = found.get(key)
                found[key] = IndexedDocument(
                    source=key[0],
                    doc_id=key[1],
                    title=str(p.get("title", "")),
                    version=str(p.get("version", "")),
                    updated_at=str(p.get("last_updated", "")),
                    chunks=(seen.chunks if seen else 0) + 1,
                )
            if offset is None:
                break
        return [found[key] for key in sorted(found)]

    async def delete_document(self, collection: str, source: str, doc_id: str) -> None:
        await self._guard(
            self.client.delete(
                collection, points_selector=models.FilterSelector(filter=_document_filter(source, doc_id)), wait=True
            )
        )

    async def upsert(self, collection: str, records: Sequence[ChunkRecord], vectors: Sequence[list[float]]) -> None:
        points = [
            models.PointStruct(
                id=point_id(r.source, r.doc_id, r.checksum, r.chunk_index), vector=vector, payload=r.model_dump()
            )
            for r, vector in zip(records, vectors, strict=True)
        ]
        if points:
            await self._guard(self.client.upsert(collection, points=points, wait=True))

    async def count(self, collection: str | None = None) -> int:
        name = collection or await self.live_collection()
        if name is None:
            return 0
        result = await self._guard(self.client.count(name, exact=True))
        total: int = result.count
        return total

    async def search(self, vector: list[float], limit: int) -> list[ScoredChunk]:
        """The `limit` passages closest to `vector` in the live index (none before the first index)."""
        name = await self.live_collection()
        if name is None:
            return []
        response = await self._guard(self.client.query_points(name, query=vector, limit=limit, with_payload=True))
        return [
            ScoredChunk(record=ChunkRecord.model_validate(point.payload or {}), score=float(point.score))
            for point in response.points
        ]

    async def ping(self) -> bool:
        try:
            await self.client.get_collections()
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self.client.close()
