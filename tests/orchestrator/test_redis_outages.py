"""Runs over a real Redis that goes away while they stream, as the distributed mode runs them:
an orchestrator on the transports a process opens (the pool that rides through an outage),
the offline model over HTTP streaming slowly, and a gateway's run-event channel listening.

A one-second restart costs nothing: the run ends `done`, its text that of a fault-free run.
An outage longer than REDIS_RIDE_THROUGH_S ends the listener with `redis_unavailable` at
the bound, and the run, once Redis is back, with the same error in the buffer (a client
that reconnects replays it), never as `worker_lost`: another replica does not take it
over, and the session's next turn may start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from agent_common.events import DoneEvent, ErrorEvent, RunEvent, TokenEvent, is_terminal
from agent_common.messages import ChatRequested
from agent_common.resilience import OutageTooLong
from agent_common.run_events.redis import RedisRunEventChannel
from agent_common.run_store import ClaimResult
from agent_common.settings import RedisSettings
from agent_common.transports.redis import redis_client
from agent_offline_model.app import create_app as create_offline_model
from agent_offline_model.settings import OfflineModelSettings
from agent_orchestrator.ownership import Leases
from tests.orchestrator.replicas import RedisReplica, redis_replica
from tests.support.services import RedisServer, start_durable_redis
from tests.support.web import serve_in_thread

pytestmark = pytest.mark.redis

WAIT_S = 30.0  # a hang guard: every wait ends on an event
MESSAGE = "tell me about the ride through a short outage of the state store"


@pytest.fixture(scope="module")
def slow_model_url() -> Iterator[str]:
    """The offline model, streaming a token every 60 ms: an answer takes a couple of seconds."""
    with serve_in_thread(create_offline_model(OfflineModelSettings(token_delay_ms=60))) as url:
        yield f"{url}/v1"


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_durable_redis(tmp_path)
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def gateway_channel(redis_url: str, bound_s: float) -> AsyncIterator[RedisRunEventChannel]:
    client = redis_client(RedisSettings(url=redis_url, ride_through_s=bound_s))
    channel = RedisRunEventChannel(client, outage_bound_s=bound_s)
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()
        await client.aclose()


def chat(session_id: str) -> ChatRequested:
    return ChatRequested(
        request_id=f"req_{uuid.uuid4().hex}",
        session_id=session_id,
        user_id="u1",
        message=MESSAGE,
        deadline_at=time.time() + 60,
    )


async def listen_until_end(events: AsyncIterator[RunEvent], first_token: asyncio.Event) -> list[RunEvent]:
    received: list[RunEvent] = []
    async for event in events:
        received.append(event)
        if isinstance(event, TokenEvent):
            first_token.set()
        if is_terminal(event):
            break
    return received


async def run_once(
    one: RedisReplica,
    gateway: RedisRunEventChannel,
    request: ChatRequested,
    fault: contextlib.AbstractAsyncContextManager[None],
) -> list[RunEvent]:
    """Deliver `request` to the replica; `fault` is entered once the client has its first token."""
    first_token = asyncio.Event()
    async with gateway.listen(request.request_id) as events:
        listening = asyncio.create_task(listen_until_end(events, first_token))
        await one.orchestrator.background_runs.on_chat_requested(request)
        await asyncio.wait_for(first_token.wait(), WAIT_S)
        async with fault:
            return await asyncio.wait_for(listening, WAIT_S)


def answer_of(events: list[RunEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TokenEvent))


async def test_a_run_streaming_through_a_one_second_redis_restart_ends_done_with_the_whole_answer(
    durable_redis: RedisServer, slow_model_url: str
) -> None:
    @contextlib.asynccontextmanager
    async def restart() -> AsyncIterator[None]:
        await asyncio.to_thread(durable_redis.restart, 1.0)
        yield

    async with (
        redis_replica(durable_redis.url, slow_model_url, bound_s=5.0) as one,
        gateway_channel(durable_redis.url, bound_s=5.0) as gateway,
    ):
        fault_free = await run_once(one, gateway, chat("ses_faultfree"), contextlib.nullcontext())
        request = chat("ses_restarted")
        through_restart = await run_once(one, gateway, request, restart())
        await one.orchestrator.background_runs.drain(WAIT_S)
        buffered = await one.orchestrator.events.replay(request.request_id)
    done = through_restart[-1]
    assert isinstance(done, DoneEvent), through_restart[-1]
    assert isinstance(fault_free[-1], DoneEvent) and len(fault_free[-1].answer) > 20
    assert done.answer == fault_free[-1].answer  # the same answer as without the restart
    assert answer_of(through_restart) == done.answer  # no token lost or doubled on the way
    assert [e.seq for e in through_restart] == list(range(1, len(through_restart) + 1))
    assert [(e.seq, e.type) for e in buffered] == [(e.seq, e.type) for e in through_restart]


async def test_a_run_in_a_redis_outage_longer_than_the_bound_ends_redis_unavailable_never_worker_lost(
    durable_redis: RedisServer, slow_model_url: str
) -> None:
    bound_s, down_s = 1.0, 3.0  # longer than the bound, and than the 2 s lease
    outcome: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def long_outage() -> AsyncIterator[None]:
        await asyncio.to_thread(durable_redis.kill)
        outcome["killed_at"] = time.monotonic()
        try:
            yield
        finally:
            outcome["gave_up_s"] = time.monotonic() - outcome["killed_at"]
            await asyncio.sleep(max(0.0, down_s - outcome["gave_up_s"]))
            await asyncio.to_thread(durable_redis.start)

    request = chat("ses_long_outage")
    takeovers = REGISTRY.get_sample_value("orchestrator_run_takeovers_total") or 0.0
    async with (
        redis_replica(durable_redis.url, slow_model_url, bound_s) as one,
        redis_replica(durable_redis.url, slow_model_url, bound_s) as other,  # sweeping for lost runs all along
        gateway_channel(durable_redis.url, bound_s) as gateway,
    ):
        with pytest.raises(OutageTooLong) as gave_up:
            await run_once(one, gateway, request, long_outage())
        # Redis back: the run ends where it was, on the replica that ran it.
        await one.orchestrator.background_runs.drain(WAIT_S)
        await asyncio.sleep(2 * 0.2)  # two sweeps of the other replica after the run ended
        await other.orchestrator.background_runs.drain(WAIT_S)
        buffered = await one.orchestrator.events.replay(request.request_id)
        next_turn = await Leases(one.orchestrator.runs.claims, "next-turn", 2.0).claim(chat("ses_long_outage"))
    assert gave_up.value.info.details["reason"] == "redis_unavailable"
    # At the bound (counted from when the listener saw the connection drop, as the kill returned), not
    # at the client's deadline.
    assert bound_s - 0.2 <= outcome["gave_up_s"] < bound_s + 1.5
    endings = [e for e in buffered if is_terminal(e)]
    assert len(endings) == 1 and isinstance(endings[0], ErrorEvent), buffered
    assert endings[0].error.details["reason"] == "redis_unavailable"  # what a reconnecting client replays
    assert endings[0].partial is True and answer_of(buffered)
    assert next_turn is ClaimResult.TAKEN  # the run's session turn was ended
    assert (REGISTRY.get_sample_value("orchestrator_run_takeovers_total") or 0.0) == takeovers
