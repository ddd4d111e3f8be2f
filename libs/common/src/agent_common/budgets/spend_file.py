"""The embedded default's spend: a SQLite file beside the budgets file.

Every run adds its spend, so the spend is what changes most; the budgets change when someone
runs `agent budgets set`. Kept in the budgets file, each run rewrote that file whole (a new
file renamed over the old, so another process never reads half of it): 525 µs of CPU a run,
2 % of embedded throughput at 50 streams (docs/benchmarks.md). Here a run's spend is one
transaction: its request id inserted (the idempotency: a redelivered run is found there) and
its scopes' counters raised, some 30 µs.

On the event loop, as the usage ledger's writes (`sqlite_files.py`): a commit survives the
process crashing and the last few may not survive a power loss, the guarantee the budgets
file has. Every request id of a period is
kept until its counters expire (`counters_expire_at`), as Redis keeps them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from agent_common.budgets.periods import counters_expire_at
from agent_common.sqlite_files import open_on_loop

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spend (
        period TEXT NOT NULL, scope TEXT NOT NULL, nanos INTEGER NOT NULL, tokens INTEGER NOT NULL,
        PRIMARY KEY (period, scope)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS counted (
        period TEXT NOT NULL, request_id TEXT NOT NULL, PRIMARY KEY (period, request_id)) WITHOUT ROWID""",
    # The periods whose spend was carried over from a budgets file: a crash before that file is
    # rewritten without it must not have it added twice.
    "CREATE TABLE IF NOT EXISTS carried_over (period TEXT PRIMARY KEY) WITHOUT ROWID",
)
PERIODS = "SELECT period FROM spend UNION SELECT period FROM counted UNION SELECT period FROM carried_over"
BUSY_TIMEOUT_S = 1.0  # another process writes here only to carry a budgets file's spend over, once

Counters = dict[str, tuple[int, int]]  # scope -> (nano-dollars, tokens)


def spend_file_of(budgets_file: Path) -> Path:
    """Where the spend of the budgets in `budgets_file` is kept: `budgets.json` -> `budgets.spend.sqlite3`."""
    return budgets_file.with_name(budgets_file.stem + ".spend.sqlite3")


class SpendFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = open_on_loop(self.path, SCHEMA, busy_timeout_s=BUSY_TIMEOUT_S)
            try:
                self._forget_expired(conn)
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @staticmethod
    def _forget_expired(conn: sqlite3.Connection) -> None:
        now = dt.datetime.now(dt.UTC)
        periods = {row[0] for row in conn.execute(PERIODS)}
        for period in {p for p in periods if counters_expire_at(p) <= now}:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM spend WHERE period = ?", (period,))
                conn.execute("DELETE FROM counted WHERE period = ?", (period,))
                conn.execute("DELETE FROM carried_over WHERE period = ?", (period,))

    def record(self, request_id: str, period: str, scopes: list[str], nanos: int, tokens: int) -> Counters | None:
        """Add a run's spend to each of `scopes` (a tenant's, and its key's when there is one); their
        counters after it, None if `request_id` was counted already."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO counted (period, request_id) VALUES (?, ?)", (period, request_id)
            ).rowcount
            if inserted:
                conn.executemany(
                    "INSERT INTO spend (period, scope, nanos, tokens) VALUES (?, ?, ?, ?) ON CONFLICT (period, scope)"
                    " DO UPDATE SET nanos = nanos + excluded.nanos, tokens = tokens + excluded.tokens",
                    [(period, scope, nanos, tokens) for scope in scopes],
                )
            counters = self._counters(conn, period, scopes)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return counters if inserted else None

    def spent(self, period: str, scopes: list[str]) -> Counters:
        return self._counters(self._connect(), period, scopes)

    @staticmethod
    def _counters(conn: sqlite3.Connection, period: str, scopes: list[str]) -> Counters:
        # A tenant's scope, and its key's when the caller used one (the same twice when not).
        rows = conn.execute(
            "SELECT scope, nanos, tokens FROM spend WHERE period = ? AND scope IN (?, ?)",
            (period, scopes[0], scopes[-1]),
        )
        return {scope: (nanos, tokens) for scope, nanos, tokens in rows}

    def carry_over(self, period: str, counters: Counters, counted: list[str]) -> None:
        """A period's spend as a budgets file of an earlier release held it: added once, in one
        transaction (the caller then removes it from that file, under the file's lock)."""
        conn = self._connect()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            if not conn.execute("INSERT OR IGNORE INTO carried_over (period) VALUES (?)", (period,)).rowcount:
                return  # carried over already; the file kept it only because its rewrite did not happen
            conn.executemany(
                "INSERT OR IGNORE INTO counted (period, request_id) VALUES (?, ?)", [(period, r) for r in counted]
            )
            conn.executemany(
                "INSERT INTO spend (period, scope, nanos, tokens) VALUES (?, ?, ?, ?) ON CONFLICT (period, scope)"
                " DO UPDATE SET nanos = nanos + excluded.nanos, tokens = tokens + excluded.tokens",
                [(period, scope, n, t) for scope, (n, t) in counters.items()],
            )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
