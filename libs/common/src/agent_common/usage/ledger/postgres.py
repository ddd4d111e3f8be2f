"""The distributed mode's ledger: PostgreSQL (`USAGE_LEDGER_URL`), which every orchestrator's
ledger writer fills and the monthly report reads. It may be the document store's server.

One table, `usage_entries`: the request id as primary key (`ON CONFLICT DO NOTHING` is
the idempotent write), the end time and tenant as columns a month's query and an
operator's SQL can use, the whole entry as JSON, and when its spend was counted. The table is created at start under
an advisory lock, so processes starting together create it once.
"""

from __future__ import annotations

import datetime
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from agent_common.postgres_pool import LazyPool
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


async def _create_table(conn: psycopg.AsyncConnection[Any]) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        for statement in SCHEMA:
            await conn.execute(statement)


class PostgresLedger(UsageLedger):
    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self.location = without_credentials(url)
        self._pool = LazyPool(
            url,
            size=pool_size,
            migrate=_create_table,
            unavailable=lambda exc: LedgerUnavailable(self.location, type(exc).__name__),
        )

    async def open(self) -> None:
        await self._pool.ready()

    def _connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        return self._pool.connection()

    async def close(self) -> None:
        await self._pool.close()

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
