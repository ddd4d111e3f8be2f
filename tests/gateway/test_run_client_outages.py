"""A run caught by an outage ends as soon as the outage outlasts its bound, with the
error that names it, never by the client's deadline: a publish that failed past
`BUS_RIDE_THROUGH_S` (`bus_unavailable`), a bus that stays unreachable before the
run's first event (`bus_unavailable`), the event channel failing (its own error,
`redis_unavailable`). The ending is kept in the run's buffer, where a late
orchestrator finds it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import REGISTRY

from agent_common.bus import BusHealth, MemoryBus
from agent_common.events import DoneEvent, ErrorEvent, RunEvent, TokenEvent
from agent_common.messages import BusMessage, ChatRequested
from agent_common.resilience import Outage, OutageTooLong
from agent_common.run_events.memory import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore, chat_run_key
from agent_gateway.auth import Caller
from agent_gateway.run_client import RunClient

CALLER = Caller(user_id="u1", tenant="t1", method="anonymous")


class BrokerAway(MemoryBus):
    """A bus whose broker is gone: publishes fail past the bound, pings fail."""

    def __init__(self, *, publishes: bool) -> None:
        super().__init__()
        self.publishes = publishes

    async def publish(self, message: BusMessage) -> None:
        if not self.publishes:
            raise OutageTooLong(Outage.BUS, 5.0)
        await super().publish(message)

    async def ping(self) -> bool:
        return False


class RedisGoneMidStream(MemoryRunEventChannel):
    """The run's events stop with Redis's outage error after the first token."""

    @asynccontextmanager
    async def listen(
        self, request_id: str, after_seq: int = 0, *, fresh: bool = False
    ) -> AsyncIterator[AsyncIterator[RunEvent]]:
        async def events() -> AsyncIterator[RunEvent]:
            yield TokenEvent(request_id=request_id, text="The first part", seq=1)
            raise OutageTooLong(Outage.REDIS, 5.0)

        yield events()


async def _follow(client: RunClient, request: ChatRequested) -> list[RunEvent]:
    return [event async for event in await client.submit(request)]


def _ending(received: list[RunEvent]) -> ErrorEvent:
    assert received and isinstance(received[-1], ErrorEvent), received
    assert sum(isinstance(e, ErrorEvent) for e in received) == 1, received
    return received[-1]


async def test_a_publish_failing_past_the_bound_ends_the_run_with_bus_unavailable() -> None:
    bus, events = BrokerAway(publishes=False), MemoryRunEventChannel()
    client = RunClient(bus, events, timeout_s=60)
    request = client.new_request(CALLER, "anyone there?", None, "en")
    ending = _ending(await asyncio.wait_for(_follow(client, request), 5))
    assert ending.error.code.value == "INFRA_UNAVAILABLE" and ending.error.details["reason"] == "bus_unavailable"
    assert ending.fallback  # the user is told something, in their language
    assert [e.type for e in await events.replay(request.request_id)] == ["error"]


async def test_a_run_the_gateway_ends_itself_counts_as_a_run_error() -> None:
    # Nothing reaches an orchestrator while the broker is away: only the gateway can count these,
    # and the run error alerts (InfraErrors) read this counter.
    def infra_unavailable() -> float:
        labels = {"origin": "run", "error_class": "infra", "code": "INFRA_UNAVAILABLE"}
        return REGISTRY.get_sample_value("platform_errors_total", labels) or 0.0

    before = infra_unavailable()
    client = RunClient(BrokerAway(publishes=False), MemoryRunEventChannel(), timeout_s=60)
    request = client.new_request(CALLER, "anyone there?", None, "en")
    _ending(await asyncio.wait_for(_follow(client, request), 5))
    assert infra_unavailable() == before + 1


async def test_a_run_accepted_while_the_bus_goes_away_ends_at_the_bound_not_the_deadline() -> None:
    # Published, then the broker went: nothing can take the request, and nothing says so but the bus's health.
    bus, events = BrokerAway(publishes=True), MemoryRunEventChannel()
    await bus.start()
    try:
        async with BusHealth(bus, interval_s=0.1) as health:
            client = RunClient(bus, events, timeout_s=60, bus_health=health, bus_ride_through_s=0.5)
            request = client.new_request(CALLER, "안녕하세요?", None, None)
            started = time.monotonic()
            ending = _ending(await asyncio.wait_for(_follow(client, request), 10))
            took = time.monotonic() - started
    finally:
        await bus.stop()
    assert ending.error.code.value == "INFRA_UNAVAILABLE" and ending.error.details["reason"] == "bus_unavailable"
    assert 0.5 <= took < 3, took  # at the bound, not at the 60 s deadline
    assert ending.fallback and any("\uac00" <= ch <= "\ud7a3" for ch in ending.fallback)  # in Korean
    # Kept where an orchestrator that takes the request late looks before starting it.
    assert [e.type for e in await events.replay(request.request_id)] == ["error"]


async def test_a_run_a_replica_has_claimed_is_not_ended_for_the_bus_being_away() -> None:
    # The broker went after an orchestrator took the request: it is in a slow model call, and its
    # events come over the event channel, not the bus. The outage is not the gateway's to call.
    bus, events, store = BrokerAway(publishes=True), MemoryRunEventChannel(), MemoryRunStore()
    await bus.start()
    try:
        async with BusHealth(bus, interval_s=0.1) as health:
            client = RunClient(
                bus, events, timeout_s=60, bus_health=health, bus_ride_through_s=0.5, claims=store.claims
            )
            request = client.new_request(CALLER, "a slow question", None, "en")
            await store.claims.claim(chat_run_key(request.message_id), "{}", "replica-a", 30, 60)

            async def answer_after_the_bound() -> None:
                await asyncio.sleep(1.5)
                rid = request.request_id
                await events.publish(TokenEvent(request_id=rid, text="Late but whole.", seq=1))
                await events.publish(
                    DoneEvent(request_id=rid, session_id=request.session_id, answer="Late but whole.", model="m", seq=2)
                )

            answering = asyncio.create_task(answer_after_the_bound())
            received = await asyncio.wait_for(_follow(client, request), 10)
            await answering
    finally:
        await bus.stop()
    assert [e.type for e in received] == ["token", "done"], received


async def test_a_reachable_bus_leaves_a_slow_run_to_its_deadline() -> None:
    bus, events = MemoryBus(), MemoryRunEventChannel()
    await bus.start()
    try:
        async with BusHealth(bus, interval_s=0.1) as health:
            client = RunClient(bus, events, timeout_s=1.5, bus_health=health, bus_ride_through_s=0.3)
            request = client.new_request(CALLER, "slow?", None, "en")
            ending = _ending(await asyncio.wait_for(_follow(client, request), 10))
    finally:
        await bus.stop()
    assert ending.error.code.value == "INFRA_TIMEOUT"


async def test_the_event_channel_failing_ends_the_run_with_its_own_error() -> None:
    bus, events = MemoryBus(), RedisGoneMidStream()
    await bus.start()
    try:
        client = RunClient(bus, events, timeout_s=60)
        request = client.new_request(CALLER, "stream me", None, "en")
        received = await asyncio.wait_for(_follow(client, request), 5)
    finally:
        await bus.stop()
    assert [e.type for e in received] == ["token", "error"]
    ending = _ending(received)
    assert ending.error.details["reason"] == "redis_unavailable" and ending.partial is True
    assert "stream was lost" not in ending.error.message
