"""Run events through a real outage of Redis: a crash and restart of a second, a pause (SIGSTOP),
and an outage longer than REDIS_RIDE_THROUGH_S. A short one costs nothing (every event
once, in order, to the buffer and to a listener); a long one ends the listeners with
`OutageTooLong` (`redis_unavailable`) at the bound, never at a client's deadline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest

from agent_common.errors import ErrorCode
from agent_common.events import RunEvent, TokenEvent
from agent_common.resilience import OutageTooLong
from agent_common.run_events.redis import RedisRunEventChannel
from tests.redis.channel_helpers import done, eventually, new_rid, rest, take, token
from tests.redis.ride_through_helpers import outage_retries, pooled_client
from tests.support.services import RedisServer

pytestmark = pytest.mark.redis

RUNS = 4
TOKENS = 50
BETWEEN_TOKENS_S = 0.03  # each run streams for about 1.5 s: the outage falls in the middle


async def stream_through(server: RedisServer, fault: Callable[[], Awaitable[None]]) -> None:
    """RUNS runs stream TOKENS tokens each, then `done`, from an orchestrator's channel, while
    `fault` happens to Redis; a gateway's channel listens to each. Every run's events must
    reach its listener and the buffer once each, in order, numbered without a gap."""
    orchestrator_redis, gateway_redis = pooled_client(server.url), pooled_client(server.url)
    orchestrator = RedisRunEventChannel(orchestrator_redis)
    gateway = RedisRunEventChannel(gateway_redis, outage_bound_s=5.0)
    await gateway.start()
    rids = [new_rid() for _ in range(RUNS)]

    async def run(rid: str) -> None:
        for i in range(TOKENS):
            await orchestrator.publish(token(rid, f"{i} "))
            await asyncio.sleep(BETWEEN_TOKENS_S)
        await orchestrator.publish(done(rid, "".join(f"{i} " for i in range(TOKENS))))

    async def listen(rid: str, entered: asyncio.Event) -> list[RunEvent]:
        async with gateway.listen(rid) as events:
            entered.set()
            return await rest(events)

    try:
        entered = [asyncio.Event() for _ in rids]
        listeners = [asyncio.create_task(listen(rid, e)) for rid, e in zip(rids, entered, strict=True)]
        await asyncio.gather(*(e.wait() for e in entered))
        runs = [asyncio.create_task(run(rid)) for rid in rids]
        await asyncio.sleep(TOKENS * BETWEEN_TOKENS_S / 3)
        await fault()
        await asyncio.wait_for(asyncio.gather(*runs), 30)
        heard = await asyncio.gather(*listeners)
        buffered = [await orchestrator.replay(rid) for rid in rids]
    finally:
        await gateway.stop()
        await orchestrator_redis.aclose()
        await gateway_redis.aclose()
    expected = [(i + 1, f"{i} ") for i in range(TOKENS)]
    for events in [*heard, *buffered]:
        assert [(e.seq, e.text) for e in events if isinstance(e, TokenEvent)] == expected
        assert [e.type for e in events[TOKENS:]] == ["done"] and events[-1].seq == TOKENS + 1


async def test_runs_streaming_through_a_one_second_redis_restart_lose_and_repeat_nothing(
    durable_redis: RedisServer,
) -> None:
    before = outage_retries()

    async def restart() -> None:
        await asyncio.to_thread(durable_redis.restart, 1.0)

    await stream_through(durable_redis, restart)
    assert outage_retries() > before  # the publishes rode through, they did not just miss the outage


async def test_runs_streaming_through_a_two_second_pause_of_redis_lose_and_repeat_nothing(
    durable_redis: RedisServer,
) -> None:
    async def pause() -> None:
        durable_redis.pause()
        try:
            await asyncio.sleep(2.0)
        finally:
            durable_redis.resume()

    await stream_through(durable_redis, pause)


async def test_a_publish_given_up_on_during_a_pause_and_run_by_redis_on_sigcont_is_not_repeated(
    durable_redis: RedisServer,
) -> None:
    """A socket timeout shorter than the pause: the publish is sent again on a new connection
    while Redis, on SIGCONT, also runs the copy it had buffered from the connection given up."""
    client = pooled_client(durable_redis.url, socket_timeout_s=0.3)
    channel, rid = RedisRunEventChannel(client), new_rid()
    try:
        await channel.publish(token(rid, "a"))
        durable_redis.pause()
        publishing = asyncio.create_task(channel.publish(token(rid, "b")))
        await asyncio.sleep(1.0)  # past the socket timeout: the publish is being sent again
        durable_redis.resume()
        assert (await asyncio.wait_for(publishing, 10)).seq == 2
        await channel.publish(token(rid, "c"))
        assert [(e.seq, e.text) for e in await channel.replay(rid) if isinstance(e, TokenEvent)] == [
            (1, "a"),
            (2, "b"),
            (3, "c"),
        ]
    finally:
        await client.aclose()


async def test_listeners_end_with_redis_unavailable_at_the_bound_of_a_longer_outage(
    durable_redis: RedisServer,
) -> None:
    bound_s = 1.0
    publisher_redis, gateway_redis = pooled_client(durable_redis.url), pooled_client(durable_redis.url)
    publisher = RedisRunEventChannel(publisher_redis)
    gateway = RedisRunEventChannel(gateway_redis, outage_bound_s=bound_s)
    await gateway.start()
    rids = [new_rid() for _ in range(3)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            listeners = [await stack.enter_async_context(gateway.listen(rid)) for rid in rids]
            for rid in rids:
                await publisher.publish(token(rid, "before"))
            for events in listeners:
                assert [e.text for e in await take(events, 1) if isinstance(e, TokenEvent)] == ["before"]
            await asyncio.to_thread(durable_redis.kill)
            killed_at = time.monotonic()
            outcomes = await asyncio.gather(*(rest(events) for events in listeners), return_exceptions=True)
            gave_up_s = time.monotonic() - killed_at
        for outcome in outcomes:
            assert isinstance(outcome, OutageTooLong), outcome
            assert outcome.info.code is ErrorCode.INFRA_UNAVAILABLE
            assert outcome.info.details["reason"] == "redis_unavailable"
        assert bound_s - 0.2 <= gave_up_s < bound_s + 1.5  # from when the drop was seen, as the kill returned
        # Still away: a client that comes now is told at once, not after its subscription's timeout.
        joined_at = time.monotonic()
        with pytest.raises(OutageTooLong):
            async with gateway.listen(new_rid()):
                pass
        assert time.monotonic() - joined_at < 0.5
        # Redis back: once the subscriber has reconnected (within its backoff, 2 s at most; what the
        # gateway's readiness reports), listening works again, from the buffer that survived the crash.
        await asyncio.to_thread(durable_redis.start)
        rid = rids[0]
        await asyncio.wait_for(publisher.publish(done(rid, "before")), 10)
        await eventually(gateway.ping, "the subscriber is back")
        async with gateway.listen(rid) as events:
            assert [e.type for e in await rest(events)] == ["token", "done"]
    finally:
        await gateway.stop()
        await publisher_redis.aclose()
        await gateway_redis.aclose()


async def test_a_redis_back_late_in_the_bound_is_heard_before_the_bound(durable_redis: RedisServer) -> None:
    """Down for most of the bound: the listeners' subscriber reconnects soon enough after Redis
    is back (not after a backoff grown to seconds) that nobody is told of an outage."""
    bound_s, down_s = 3.0, 2.2
    publisher_redis, gateway_redis = pooled_client(durable_redis.url), pooled_client(durable_redis.url)
    publisher = RedisRunEventChannel(publisher_redis)
    gateway = RedisRunEventChannel(gateway_redis, outage_bound_s=bound_s)
    await gateway.start()
    rid = new_rid()
    try:
        async with gateway.listen(rid) as events:
            await publisher.publish(token(rid, "before "))
            assert [e.text for e in await take(events, 1) if isinstance(e, TokenEvent)] == ["before "]
            await asyncio.to_thread(durable_redis.restart, down_s)
            await publisher.publish(token(rid, "after"))
            await publisher.publish(done(rid, "before after"))
            assert [e.type for e in await rest(events)] == ["token", "done"]
    finally:
        await gateway.stop()
        await publisher_redis.aclose()
        await gateway_redis.aclose()
