"""The usage ledger's contract (`ledger.py`) over each store: the embedded default's SQLite
file and PostgreSQL (a real server, a database of the test's own)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from agent_common.errors import ErrorCode
from agent_common.usage import UsageSettings
from agent_common.usage.ledger import LedgerUnavailable, open_ledger
from agent_common.usage.ledger.postgres import PostgresLedger
from agent_common.usage.ledger.sqlite import SqliteLedger
from tests.contracts.ledger import LedgerContract, entry
from tests.support.services import database_of_its_own
from tests.support.web import free_tcp_port


class TestSqliteLedger(LedgerContract):
    @pytest.fixture(autouse=True)
    async def _ledger(self, tmp_path: Path) -> AsyncIterator[None]:
        ledger = open_ledger(UsageSettings(ledger_path=tmp_path / "usage.sqlite3"))
        assert isinstance(ledger, SqliteLedger)
        async with ledger:
            self.ledger = ledger
            yield

    async def test_entries_outlive_the_process_that_wrote_them(self, tmp_path: Path) -> None:
        import datetime

        kept = entry(datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC))
        await self.ledger.record(kept)
        await self.ledger.close()
        async with SqliteLedger(tmp_path / "usage.sqlite3") as reopened:
            assert await reopened.month("2026-11") == [kept]
            assert await reopened.record(kept) is False


class TestPostgresLedger(LedgerContract):
    @pytest.fixture(autouse=True)
    async def _ledger(self, postgres_url: str) -> AsyncIterator[None]:
        with database_of_its_own(postgres_url, prefix="ledger") as url:
            ledger = open_ledger(UsageSettings(ledger_url=SecretStr(url)))
            assert isinstance(ledger, PostgresLedger)
            async with ledger:
                self.ledger = ledger
                yield

    async def test_processes_starting_together_create_the_table_once(self, postgres_url: str) -> None:
        with database_of_its_own(postgres_url, prefix="ledger") as url:
            ledgers = [PostgresLedger(url) for _ in range(4)]
            try:
                await asyncio.gather(*(ledger.open() for ledger in ledgers))
                assert all([await ledger.ping() for ledger in ledgers])
            finally:
                for ledger in ledgers:
                    await ledger.close()

    async def test_an_unreachable_ledger_is_classified_without_its_password(self) -> None:
        import datetime

        url = f"postgresql://ledger:s3cret@127.0.0.1:{free_tcp_port()}/usage"
        ledger = PostgresLedger(url)
        assert not await ledger.ping()
        with pytest.raises(LedgerUnavailable) as failed:
            await ledger.record(entry(datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC)))
        assert failed.value.code is ErrorCode.INFRA_UNAVAILABLE
        assert failed.value.info.details["reason"] == "ledger_unavailable"
        assert "s3cret" not in str(failed.value) and "/usage" in str(failed.value)
        await ledger.close()
