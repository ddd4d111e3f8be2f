"""The Redis run-event channel keeps the RunEventChannel contract over a real Redis.

What the gateway and the orchestrator rely on: seqs 1..n in publish order; a
listener that entered before the publish sees every event once, in order, up to
the terminal one; a reconnect with `after_seq` gets only what came later; the
buffer is capped and expires; one pub/sub connection carries every listener; and
a Redis restart mid-stream does not leave a listener hanging.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from agent_common.errors import ErrorCode, PlatformError
from agent_common.events import RunEvent
from agent_common.run_events.redis import RedisRunEventChannel
from tests.redis.channel_helpers import (
    WAIT_S,
    done,
    eventually,
    keys,
    new_rid,
    numsub,
    pubsub_connections,
    rest,
    take,
    token,
    value_is,
)

pytestmark = pytest.mark.redis


@pytest.fixture
async def listener(redis_url: str) -> AsyncIterator[RedisRunEventChannel]:
    """The gateway's side, with a named client so its pub/sub connection can be found."""
    c = Redis.from_url(redis_url, client_name=f"gw-{uuid.uuid4().hex[:8]}")
    channel = RedisRunEventChannel(c)
    await channel.start()
    yield channel
    await channel.stop()
    await c.aclose()


# -- publishing and the buffer ---------------------------------------------------


async def test_publish_stamps_seq_one_to_n_and_buffers_frames_in_order(
    client: Redis, publisher: RedisRunEventChannel
) -> None:
    rid = new_rid()
    stamped = [await publisher.publish(token(rid, str(i))) for i in range(5)]
    assert [e.seq for e in stamped] == [1, 2, 3, 4, 5]
    assert [(e.seq, e.text) for e in await publisher.replay(rid)] == [(i + 1, str(i)) for i in range(5)]  # type: ignore[union-attr]
    assert [e.seq for e in await publisher.replay(rid, after_seq=3)] == [4, 5]
    assert await publisher.replay(new_rid()) == []
    seq_key, events_key, _ = keys(rid)
    assert await client.get(seq_key) == b"5"
    first = (await client.lrange(events_key, 0, 0))[0]
    assert first.startswith(b"1 {") and b'"type":"token"' in first


async def test_runs_publishing_at_once_share_pipelines_and_each_keeps_its_order(
    client: Redis, publisher: RedisRunEventChannel
) -> None:
    """A hundred runs stream at once (their publishes go out batched, one pipeline per
    loop turn); one of them has a broken buffer key. Every other run gets seqs 1..n
    in its own order; the broken one's publisher alone gets the error."""
    rids = [new_rid() for _ in range(100)]
    broken = rids[37]
    await client.set(keys(broken)[1], "not a list")

    async def stream(rid: str) -> list[int]:
        return [(await publisher.publish(token(rid, f"{rid}-{i}"))).seq for i in range(10)]

    outcomes = await asyncio.gather(*(stream(rid) for rid in rids), return_exceptions=True)
    for rid, outcome in zip(rids, outcomes, strict=True):
        if rid == broken:
            assert isinstance(outcome, ResponseError) and "WRONGTYPE" in str(outcome)
            continue
        assert outcome == list(range(1, 11))
        assert [e.text for e in await publisher.replay(rid)] == [f"{rid}-{i}" for i in range(10)]  # type: ignore[union-attr]


async def test_a_publish_after_redis_forgot_its_scripts_still_lands(
    client: Redis, publisher: RedisRunEventChannel
) -> None:
    first, second = new_rid(), new_rid()
    await publisher.publish(token(first, "before"))
    await client.script_flush()  # what a restart without persistence does to loaded scripts
    stamped = await asyncio.gather(publisher.publish(token(first, "after")), publisher.publish(token(second, "new")))
    assert [e.seq for e in stamped] == [2, 1]
    assert [e.text for e in await publisher.replay(first)] == ["before", "after"]  # type: ignore[union-attr]


async def test_publishes_to_an_unreachable_redis_all_fail_and_none_hangs() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    c = Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)
    channel = RedisRunEventChannel(c)
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(channel.publish(token(new_rid(), "x")) for _ in range(20)), return_exceptions=True),
            WAIT_S,
        )
        assert all(isinstance(o, RedisConnectionError) for o in outcomes), outcomes
    finally:
        await c.aclose()


async def test_the_buffer_is_capped_and_both_keys_expire(client: Redis) -> None:
    channel = RedisRunEventChannel(client, buffer_size=5, ttl_s=30)
    rid = new_rid()
    for i in range(8):
        await channel.publish(token(rid, str(i)))
    seq_key, events_key, _ = keys(rid)
    assert await client.llen(events_key) == 5
    assert [e.seq for e in await channel.replay(rid)] == [4, 5, 6, 7, 8]
    for key in (seq_key, events_key):
        assert 0 < await client.ttl(key) <= 30


async def test_an_unreadable_frame_in_the_buffer_is_skipped(client: Redis, publisher: RedisRunEventChannel) -> None:
    rid = new_rid()
    await publisher.publish(token(rid, "a"))
    _, events_key, _ = keys(rid)
    await client.rpush(events_key, b"garbage", b'9 {"type": "nope"}', b"9 [1, 2]", b"9 {not json", b'9 "text"')
    await publisher.publish(token(rid, "b"))
    assert [(e.seq, e.text) for e in await publisher.replay(rid)] == [(1, "a"), (2, "b")]  # type: ignore[union-attr]


async def test_ping(publisher: RedisRunEventChannel, listener: RedisRunEventChannel) -> None:
    assert await publisher.ping() is True
    assert await listener.ping() is True


# -- listening --------------------------------------------------------------------


async def test_a_fresh_listener_reads_the_buffer_only_for_an_event_it_missed(
    publisher: RedisRunEventChannel, listener: RedisRunEventChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new run's listener (subscribed before its request is published) costs no buffer read;
    an event it missed anyway is read from the buffer when the next one shows the gap."""
    reads: list[str] = []
    replay = listener.replay

    async def counted(request_id: str, after_seq: int = 0) -> list[RunEvent]:
        reads.append(request_id)
        return await replay(request_id, after_seq)

    monkeypatch.setattr(listener, "replay", counted)
    rid, early = new_rid(), new_rid()
    async with listener.listen(rid, fresh=True) as events:
        await publisher.publish(token(rid, "a"))
        await publisher.publish(done(rid, "a"))
        assert [e.seq for e in await rest(events)] == [1, 2]
    assert reads == []
    await publisher.publish(token(early, "before anyone listened"))
    async with listener.listen(early, fresh=True) as events:
        await publisher.publish(done(early, "x"))
        assert [e.seq for e in await rest(events)] == [1, 2]
    assert reads == [early]


@pytest.mark.parametrize(("protocol", "decode"), [(2, False), (2, True), (3, False)])
async def test_a_listener_entered_before_publishing_sees_every_event_once_in_order_to_the_end(
    redis_url: str, publisher: RedisRunEventChannel, protocol: int, decode: bool
) -> None:
    c = Redis.from_url(redis_url, protocol=protocol, decode_responses=decode)
    channel = RedisRunEventChannel(c)
    await channel.start()
    rid = new_rid()
    try:
        async with channel.listen(rid) as events:
            for i in range(3):
                await publisher.publish(token(rid, str(i)))
            await publisher.publish(done(rid, "012"))
            await publisher.publish(token(rid, "after the end"))
            received = await rest(events)
    finally:
        await channel.stop()
        await c.aclose()
    assert [(e.seq, e.type) for e in received] == [(1, "token"), (2, "token"), (3, "token"), (4, "done")]
    assert [e.text for e in received[:3]] == ["0", "1", "2"]  # type: ignore[union-attr]
    assert all(e.request_id == rid for e in received)


async def test_a_reconnecting_listener_gets_only_what_came_after_its_last_seq(
    publisher: RedisRunEventChannel, listener: RedisRunEventChannel
) -> None:
    rid = new_rid()
    for i in range(5):
        await publisher.publish(token(rid, str(i)))
    async with listener.listen(rid, after_seq=3) as events:
        await publisher.publish(done(rid))
        received = await rest(events)
    assert [e.seq for e in received] == [4, 5, 6]


async def test_a_listener_entering_after_some_events_gets_them_from_the_buffer(
    publisher: RedisRunEventChannel, listener: RedisRunEventChannel
) -> None:
    rid = new_rid()
    for i in range(3):
        await publisher.publish(token(rid, str(i)))
    async with listener.listen(rid) as events:
        await publisher.publish(done(rid))
        received = await rest(events)
    assert [e.seq for e in received] == [1, 2, 3, 4]


async def test_a_listener_entering_after_the_run_ended_gets_it_all_and_ends(
    publisher: RedisRunEventChannel, listener: RedisRunEventChannel
) -> None:
    rid = new_rid()
    await publisher.publish(token(rid, "a"))
    await publisher.publish(done(rid, "a"))
    async with listener.listen(rid) as events:
        received = await rest(events)
    assert [(e.seq, e.type) for e in received] == [(1, "token"), (2, "done")]


async def test_a_listener_on_a_capped_buffer_starts_at_the_oldest_kept_event(
    redis_url: str, listener: RedisRunEventChannel
) -> None:
    c = Redis.from_url(redis_url)
    small = RedisRunEventChannel(c, buffer_size=3)
    rid = new_rid()
    for i in range(6):
        await small.publish(token(rid, str(i)))
    async with listener.listen(rid) as events:
        received = await take(events, 3)  # what the buffer still holds
        await small.publish(done(rid))
        received += await rest(events)
    await c.aclose()
    assert [e.seq for e in received] == [4, 5, 6, 7]


async def test_two_publishers_for_one_request_give_gap_free_seqs_each_seen_once(
    redis_url: str, listener: RedisRunEventChannel
) -> None:
    c1, c2 = Redis.from_url(redis_url), Redis.from_url(redis_url)
    replicas = RedisRunEventChannel(c1), RedisRunEventChannel(c2)
    rid = new_rid()

    async def burst(channel: RedisRunEventChannel, name: str) -> dict[str, int]:
        return {f"{name}{i}": (await channel.publish(token(rid, f"{name}{i}"))).seq for i in range(100)}

    try:
        async with listener.listen(rid) as events:
            seq_a, seq_b = await asyncio.gather(burst(replicas[0], "a"), burst(replicas[1], "b"))
            assert sorted([*seq_a.values(), *seq_b.values()]) == list(range(1, 201))
            assert (await replicas[1].publish(done(rid))).seq == 201
            received = await rest(events)
        async with listener.listen(rid) as events:
            replayed = await rest(events)
    finally:
        await c1.aclose()
        await c2.aclose()
    assert [e.seq for e in received] == list(range(1, 202))
    assert {e.text: e.seq for e in received[:-1]} == seq_a | seq_b  # type: ignore[union-attr]
    texts = [e.text for e in received[:-1]]  # type: ignore[union-attr]
    assert [t for t in texts if t[0] == "a"] == [f"a{i}" for i in range(100)]
    assert [t for t in texts if t[0] == "b"] == [f"b{i}" for i in range(100)]
    assert [e.seq for e in replayed] == list(range(1, 202))


async def test_two_hundred_listeners_share_one_pubsub_connection_and_all_get_their_events(
    redis_url: str, client: Redis, publisher: RedisRunEventChannel
) -> None:
    name = f"gw200-{uuid.uuid4().hex[:8]}"
    c = Redis.from_url(redis_url, client_name=name)
    channel = RedisRunEventChannel(c)
    await channel.start()
    rids = [new_rid() for _ in range(200)]
    entered = 0
    all_entered = asyncio.Event()

    async def follow(rid: str) -> list[RunEvent]:
        nonlocal entered
        async with channel.listen(rid) as events:
            entered += 1
            if entered == len(rids):
                all_entered.set()
            return await rest(events)

    try:
        tasks = [asyncio.create_task(follow(rid)) for rid in rids]
        await asyncio.wait_for(all_entered.wait(), WAIT_S)
        connections = await pubsub_connections(client, name)
        assert len(connections) == 1 and connections[0]["sub"] == "200"

        async def run(rid: str) -> None:
            await publisher.publish(token(rid, "x"))
            await publisher.publish(token(rid, "y"))
            await publisher.publish(done(rid, "xy"))

        await asyncio.gather(*(run(rid) for rid in rids))
        results = await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
        assert not channel._subs and not channel._pending  # nothing kept once everyone left
    finally:
        await channel.stop()
        await c.aclose()
    for rid, received in zip(rids, results, strict=True):
        assert [(e.request_id, e.seq) for e in received] == [(rid, 1), (rid, 2), (rid, 3)]
        assert received[-1].type == "done"


async def test_the_last_listener_leaving_unsubscribes(client: Redis, listener: RedisRunEventChannel) -> None:
    rid = new_rid()
    live = keys(rid)[2]
    async with listener.listen(rid):
        assert await numsub(client, live) == 1
        async with listener.listen(rid):
            assert await numsub(client, live) == 1  # one subscription, shared
        assert await numsub(client, live) == 1  # still one listener
    await eventually(lambda: value_is(numsub(client, live), 0), "PUBSUB NUMSUB drops to 0")


async def test_a_gap_in_live_events_is_filled_from_the_buffer(
    client: Redis, publisher: RedisRunEventChannel, listener: RedisRunEventChannel
) -> None:
    rid = new_rid()
    seq_key, events_key, _ = keys(rid)
    async with listener.listen(rid) as events:
        await publisher.publish(token(rid, "a"))
        first = await take(events, 1)
        # An event pub/sub lost: buffered, never heard.
        await client.incr(seq_key)
        await client.rpush(events_key, "2 " + token(rid, "b").sse_data())
        await publisher.publish(done(rid, "ab"))
        received = first + await rest(events)
    assert [(e.seq, e.type) for e in received] == [(1, "token"), (2, "token"), (3, "done")]
    assert received[1].text == "b"  # type: ignore[union-attr]


async def test_a_dropped_subscriber_connection_reconnects_and_refills_from_the_buffer(
    client: Redis, publisher: RedisRunEventChannel, listener: RedisRunEventChannel
) -> None:
    rid = new_rid()
    name = listener._redis.connection_pool.connection_kwargs["client_name"]
    async with listener.listen(rid) as events:
        await publisher.publish(token(rid, "a"))
        received = await take(events, 1)
        [connection] = await pubsub_connections(client, name)
        await client.client_kill_filter(_id=connection["id"])
        # Published while the subscriber is away (or just back): pub/sub may drop them.
        await publisher.publish(token(rid, "b"))
        await publisher.publish(done(rid, "ab"))
        received += await rest(events)
        await eventually(lambda: _has_one(pubsub_connections(client, name)), "the subscriber is back")
    assert [e.seq for e in received] == [1, 2, 3]


async def test_stop_ends_the_listeners(publisher: RedisRunEventChannel, redis_url: str) -> None:
    c = Redis.from_url(redis_url)
    channel = RedisRunEventChannel(c)
    await channel.start()
    rid = new_rid()
    async with channel.listen(rid) as events:
        await publisher.publish(token(rid, "a"))
        first = await take(events, 1)
        await channel.stop()
        assert await rest(events) == []
    await c.aclose()
    assert [e.seq for e in first] == [1]


async def test_listen_fails_within_its_bound_when_redis_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    c = Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)
    channel = RedisRunEventChannel(c, subscribe_timeout_s=0.3)
    await channel.start()
    try:
        with pytest.raises(PlatformError) as caught:
            async with channel.listen(new_rid()):
                pass
        assert caught.value.code == ErrorCode.INFRA_UNAVAILABLE
        assert await channel.ping() is False
        with pytest.raises(RuntimeError):
            async with RedisRunEventChannel(c).listen(new_rid()):  # never started
                pass
    finally:
        await channel.stop()
        await c.aclose()


async def _has_one(value: Awaitable[list[dict[str, str]]]) -> bool:
    return len(await value) == 1
