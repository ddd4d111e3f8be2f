"""Closing the embedded ledger while a statement is still running, its caller gone (a
platform shutting down cancels the writer mid-record): the close waits for the statement.
Closing the connection under it from another thread crashed the whole process in SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from agent_common.usage.ledger.sqlite import SqliteLedger
from tests.usage.test_ledger_writer import entry


async def test_a_close_waits_for_the_statement_a_cancelled_caller_left_running(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    ledger = SqliteLedger(path)
    await ledger.open()
    # Another writer holds the file: the ledger's insert waits in SQLite (its busy timeout).
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    recording = asyncio.create_task(ledger.record(entry("req_held")))
    await asyncio.sleep(0.3)  # the insert is in SQLite, on the ledger's thread
    recording.cancel()
    closing = asyncio.create_task(ledger.close())
    await asyncio.sleep(0.3)
    assert not closing.done(), "closed the connection while its statement was still running"
    blocker.execute("COMMIT")  # the insert goes through, then the close
    await asyncio.wait_for(closing, 15)
    blocker.close()
    async with SqliteLedger(path) as reopened:
        assert await reopened.counted("req_held") is False  # stored, though nobody heard back
        assert [
            e.request_id
            for e in await reopened.entries(entry("x").at.replace(year=2000), entry("x").at.replace(year=2100))
        ] == ["req_held"]
