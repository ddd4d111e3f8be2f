"""The run-event channel across a Redis restart: listeners must not hang on lost events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from agent_common.run_events.redis import RedisRunEventChannel
from tests.redis.channel_helpers import (
    done,
    eventually,
    keys,
    new_rid,
    numsub,
    rest,
    take,
    token,
    value_is,
)
from tests.support.services import (
    RedisServer,
    ServiceUnavailable,
    require_service,
    start_redis,
)

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, keeping nothing on disk, restartable on its port."""
    try:
        server = start_redis(tmp_path)
    except ServiceUnavailable as exc:
        require_service("Redis", str(exc))
    yield server
    server.stop()


def publisher_client(url: str) -> Redis:
    # `Redis.from_url` in redis-py 8.1 retries nothing: without one retry, the first
    # command on each pooled connection that predates the restart fails.
    return Redis.from_url(url, retry=Retry(NoBackoff(), 1))


async def test_a_redis_restart_mid_stream_does_not_leave_the_listener_hanging(own_redis: RedisServer) -> None:
    lc, pc = Redis.from_url(own_redis.url), publisher_client(own_redis.url)
    gateway, orchestrator = RedisRunEventChannel(lc), RedisRunEventChannel(pc)
    await gateway.start()
    rid = new_rid()
    try:
        async with gateway.listen(rid) as events:
            for i in range(3):
                await orchestrator.publish(token(rid, str(i)))
            before = await take(events, 3)
            await asyncio.to_thread(own_redis.restart)  # nothing on disk: every key is gone
            # The buffered events are gone for good; the counter may be back already, since the
            # listener restores it as soon as it reconnects (a race the test must not depend on):
            # either way it is never reset to below what was published.
            seq_key, buffer_key, _ = keys(rid)
            assert await pc.exists(buffer_key) == 0
            assert await pc.get(seq_key) in (None, b"3")
            after = [await orchestrator.publish(token(rid, str(i))) for i in range(3, 5)]
            after.append(await orchestrator.publish(done(rid, "01234")))
            received = await rest(events)
    finally:
        await gateway.stop()
        await lc.aclose()
        await pc.aclose()
    assert [e.seq for e in before] == [1, 2, 3]
    # The numbering goes on where it was, so a client's Last-Event-ID keeps its meaning.
    assert [e.seq for e in after] == [4, 5, 6]
    assert [(e.seq, e.type) for e in received] == [(4, "token"), (5, "token"), (6, "done")]


async def test_after_a_restart_the_listener_puts_the_seq_counter_back_for_any_publisher(
    own_redis: RedisServer,
) -> None:
    lc, pc = Redis.from_url(own_redis.url), publisher_client(own_redis.url)
    gateway = RedisRunEventChannel(lc)
    await gateway.start()
    rid = new_rid()
    seq_key = keys(rid)[0]
    try:
        async with gateway.listen(rid) as events:
            for i in range(3):
                await RedisRunEventChannel(pc).publish(token(rid, str(i)))
            await take(events, 3)
            await asyncio.to_thread(own_redis.restart)
            await eventually(lambda: value_is(_int(pc.get(seq_key)), 3), "the listener restored the counter")
            replica = RedisRunEventChannel(pc)  # another replica: it never saw this run
            assert (await replica.publish(done(rid))).seq == 4
            received = await rest(events)
    finally:
        await gateway.stop()
        await lc.aclose()
        await pc.aclose()
    assert [(e.seq, e.type) for e in received] == [(4, "done")]


async def _int(value: Awaitable[bytes | None]) -> int:
    raw = await value
    return int(raw) if raw is not None else 0


async def _in_pending(channel: RedisRunEventChannel, live: str) -> bool:
    return live in channel._pending


async def test_entering_right_after_a_listener_left_unconfirmed_waits_for_its_own_subscription(
    own_redis: RedisServer,
) -> None:
    admin, c = Redis.from_url(own_redis.url), Redis.from_url(own_redis.url)
    channel = RedisRunEventChannel(c)
    await channel.start()
    rid = new_rid()
    live = keys(rid)[2]

    async def enter_and_stay() -> None:
        async with channel.listen(rid):
            await asyncio.Event().wait()

    try:
        # While Redis holds every command (its own server: the pause touches no one else),
        # the first listener's SUBSCRIBE, its UNSUBSCRIBE and the second's SUBSCRIBE queue
        # up; the first confirmation then arrives while the second listener waits, and
        # must not be taken for its own.
        await admin.execute_command("CLIENT", "PAUSE", 300, "ALL")
        first = asyncio.create_task(enter_and_stay())
        await eventually(lambda: _in_pending(channel, live), "its SUBSCRIBE is on the wire")
        first.cancel()  # leaves: UNSUBSCRIBE follows the SUBSCRIBE
        with pytest.raises(asyncio.CancelledError):
            await first
        async with channel.listen(rid) as events:
            assert await numsub(admin, live) == 1
            await RedisRunEventChannel(admin).publish(done(rid))
            assert [e.seq for e in await rest(events)] == [1]
    finally:
        await channel.stop()
        await c.aclose()
        await admin.aclose()
