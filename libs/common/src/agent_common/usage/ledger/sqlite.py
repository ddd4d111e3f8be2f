"""The embedded default's ledger: one SQLite file (`USAGE_LEDGER_PATH`), written by the one
process that runs everything and read by `agent cost-report`.

SQLite rather than a JSON-lines file: `INSERT OR IGNORE` on the request id is the
idempotent write, a month is an indexed range query, and a reader (the report) and the
writer (the running platform) can share the file safely (WAL). Calls go to one worker
thread of the ledger's own, in order, so the event loop never waits on the disk; closing
goes there too, after whatever is still running. A caller cancelled mid-call does not stop
its statement: were the connection closed from another thread meanwhile, SQLite would
crash the process (it did, at a platform's shutdown).
"""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from agent_common.usage.entry import UsageEntry
from agent_common.usage.ledger.base import LedgerUnavailable, UsageLedger

T = TypeVar("T")

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS usage_entries (
        request_id TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        tenant TEXT NOT NULL,
        entry TEXT NOT NULL,
        counted INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS usage_entries_at ON usage_entries (at)",
)


def _stamp(at: datetime.datetime) -> str:
    """A UTC time as text that sorts as time does (fixed width, microseconds)."""
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class SqliteLedger(UsageLedger):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._conn: sqlite3.Connection | None = None
        # One thread, first come first served: one statement at a time on the one connection.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-ledger")

    async def open(self) -> None:
        await self._run(lambda conn: None)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            for statement in SCHEMA:
                conn.execute(statement)
            self._conn = conn
        return self._conn

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return work(self._connect())
            except sqlite3.Error as exc:
                raise LedgerUnavailable(self.location, str(exc)) from exc

        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        # Queued behind every statement sent before, even one whose caller has gone.
        await asyncio.get_running_loop().run_in_executor(self._thread, close)

    async def record(self, entry: UsageEntry) -> bool:
        row = (entry.request_id, _stamp(entry.at), entry.tenant, entry.model_dump_json())

        def insert(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO usage_entries (request_id, at, tenant, entry) VALUES (?, ?, ?, ?)", row
            )
            return cursor.rowcount == 1

        return await self._run(insert)

    async def counted(self, request_id: str) -> bool:
        def select(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT counted FROM usage_entries WHERE request_id = ?", (request_id,)).fetchone()
            return bool(row and row[0])

        return await self._run(select)

    async def mark_counted(self, request_id: str) -> None:
        await self._run(
            lambda conn: conn.execute("UPDATE usage_entries SET counted = 1 WHERE request_id = ?", (request_id,))
        )

    async def entries(self, start: datetime.datetime, end: datetime.datetime) -> list[UsageEntry]:
        def select(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT entry FROM usage_entries WHERE at >= ? AND at < ? ORDER BY at, request_id",
                (_stamp(start), _stamp(end)),
            ).fetchall()
            return [str(row[0]) for row in rows]

        return [UsageEntry.model_validate_json(raw) for raw in await self._run(select)]

    async def ping(self) -> bool:
        try:
            await self._run(lambda conn: conn.execute("SELECT 1").fetchone())
        except LedgerUnavailable:
            return False
        return True
