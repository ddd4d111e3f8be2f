"""The ledger writer on the embedded default's bus and file: each entry stored once, its
tokens and cost counted once (metrics and the budgets' hook), an unreachable store waited
for, never skipped."""

from __future__ import annotations

import asyncio
import datetime
import decimal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from agent_common.bus import MemoryBus
from agent_common.usage import ModelCallUsage, ToolCallUsage, UsageEntry, UsageRecorded
from agent_common.usage.ledger import LedgerUnavailable, UsageLedger
from agent_common.usage.ledger.sqlite import SqliteLedger
from agent_common.usage.prices import parse_prices
from agent_common.usage.writer import LedgerWriter

PRICES = parse_prices(
    {
        "version": "t",
        "models": {
            "m-writer": [{"from": datetime.date(2026, 1, 1), "input_per_million": "2", "output_per_million": "8"}]
        },
        "tools": {"http_get": [{"from": datetime.date(2026, 1, 1), "per_call": "0.01"}]},
    }
)
WAIT_S = 10


def entry(request_id: str, tenant: str = "writer-tenant") -> UsageEntry:
    return UsageEntry(
        request_id=request_id,
        tenant=tenant,
        user_id="u1",
        session_id="s1",
        api_key_id="key_1",
        at=datetime.datetime(2026, 11, 20, 10, tzinfo=datetime.UTC),
        model_calls=[ModelCallUsage(model="m-writer", prompt_tokens=1000, completion_tokens=500)],
        tool_calls=[ToolCallUsage(tool="http_get", ok=True)],
    )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Spend:
    """A budgets hook that keeps what it is told."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []
        self.told = asyncio.Event()

    async def __call__(
        self,
        *,
        request_id: str,
        tenant: str,
        key_id: str | None,
        tokens: int,
        cost: decimal.Decimal,
        at: datetime.datetime,
    ) -> None:
        self.calls.append(
            {"request_id": request_id, "tenant": tenant, "key_id": key_id, "tokens": tokens, "cost": cost, "at": at}
        )
        self.told.set()


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SqliteLedger]:
    async with SqliteLedger(tmp_path / "usage.sqlite3") as ledger:
        yield ledger


def handled_by(writer: LedgerWriter, bus: MemoryBus) -> asyncio.Queue[str]:
    """Run `writer` on `bus`; the request id of every message it has handled comes out in order."""
    handled: asyncio.Queue[str] = asyncio.Queue()

    async def handle(message: UsageRecorded) -> None:
        await writer.on_usage_recorded(message)
        handled.put_nowait(message.request_id)

    bus.subscribe(UsageRecorded, handle, group="ledger")
    return handled


async def test_a_redelivered_entry_is_stored_and_counted_once(ledger: SqliteLedger) -> None:
    spend = Spend()
    writer = LedgerWriter(ledger, PRICES, spend)
    bus = MemoryBus()
    handled = handled_by(writer, bus)
    await bus.start()
    tokens_before = sample("usage_tokens_total", tenant="writer-tenant", model="m-writer", kind="prompt")
    cost_before = sample("usage_cost_total", tenant="writer-tenant", model="m-writer")
    tool_before = sample("usage_cost_total", tenant="writer-tenant", model="tool:http_get")
    duplicates_before = sample("usage_ledger_writes_total", result="duplicate")
    steps_before = sample("usage_expensive_runs_total", path="steps")
    try:
        one = entry("req_writer_once")
        await bus.publish(UsageRecorded.of(one))
        await bus.publish(UsageRecorded.of(one))  # a redelivery: another message, the same run
        for _ in range(2):
            await asyncio.wait_for(handled.get(), WAIT_S)
    finally:
        await bus.stop()
    assert await ledger.month("2026-11") == [one]
    assert spend.calls == [
        {
            "request_id": "req_writer_once",
            "tenant": "writer-tenant",
            "key_id": "key_1",
            "tokens": 1500,
            "cost": decimal.Decimal("0.002") + decimal.Decimal("0.004") + decimal.Decimal("0.01"),
            "at": one.at,
        }
    ]
    assert sample("usage_tokens_total", tenant="writer-tenant", model="m-writer", kind="prompt") == tokens_before + 1000
    assert sample("usage_cost_total", tenant="writer-tenant", model="m-writer") == pytest.approx(cost_before + 0.006)
    assert sample("usage_cost_total", tenant="writer-tenant", model="tool:http_get") == pytest.approx(
        tool_before + 0.01
    )
    assert sample("usage_ledger_writes_total", result="duplicate") == duplicates_before + 1
    # A plain run: no expensive path counted for it.
    assert sample("usage_expensive_runs_total", path="steps") == steps_before


async def test_an_entry_stored_by_a_writer_that_died_before_counting_it_is_counted_on_redelivery(
    ledger: SqliteLedger,
) -> None:
    died = entry("req_writer_died", tenant="late-tenant")
    await ledger.record(died)  # what the writer that died did: stored, never counted
    spend = Spend()
    bus = MemoryBus()
    handled = handled_by(LedgerWriter(ledger, PRICES, spend), bus)
    late_before = sample("usage_ledger_writes_total", result="counted_late")
    await bus.start()
    try:
        await bus.publish(UsageRecorded.of(died))  # the redelivery of its uncommitted message
        await bus.publish(UsageRecorded.of(died))  # and one more: counted already
        for _ in range(2):
            await asyncio.wait_for(handled.get(), WAIT_S)
    finally:
        await bus.stop()
    assert [c["request_id"] for c in spend.calls] == ["req_writer_died"]
    assert sample("usage_ledger_writes_total", result="counted_late") == late_before + 1
    assert sample("usage_tokens_total", tenant="late-tenant", model="m-writer", kind="completion") == 500
    assert await ledger.counted("req_writer_died")


class FlakyLedger(UsageLedger):
    """A ledger whose store is away for its first `down` writes."""

    def __init__(self, inner: UsageLedger, down: int) -> None:
        self.inner = inner
        self.down = down

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def record(self, entry: UsageEntry) -> bool:
        if self.down:
            self.down -= 1
            raise LedgerUnavailable("test", "connection refused")
        return await self.inner.record(entry)

    async def counted(self, request_id: str) -> bool:
        return await self.inner.counted(request_id)

    async def mark_counted(self, request_id: str) -> None:
        await self.inner.mark_counted(request_id)

    async def entries(self, start: datetime.datetime, end: datetime.datetime) -> list[UsageEntry]:
        return await self.inner.entries(start, end)

    async def ping(self) -> bool:
        return not self.down


async def test_an_unreachable_ledger_holds_the_entry_until_it_is_back(ledger: SqliteLedger) -> None:
    spend = Spend()
    flaky = FlakyLedger(ledger, down=4)  # more than the bus's own attempts before it parks a message
    bus = MemoryBus()
    LedgerWriter(flaky, PRICES, spend, backoff_max_s=0.01).register(bus)
    await bus.start()
    try:
        await bus.publish(UsageRecorded.of(entry("req_writer_held")))
        await asyncio.wait_for(spend.told.wait(), WAIT_S)
    finally:
        await bus.stop()
    assert [e.request_id for e in await ledger.month("2026-11")] == ["req_writer_held"]
    assert bus.dead_letters == []  # never parked: the ledger's outage is not the entry's fault


async def test_an_unpriced_model_is_counted_and_named_once_in_the_log(
    ledger: SqliteLedger, caplog: pytest.LogCaptureFixture
) -> None:
    before = sample("usage_unpriced_total")
    bus = MemoryBus()
    handled = handled_by(LedgerWriter(ledger, PRICES), bus)
    await bus.start()
    try:
        for n in range(2):
            mystery = entry(f"req_unpriced_{n}").model_copy(
                update={"model_calls": [ModelCallUsage(model="mystery-model", prompt_tokens=10)], "tool_calls": []}
            )
            await bus.publish(UsageRecorded.of(mystery))
        for _ in range(2):
            await asyncio.wait_for(handled.get(), WAIT_S)
    finally:
        await bus.stop()
    assert sample("usage_unpriced_total") == before + 2
    named = [r for r in caplog.records if r.getMessage().startswith("no price for this model or tool")]
    assert [r.model for r in named] == ["mystery-model"]  # type: ignore[attr-defined]


async def test_a_run_on_an_expensive_path_is_counted_on_it_once(ledger: SqliteLedger) -> None:
    before = sample("usage_expensive_runs_total", path="tool_calls")
    busy = entry("req_many_tools").model_copy(update={"tool_calls": [ToolCallUsage(tool="http_get", ok=True)] * 5})
    bus = MemoryBus()
    handled = handled_by(LedgerWriter(ledger, PRICES), bus)
    await bus.start()
    try:
        await bus.publish(UsageRecorded.of(busy))
        await bus.publish(UsageRecorded.of(busy))
        for _ in range(2):
            await asyncio.wait_for(handled.get(), WAIT_S)
    finally:
        await bus.stop()
    assert sample("usage_expensive_runs_total", path="tool_calls") == before + 1
