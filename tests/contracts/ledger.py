"""The usage ledger's contract, run against every store (`test_ledger.py`): an entry is
kept once per request id whatever the number of deliveries, and read back by month (UTC)."""

from __future__ import annotations

import asyncio
import datetime
import uuid

from agent_common.usage import ModelCallUsage, ToolCallUsage, UsageEntry
from agent_common.usage.ledger import UsageLedger

UTC = datetime.UTC


def entry(
    at: datetime.datetime, *, request_id: str | None = None, tenant: str = "acme", tokens: int = 10
) -> UsageEntry:
    return UsageEntry(
        request_id=request_id or f"req_{uuid.uuid4().hex[:12]}",
        tenant=tenant,
        user_id="u1",
        session_id="ses_1",
        at=at,
        model_calls=[ModelCallUsage(model="m1", prompt_tokens=tokens, completion_tokens=tokens // 2)],
        tool_calls=[ToolCallUsage(tool="http_get", ok=True)],
        steps=1,
        duration_s=1.5,
    )


class LedgerContract:
    """Subclasses provide `self.ledger`: open, empty."""

    ledger: UsageLedger

    async def test_an_entry_is_stored_once_however_often_it_is_recorded(self) -> None:
        first = entry(datetime.datetime(2026, 11, 3, 12, tzinfo=UTC), request_id="req_twice")
        again = first.model_copy(update={"tenant": "other"})  # a redelivery: same request id
        assert await self.ledger.record(first) is True
        assert await self.ledger.record(first) is False
        assert await self.ledger.record(again) is False
        assert await self.ledger.month("2026-11") == [first]

    async def test_concurrent_deliveries_of_one_entry_store_it_once(self) -> None:
        one = entry(datetime.datetime(2026, 11, 4, tzinfo=UTC), request_id="req_race")
        stored = await asyncio.gather(*(self.ledger.record(one) for _ in range(8)))
        assert sorted(stored) == [False] * 7 + [True]
        assert len(await self.ledger.month("2026-11")) == 1

    async def test_a_month_is_its_utc_days_in_order(self) -> None:
        seoul = datetime.timezone(datetime.timedelta(hours=9))
        inside = [
            entry(datetime.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),  # the first instant
            entry(datetime.datetime(2026, 11, 15, 8, tzinfo=UTC)),
            entry(datetime.datetime(2026, 12, 1, 8, 59, tzinfo=seoul)),  # 2026-11-30 23:59 UTC
        ]
        outside = [
            entry(datetime.datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)),
            entry(datetime.datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
        ]
        for e in [inside[2], outside[0], inside[0], outside[1], inside[1]]:
            await self.ledger.record(e)
        got = await self.ledger.month("2026-11")
        assert [e.request_id for e in got] == [e.request_id for e in inside]
        assert got[0] == inside[0] and got[0].model_calls[0].prompt_tokens == 10
        assert [e.request_id for e in await self.ledger.month("2026-10")] == [outside[0].request_id]

    async def test_an_entry_is_counted_once_marked_so(self) -> None:
        one = entry(datetime.datetime(2026, 11, 5, tzinfo=UTC), request_id="req_counted")
        assert not await self.ledger.counted("req_counted")  # not even stored
        await self.ledger.record(one)
        assert not await self.ledger.counted("req_counted")  # stored: its spend not counted yet
        await self.ledger.mark_counted("req_counted")
        await self.ledger.mark_counted("req_counted")
        assert await self.ledger.counted("req_counted")
        assert await self.ledger.record(one) is False and await self.ledger.counted("req_counted")

    async def test_it_answers_its_ping(self) -> None:
        assert await self.ledger.ping()
