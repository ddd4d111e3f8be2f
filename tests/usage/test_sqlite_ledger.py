"""The embedded ledger's file: written on the event loop, so another process holding the
file refuses a write at once (the writer holds the entry and tries again) instead of
holding the loop; and its WAL copied into the file by checkpoints off the loop, so the
file alone has the entries while the platform runs."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from agent_common.bus import MemoryBus
from agent_common.usage import UsageRecorded
from agent_common.usage.ledger import LedgerUnavailable
from agent_common.usage.ledger.sqlite import SqliteLedger
from agent_common.usage.writer import LedgerWriter
from tests.usage.test_ledger_writer import PRICES, WAIT_S, Spend, entry


async def test_a_file_another_process_holds_refuses_the_write_and_the_writer_stores_it_once_free(
    tmp_path: Path,
) -> None:
    path = tmp_path / "usage.sqlite3"
    async with SqliteLedger(path) as ledger:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(LedgerUnavailable, match="locked"):
            await ledger.record(entry("req_refused"))
        spend = Spend()
        bus = MemoryBus()
        LedgerWriter(ledger, PRICES, spend, backoff_max_s=0.01).register(bus)
        await bus.start()
        try:
            await bus.publish(UsageRecorded.of(entry("req_held")))
            await asyncio.sleep(0.2)
            assert spend.calls == []  # held while the file is
            blocker.execute("COMMIT")
            await asyncio.wait_for(spend.told.wait(), WAIT_S)
        finally:
            await bus.stop()
            blocker.close()
        assert [c["request_id"] for c in spend.calls] == ["req_held"]
        assert [e.request_id for e in await ledger.month("2026-11")] == ["req_held"]
        assert await ledger.counted("req_held")
        assert bus.dead_letters == []


def _entries_in_the_file_alone(path: Path, scratch: Path) -> int:
    """The entries a copy of the database file holds without its WAL beside it."""
    copy = scratch / "copy.sqlite3"
    shutil.copyfile(path, copy)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        if conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'usage_entries'").fetchone()[0] == 0:
            return 0  # not even the table yet
        return int(conn.execute("SELECT count(*) FROM usage_entries").fetchone()[0])


async def test_the_wal_reaches_the_file_while_the_platform_runs(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    (tmp_path / "scratch").mkdir()
    async with SqliteLedger(path, checkpoint_every=5) as ledger:
        for n in range(12):
            await ledger.record(entry(f"req_{n}"))
        assert _entries_in_the_file_alone(path, tmp_path / "scratch") < 12  # the last ones in the WAL only
        for _ in range(200):  # a checkpoint runs after the 5th and the 10th write
            if _entries_in_the_file_alone(path, tmp_path / "scratch") >= 10:
                break
            await asyncio.sleep(0.02)
        assert _entries_in_the_file_alone(path, tmp_path / "scratch") >= 10
    assert _entries_in_the_file_alone(path, tmp_path / "scratch") == 12  # the rest as it closed
    async with SqliteLedger(path) as reopened:
        assert len(await reopened.month("2026-11")) == 12
