"""The embedded default's ledger: one SQLite file (`USAGE_LEDGER_PATH`), written by the one
process that runs everything and read by `agent cost-report`.

SQLite rather than a JSON-lines file: `INSERT OR IGNORE` on the request id is the
idempotent write, a month is an indexed range query, and a reader (the report) and the
writer (the running platform) can share the file safely (WAL).

Writes run on the event loop, each tens of microseconds: with `synchronous=NORMAL` a
commit is a write to the WAL, not a sync, so a commit survives the process crashing but
the last ones may not survive the machine losing power, as with the budgets file beside
it. Handed to a thread instead, each write cost the loop more than it did (the thread
taking the GIL back at each of SQLite's system calls: about 1 ms a run at 50 streams,
docs/benchmarks.md). What does wait on the disk runs in a thread on a connection of its
own: the checkpoint that copies the WAL into the file and syncs it (every
`CHECKPOINT_EVERY` writes; the writer's own automatic checkpoint is off), and a month's
read. Another process holding the file is waited for `BUSY_TIMEOUT_S` at most, then the
write fails as `LedgerUnavailable` and its caller tries again later: the loop is not held.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agent_common.sqlite_files import open_on_loop
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
CHECKPOINT_EVERY = 500  # writes; about the 1,000 WAL pages SQLite's own automatic checkpoint waits for
BUSY_TIMEOUT_S = 0.01  # how long a write on the loop waits for another process's lock


def _stamp(at: datetime.datetime) -> str:
    """A UTC time as text that sorts as time does (fixed width, microseconds)."""
    return at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class SqliteLedger(UsageLedger):
    def __init__(self, path: Path, *, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.path = path
        self.location = str(path)
        self._conn: sqlite3.Connection | None = None  # the writer's, used on the event loop only
        self._checkpoint_every = checkpoint_every
        self._writes = 0  # since the last checkpoint began
        self._checkpoint: asyncio.Task[None] | None = None  # one at a time; held so it is not collected

    async def open(self) -> None:
        self._run(lambda conn: None)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            # Checkpoints are `_checkpoint_now`'s, off the loop.
            self._conn = open_on_loop(self.path, SCHEMA, busy_timeout_s=BUSY_TIMEOUT_S, autocheckpoint=False)
        return self._conn

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connect())
        except sqlite3.Error as exc:
            raise LedgerUnavailable(self.location, str(exc)) from exc

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes >= self._checkpoint_every and (self._checkpoint is None or self._checkpoint.done()):
            self._writes = 0
            self._checkpoint = asyncio.create_task(asyncio.to_thread(self._checkpoint_now), name="ledger-checkpoint")

    def _checkpoint_now(self) -> None:
        """The WAL copied into the file as far as no reader holds it back (PASSIVE: writers go on)."""
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as conn:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:  # the next one copies what this one could not
            return

    async def close(self) -> None:
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
            self._checkpoint = None
        if self._conn is not None:
            self._conn.close()  # SQLite checkpoints what is left as the last connection closes
            self._conn = None

    async def record(self, entry: UsageEntry) -> bool:
        row = (entry.request_id, _stamp(entry.at), entry.tenant, entry.model_dump_json())
        cursor = self._run(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO usage_entries (request_id, at, tenant, entry) VALUES (?, ?, ?, ?)", row
            )
        )
        self._wrote()
        return cursor.rowcount == 1

    async def counted(self, request_id: str) -> bool:
        row = self._run(
            lambda conn: conn.execute(
                "SELECT counted FROM usage_entries WHERE request_id = ?", (request_id,)
            ).fetchone()
        )
        return bool(row and row[0])

    async def mark_counted(self, request_id: str) -> None:
        self._run(lambda conn: conn.execute("UPDATE usage_entries SET counted = 1 WHERE request_id = ?", (request_id,)))
        self._wrote()

    async def entries(self, start: datetime.datetime, end: datetime.datetime) -> list[UsageEntry]:
        self._run(lambda conn: None)  # the file made and its table there, as for a write

        def select() -> list[str]:
            with contextlib.closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as conn:
                rows = conn.execute(
                    "SELECT entry FROM usage_entries WHERE at >= ? AND at < ? ORDER BY at, request_id",
                    (_stamp(start), _stamp(end)),
                ).fetchall()
            return [str(row[0]) for row in rows]

        try:
            raw = await asyncio.to_thread(select)
        except sqlite3.Error as exc:
            raise LedgerUnavailable(self.location, str(exc)) from exc
        return [UsageEntry.model_validate_json(text) for text in raw]

    async def ping(self) -> bool:
        try:
            self._run(lambda conn: conn.execute("SELECT 1").fetchone())
        except LedgerUnavailable:
            return False
        return True
