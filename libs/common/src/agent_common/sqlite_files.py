"""The SQLite files the embedded default writes on its event loop (the usage ledger, the spend).

Opened one way: autocommit (each write begins its own transaction), WAL, so the platform's
writes and another process's reads (`agent cost-report`, `agent budgets show`) share the file,
and `synchronous=NORMAL`: a commit is a write to the WAL, not a sync, tens of microseconds, so
it can run on the loop; it survives the process crashing, the last few may not survive a power
loss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path


def open_on_loop(
    path: Path, schema: Iterable[str], *, busy_timeout_s: float, autocheckpoint: bool = True
) -> sqlite3.Connection:
    """`path` opened (made if missing) with `schema` applied. `busy_timeout_s`: how long a write
    waits for another process's lock, the loop with it. `autocheckpoint=False`: the caller copies
    the WAL into the file itself, off the loop (that copy syncs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if not autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        for statement in schema:
            conn.execute(statement)
    except sqlite3.Error:
        conn.close()
        raise
    return conn
