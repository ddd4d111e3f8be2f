"""The embedded default's vector store: Qdrant's local mode, files in one folder, no server.

Versions are Qdrant collections (`<RAG_COLLECTION>__v<n>`); readers find the live one
through the alias `RAG_COLLECTION`, which a full reindex moves in one call. Local mode
filters by scanning (it has no payload indexes): fine for a person's documents, which
is what the embedded default holds; shared, larger indexes belong in PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from agent_common.errors import PlatformError
from agent_common.rag.records import ChunkRecord, IndexedDocument, ScoredChunk
from agent_common.rag.store.base import StoreInUse, VectorStore

_POINT_NAMESPACE = uuid.UUID("5b4c0a52-6d1f-4a4e-9a3c-3f1f0f6a9e11")


def point_id(record: ChunkRecord) -> str:
    key = "\x1f".join((record.tenant, record.source, record.doc_id, record.checksum, str(record.chunk_index)))
    return str(uuid.uuid5(_POINT_NAMESPACE, key))


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _document_filter(tenant: str, source: str | None = None, doc_id: str | None = None) -> models.Filter:
    must: list[models.Condition] = [_match("tenant", tenant)]
    if source is not None:
        must.append(_match("source", source))
    if doc_id is not None:
        must.append(_match("doc_id", doc_id))
    return models.Filter(must=must)


class LocalVectorStore(VectorStore):
    def __init__(self, client: AsyncQdrantClient, alias: str, dimensions: int, *, location: str = "local") -> None:
        self.client = client
        self.location = location
        self.alias = alias
        self.dimensions = dimensions

    @classmethod
    def in_folder(cls, path: str, alias: str, dimensions: int) -> LocalVectorStore:
        try:
            client = AsyncQdrantClient(path=path)
        except RuntimeError as exc:  # qdrant's lock on the folder: one process per local store
            raise StoreInUse(path) from exc
        return cls(client, alias, dimensions, location=path)

    async def open(self) -> None:
        """Nothing to do: the folder was opened (and locked) when the store was made."""

    async def _guard(self, coro: Any) -> Any:
        try:
            return await coro
        except PlatformError:
            raise
        except Exception as exc:
            raise self.unavailable(exc) from exc

    async def _scroll(
        self, version: str, scroll_filter: models.Filter | None, fields: list[str]
    ) -> list[dict[str, Any]]:
        """The payload `fields` of every point of `version` that `scroll_filter` lets through."""
        found: list[dict[str, Any]] = []
        offset: Any = None
        while True:
            points, offset = await self._guard(
                self.client.scroll(
                    version,
                    scroll_filter=scroll_filter,
                    limit=512,
                    offset=offset,
                    with_payload=fields,
                    with_vectors=False,
                )
            )
            found.extend(point.payload or {} for point in points)
            if offset is None:
                return found

    async def live_version(self) -> str | None:
        aliases = await self._guard(self.client.get_aliases())
        for alias in aliases.aliases:
            if alias.alias_name == self.alias:
                name: str = alias.collection_name
                return name
        return None

    async def create_version(self) -> str:
        name = f"{self.alias}__v{time.time_ns()}"
        await self._guard(
            self.client.create_collection(
                name, vectors_config=models.VectorParams(size=self.dimensions, distance=models.Distance.COSINE)
            )
        )
        return name

    async def switch_to(self, version: str) -> None:
        """Point the alias at `version` in one call (delete and create, applied together)."""
        old = await self.live_version()
        operations: list[models.AliasOperations] = []
        if old is not None:
            operations.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.alias)))
        operations.append(
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=version, alias_name=self.alias))
        )
        await self._guard(self.client.update_collection_aliases(change_aliases_operations=operations))
        if old is not None and old != version:
            await self._guard(self.client.delete_collection(old))

    async def drop(self, version: str) -> None:
        await self._guard(self.client.delete_collection(version))

    async def copy_other_sources(self, tenant: str, source: str, from_version: str, to_version: str) -> int:
        others = models.Filter(must_not=[_document_filter(tenant, source)])
        copied = 0
        offset: Any = None
        while True:
            points, offset = await self._guard(
                self.client.scroll(
                    from_version, scroll_filter=others, limit=256, offset=offset, with_payload=True, with_vectors=True
                )
            )
            batch = [models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in points]
            if batch:
                await self._guard(self.client.upsert(to_version, points=batch, wait=True))
                copied += len(batch)
            if offset is None:
                return copied

    async def upsert(self, version: str, records: Sequence[ChunkRecord], vectors: Sequence[list[float]]) -> None:
        for tenant, source, doc_id in dict.fromkeys((r.tenant, r.source, r.doc_id) for r in records):
            await self.delete_document(version, tenant, source, doc_id)
        points = [
            models.PointStruct(id=point_id(r), vector=vector, payload=r.model_dump())
            for r, vector in zip(records, vectors, strict=True)
        ]
        if points:
            await self._guard(self.client.upsert(version, points=points, wait=True))

    async def delete_document(self, version: str, tenant: str, source: str, doc_id: str) -> None:
        selector = models.FilterSelector(filter=_document_filter(tenant, source, doc_id))
        await self._guard(self.client.delete(version, points_selector=selector, wait=True))

    async def document_checksums(self, version: str, tenant: str, source: str) -> dict[str, str]:
        payloads = await self._scroll(version, _document_filter(tenant, source), ["doc_id", "checksum"])
        return {str(p["doc_id"]): str(p["checksum"]) for p in payloads}

    async def indexed_documents(self, version: str, tenant: str, source: str | None = None) -> list[tuple[str, str]]:
        payloads = await self._scroll(version, _document_filter(tenant, source), ["source", "doc_id"])
        return sorted({(str(p["source"]), str(p["doc_id"])) for p in payloads})

    async def documents(self, tenant: str | None = None) -> list[IndexedDocument]:
        live = await self.live_version()
        if live is None:
            return []
        fields = ["source", "doc_id", "title", "version", "last_updated"]
        payloads = await self._scroll(live, _document_filter(tenant) if tenant is not None else None, fields)
        found: dict[tuple[str, str], IndexedDocument] = {}
        for p in payloads:
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
        return [found[key] for key in sorted(found)]

    async def count(self, version: str | None = None) -> int:
        name = version or await self.live_version()
        if name is None or not await self._guard(self.client.collection_exists(name)):
            return 0
        result = await self._guard(self.client.count(name, exact=True))
        total: int = result.count
        return total

    async def search(self, vector: list[float], limit: int, *, tenant: str) -> list[ScoredChunk]:
        name = await self.live_version()
        if name is None:
            return []
        response = await self._guard(
            self.client.query_points(
                name, query=vector, query_filter=_document_filter(tenant), limit=limit, with_payload=True
            )
        )
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
