"""The ledger writer: consumer group `ledger` on `usage.entries`, storing each entry once.

Hosted by the orchestrator's process (it already has the bus and the database server),
and by the embedded default over the in-memory bus. Delivery is at least once: the
offset is committed after the handler returns, and the handler returns only once the
entry is stored; a redelivered entry is found by its request id and not counted again.
A store that cannot be reached is tried again with backoff for as long as it takes,
holding the partition (the entries behind it wait in Kafka, in order), never
dead-lettered: the ledger's outage is not the entry's fault.

An entry's tokens and cost are counted (the metrics, and the budgets through their
`SpendRecorder`) once it is stored, then marked counted in the ledger: a redelivery of
an entry already counted is skipped, and one whose writer died between the write and
the count is counted then. Only a writer that dies after telling the budgets and before
the mark tells them twice: the hook gets the request id to recognise it
(docs/cost.md#delivery).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agent_common.bus import Bus
from agent_common.resilience.outages import backoff_s
from agent_common.topics import USAGE_ENTRIES
from agent_common.usage import metrics
from agent_common.usage.entry import SpendRecorder, UsageEntry, UsageRecorded, record_no_spend
from agent_common.usage.ledger.base import LedgerUnavailable, UsageLedger
from agent_common.usage.paths import PathThresholds, expensive_paths
from agent_common.usage.prices import PriceBook

log = logging.getLogger("agent.usage")

LEDGER_BACKOFF_MAX_S = 5.0
A = TypeVar("A")
R = TypeVar("R")


class LedgerWriter:
    def __init__(
        self,
        ledger: UsageLedger,
        prices: PriceBook,
        record_spend: SpendRecorder = record_no_spend,
        *,
        thresholds: PathThresholds | None = None,
        backoff_max_s: float = LEDGER_BACKOFF_MAX_S,
    ) -> None:
        self.ledger = ledger
        self.prices = prices
        self.thresholds = thresholds or PathThresholds()
        self._record_spend = record_spend
        self._backoff_max_s = backoff_max_s
        self._unpriced_seen: set[str] = set()
        metrics.initialise_series()

    def register(self, bus: Bus, *, concurrency: int = 1) -> None:
        bus.subscribe(
            UsageRecorded, self.on_usage_recorded, group=USAGE_ENTRIES.consumer_group, concurrency=concurrency
        )

    async def on_usage_recorded(self, message: UsageRecorded) -> None:
        entry = message.entry
        stored = await self._held(self.ledger.record, entry)
        if not stored and await self._held(self.ledger.counted, entry.request_id):
            metrics.LEDGER_WRITES.labels("duplicate").inc()
            log.info("usage entry already stored", extra={"request_id": entry.request_id})
            return
        metrics.LEDGER_WRITES.labels("stored" if stored else "counted_late").inc()
        cost = self.prices.cost(entry)
        self._count(entry)
        await self._record_spend(
            request_id=entry.request_id,
            tenant=entry.tenant,
            key_id=entry.api_key_id,
            tokens=entry.tokens,
            cost=cost.total,
            at=entry.at,
        )
        await self._held(self.ledger.mark_counted, entry.request_id)

    async def _held(self, call: Callable[[A], Awaitable[R]], arg: A) -> R:
        """`call(arg)` on the ledger, tried again with backoff for as long as its store is away."""
        failures = 0
        while True:
            try:
                return await call(arg)
            except LedgerUnavailable as exc:
                failures += 1
                metrics.LEDGER_UNAVAILABLE.inc()
                if failures == 1:
                    log.warning("usage ledger unavailable; the entry is held and retried", extra={"error": str(exc)})
                await asyncio.sleep(backoff_s(failures, max_s=self._backoff_max_s))

    def _unpriced(self, name: str) -> None:
        metrics.UNPRICED.inc()
        if name not in self._unpriced_seen:  # once per name and process: the fix is one edit of the price file
            self._unpriced_seen.add(name)
            log.warning("no price for this model or tool: counted as costing nothing", extra={"model": name})

    def _count(self, entry: UsageEntry) -> None:
        for path in expensive_paths(entry, self.thresholds):
            metrics.EXPENSIVE_RUNS.labels(path).inc()
        on = entry.at.astimezone(datetime.UTC).date()
        for call in entry.model_calls:
            metrics.USAGE_TOKENS.labels(entry.tenant, call.model, "prompt").inc(call.prompt_tokens)
            metrics.USAGE_TOKENS.labels(entry.tenant, call.model, "completion").inc(call.completion_tokens)
            cost = self.prices.call_cost(call, on)
            if cost is None:
                self._unpriced(call.model)
            else:
                metrics.USAGE_COST.labels(entry.tenant, call.model).inc(float(cost))
        for tool_call in entry.tool_calls:
            price = self.prices.tool_price(tool_call.tool, on)
            if price is None:
                self._unpriced(f"tool:{tool_call.tool}")
            else:
                metrics.USAGE_COST.labels(entry.tenant, f"tool:{tool_call.tool}").inc(float(price.per_call))
