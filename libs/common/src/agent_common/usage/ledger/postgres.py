"""The distributed mode's ledger: PostgreSQL (`USAGE_LEDGER_URL`), which every orchestrator's
ledger writer fills and the monthly report reads. It may be the document store's server.

One table, `usage_entries`: the request id as primary key (`ON CONFLICT DO NOTHING` is
the idempotent write), the end time and tenant as columns a month's query and an
operator's SQL can use, the whole entry as JSON, and when its spend was counted. The table is created at start under
an advisory lock, so processes starting together create it once.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from agent_common.rag.store.base import without_credentials
from agent_common.usage.entry import UsageEntry
from agent_common.usage.ledger.base import LedgerUnavailable, UsageLedger

# pg_advisory_xact_lock's key for creating the table: a fixed number no other code of ours uses.
_SCHEMA_LOCK = 7_318_004_212

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS usage_entries (
        request_id text PRIMARY KEY,
        at timestamptz NOT NULL,
        tenant text NOT NULL,
        entry jsonb NOT NULL,
        stored_at timestamptz NOT NULL DEFAULT now(),
        counted_at timestamptz)""",
    "CREATE INDEX IF NOT EXISTS usage_entries_at ON usage_entries (at)",
)


class PostgresLedger(UsageLedger):
    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self._url = url
        self.location = without_credentials(url)
        self._pool_size = pool_size
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        self._opening = asyncio.Lock()

    async def open(self) -> None:
        await self._ready()

    async def _ready(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        async with self._opening:
            if self._pool is not None:
                return self._pool
            try:
                async with (
                    await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=10) as conn,
                    conn.transaction(),
                ):
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    for statement in SCHEMA:
                        await conn.execute(statement)
                pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self._pool_size,
                    kwargs={"autocommit": True},
                    timeout=10,
                    open=False,
                )
                await pool.open(wait=True, timeout=10)
            except (psycopg.Error, OSError) as exc:
                raise LedgerUnavailable(self.location, type(exc).__name__) from exc
            self._pool = pool
            return pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        pool = await self._ready()
        try:
            async with pool.connection() as conn:
                yield conn
        except (psycopg.Error, OSError) as exc:
            raise LedgerUnavailable(self.location, type(exc).__name__) from exc

    async def close(self) -> None:
        async with self._opening:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None

    async def record(self, entry: UsageEntry) -> bool:
        async with self._connection() as conn:
            cursor = await conn.execute(
                """INSERT INTO usage_entries (request_id, at, tenant, entry) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (request_id) DO NOTHING""",
                (entry.request_id, entry.at, entry.tenant, Jsonb(entry.model_dump(mode="json"))),
            )
            return cursor.rowcount == 1

    async def counted(self, request_id: str) -> bool:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT counted_at IS NOT NULL FROM usage_entries WHERE request_id = %s", (request_id,)
            )
            row = await cursor.fetchone()
        return bool(row and row[0])

    async def mark_counted(self, request_id: str) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "UPDATE usage_entries SET counted_at = now() WHERE request_id = %s AND counted_at IS NULL",
                (request_id,),
            )

    async def entries(self, start: datetime.datetime, end: datetime.datetime) -> list[UsageEntry]:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT entry FROM usage_entries WHERE at >= %s AND at < %s ORDER BY at, request_id", (start, end)
            )
            rows = await cursor.fetchall()
        return [UsageEntry.model_validate(row[0]) for row in rows]

    async def ping(self) -> bool:
        try:
            async with self._connection() as conn:
                await conn.execute("SELECT 1")
        except LedgerUnavailable:
            return False
        return True
