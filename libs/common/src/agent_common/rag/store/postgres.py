"""The shared vector store: PostgreSQL with pgvector, which the indexer and every
orchestrator of the distributed mode reach by one URL (`RAG_STORE_URL`).

Tables (created and migrated at start, under an advisory lock so that processes
starting together migrate once): `rag_versions` (every version of every index),
`rag_live` (the version readers use, one row per index) and `rag_chunks` (one row per
chunk: its tenant, source, document, checksum, the record as JSON and its vector,
with an HNSW index on cosine distance). A full reindex fills a new version's rows and
moves `rag_live` in one transaction; readers find the live version inside the same
statement that searches, so each search sees one version whole.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector_async
from psycopg.types.json import Jsonb

from agent_common.errors import ErrorCode, PlatformError
from agent_common.postgres_pool import LazyPool
from agent_common.rag.records import ChunkRecord, IndexedDocument, ScoredChunk
from agent_common.rag.store.base import VectorStore, without_credentials

# pg_advisory_xact_lock's key for migrations: any fixed number no other code of ours uses.
_MIGRATION_LOCK = 7_318_004_211

# Each entry is one schema version, applied once, in order; append, never edit.
MIGRATIONS: list[list[str]] = [
    [
        "CREATE EXTENSION IF NOT EXISTS vector",
        """CREATE TABLE rag_versions (
            collection text NOT NULL,
            version text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (collection, version))""",
        """CREATE TABLE rag_live (
            collection text PRIMARY KEY,
            version text NOT NULL,
            switched_at timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (collection, version) REFERENCES rag_versions)""",
        """CREATE TABLE rag_chunks (
            collection text NOT NULL,
            version text NOT NULL,
            tenant text NOT NULL,
            source text NOT NULL,
            doc_id text NOT NULL,
            chunk_index integer NOT NULL,
            checksum text NOT NULL,
            record jsonb NOT NULL,
            embedding vector({dimensions}) NOT NULL,
            PRIMARY KEY (collection, version, tenant, source, doc_id, chunk_index),
            FOREIGN KEY (collection, version) REFERENCES rag_versions ON DELETE CASCADE)""",
        "CREATE INDEX rag_chunks_embedding ON rag_chunks USING hnsw (embedding vector_cosine_ops)",
    ],
]


async def migrate(conn: psycopg.AsyncConnection[Any], dimensions: int) -> int:
    """Bring the schema to the latest version; the number of migrations applied."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS rag_schema (version integer NOT NULL)")
        row = await (await conn.execute("SELECT coalesce(max(version), 0) FROM rag_schema")).fetchone()
        current = int(row[0]) if row else 0
        for number, statements in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in statements:
                await conn.execute(statement.format(dimensions=int(dimensions)))
            await conn.execute("INSERT INTO rag_schema (version) VALUES (%s)", (number,))
        row = await (
            await conn.execute(
                "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'rag_chunks'::regclass AND attname = 'embedding'"
            )
        ).fetchone()
    stored = int(row[0]) if row else dimensions
    if stored != dimensions:
        raise PlatformError(
            ErrorCode.RAG_STORE_UNAVAILABLE,
            f"The document store holds vectors of {stored} dimensions and the embedder makes {dimensions}: "
            "point RAG_STORE_URL at another database, or use the embedder the store was built with.",
            reason="dimensions_mismatch",
        )
    return len(MIGRATIONS) - current


class PostgresVectorStore(VectorStore):
    def __init__(self, url: str, collection: str, dimensions: int, *, pool_size: int = 10) -> None:
        self.location = without_credentials(url)
        self.collection = collection
        self.dimensions = dimensions

        async def migrated(conn: psycopg.AsyncConnection[Any]) -> None:
            await migrate(conn, dimensions)

        self._pool = LazyPool(
            url, size=pool_size, migrate=migrated, unavailable=self.unavailable, configure=register_vector_async
        )

    async def open(self) -> None:
        await self._pool.ready()

    def _connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """A pooled connection; what fails while it is used is `RAG_STORE_UNAVAILABLE`."""
        return self._pool.connection()

    async def _rows(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cursor = await conn.execute(query, {"collection": self.collection, **params})
            return await cursor.fetchall()

    async def live_version(self) -> str | None:
        rows = await self._rows("SELECT version FROM rag_live WHERE collection = %(collection)s", {})
        return str(rows[0][0]) if rows else None

    async def create_version(self) -> str:
        version = f"v{time.time_ns()}"
        await self._rows(
            "INSERT INTO rag_versions (collection, version) VALUES (%(collection)s, %(version)s) RETURNING version",
            {"version": version},
        )
        return version

    async def switch_to(self, version: str) -> None:
        """One transaction moves `rag_live`: a search runs wholly before it or wholly after."""
        params = {"collection": self.collection, "version": version}
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT version FROM rag_live WHERE collection = %(collection)s FOR UPDATE", params
            )
            row = await cursor.fetchone()
            await conn.execute(
                """INSERT INTO rag_live (collection, version) VALUES (%(collection)s, %(version)s)
                   ON CONFLICT (collection) DO UPDATE SET version = excluded.version, switched_at = now()""",
                params,
            )
        old = str(row[0]) if row else None
        if old is not None and old != version:
            await self.drop(old)

    async def drop(self, version: str) -> None:
        # The chunks go with it (ON DELETE CASCADE); the live version cannot (rag_live refers to it).
        await self._rows(
            "DELETE FROM rag_versions WHERE collection = %(collection)s AND version = %(version)s RETURNING version",
            {"version": version},
        )

    async def copy_other_sources(self, tenant: str, source: str, from_version: str, to_version: str) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(
                """INSERT INTO rag_chunks (collection, version, tenant, source, doc_id, chunk_index, checksum, record,
                                           embedding)
                   SELECT collection, %(to)s, tenant, source, doc_id, chunk_index, checksum, record, embedding
                   FROM rag_chunks
                   WHERE collection = %(collection)s AND version = %(from)s
                     AND NOT (tenant = %(tenant)s AND source = %(source)s)""",
                {
                    "collection": self.collection,
                    "from": from_version,
                    "to": to_version,
                    "tenant": tenant,
                    "source": source,
                },
            )
            return max(cursor.rowcount, 0)

    async def upsert(self, version: str, records: Sequence[ChunkRecord], vectors: Sequence[list[float]]) -> None:
        """Each document's old chunks go and its new ones come in one transaction: a reader sees
        the document before or after, never without it."""
        rows = [
            {
                "collection": self.collection,
                "version": version,
                "tenant": r.tenant,
                "source": r.source,
                "doc_id": r.doc_id,
                "chunk_index": r.chunk_index,
                "checksum": r.checksum,
                "record": Jsonb(r.model_dump()),
                "embedding": Vector(vector),
            }
            for r, vector in zip(records, vectors, strict=True)
        ]
        documents = dict.fromkeys((r.tenant, r.source, r.doc_id) for r in records)
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(
                """DELETE FROM rag_chunks WHERE collection = %(collection)s AND version = %(version)s
                   AND tenant = %(tenant)s AND source = %(source)s AND doc_id = %(doc_id)s""",
                [
                    {"collection": self.collection, "version": version, "tenant": t, "source": s, "doc_id": d}
                    for t, s, d in documents
                ],
            )
            await cursor.executemany(
                """INSERT INTO rag_chunks (collection, version, tenant, source, doc_id, chunk_index, checksum, record,
                                           embedding)
                   VALUES (%(collection)s, %(version)s, %(tenant)s, %(source)s, %(doc_id)s, %(chunk_index)s,
                           %(checksum)s, %(record)s, %(embedding)s)""",
                rows,
            )

    async def delete_document(self, version: str, tenant: str, source: str, doc_id: str) -> None:
        await self._rows(
            """DELETE FROM rag_chunks WHERE collection = %(collection)s AND version = %(version)s
               AND tenant = %(tenant)s AND source = %(source)s AND doc_id = %(doc_id)s RETURNING 1""",
            {"version": version, "tenant": tenant, "source": source, "doc_id": doc_id},
        )

    async def document_checksums(self, version: str, tenant: str, source: str) -> dict[str, str]:
        rows = await self._rows(
            """SELECT DISTINCT doc_id, checksum FROM rag_chunks WHERE collection = %(collection)s
               AND version = %(version)s AND tenant = %(tenant)s AND source = %(source)s""",
            {"version": version, "tenant": tenant, "source": source},
        )
        return {str(doc_id): str(checksum) for doc_id, checksum in rows}

    async def indexed_documents(self, version: str, tenant: str, source: str | None = None) -> list[tuple[str, str]]:
        rows = await self._rows(
            """SELECT DISTINCT source, doc_id FROM rag_chunks WHERE collection = %(collection)s
               AND version = %(version)s AND tenant = %(tenant)s
               AND (%(source)s::text IS NULL OR source = %(source)s) ORDER BY source, doc_id""",
            {"version": version, "tenant": tenant, "source": source},
        )
        return [(str(s), str(d)) for s, d in rows]

    async def documents(self, tenant: str | None = None) -> list[IndexedDocument]:
        rows = await self._rows(
            """SELECT source, doc_id, min(record->>'title'), min(record->>'version'),
                       min(record->>'last_updated'), count(*)
                FROM rag_chunks WHERE collection = %(collection)s
                AND version = (SELECT version FROM rag_live WHERE collection = %(collection)s)
                AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s)
                GROUP BY source, doc_id ORDER BY source, doc_id""",
            {"tenant": tenant},
        )
        return [
            IndexedDocument(source=s, doc_id=d, title=t or "", version=v or "", updated_at=u or "", chunks=n)
            for s, d, t, v, u, n in rows
        ]

    async def count(self, version: str | None = None) -> int:
        rows = await self._rows(
            """SELECT count(*) FROM rag_chunks WHERE collection = %(collection)s
                AND version = coalesce(
                    %(version)s::text, (SELECT version FROM rag_live WHERE collection = %(collection)s))""",
            {"version": version},
        )
        return int(rows[0][0])

    async def search(self, vector: list[float], limit: int, *, tenant: str) -> list[ScoredChunk]:
        params = {"collection": self.collection, "tenant": tenant, "vector": Vector(vector), "limit": limit}
        async with self._connection() as conn, conn.transaction():
            # A filtered HNSW scan stops at `hnsw.ef_search` candidates; past the filter there could be
            # fewer than `limit` left. Iterative scans (pgvector 0.8) go on until `limit` are found.
            await conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            cursor = await conn.execute(
                """SELECT record, 1 - (embedding <=> %(vector)s) FROM rag_chunks
                    WHERE collection = %(collection)s AND tenant = %(tenant)s
                    AND version = (SELECT version FROM rag_live WHERE collection = %(collection)s)
                    ORDER BY embedding <=> %(vector)s LIMIT %(limit)s""",
                params,
            )
            rows = await cursor.fetchall()
        return [ScoredChunk(record=ChunkRecord.model_validate(record), score=float(score)) for record, score in rows]

    async def ping(self) -> bool:
        try:
            async with self._connection() as conn:
                await conn.execute("SELECT 1")
        except PlatformError:
            return False
        return True

    async def close(self) -> None:
        await self._pool.close()
