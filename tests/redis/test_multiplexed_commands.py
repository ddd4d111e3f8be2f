"""A process's single commands share one connection and go in batches (`transports/redis_multiplexed.py`),
on a real Redis: every caller gets its own answer, an error answer fails its command alone, a
lost connection sends again only what was not answered, and what must not wait behind others
(a blocking read) still goes through the pool. Pipelines without a transaction and the rate
limits' hits go on the same connection. Arguments packed in C reach Redis as redis-py's packer
sends them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from limits import RateLimitItemPerMinute
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from agent_common.rate_limits.redis import RedisRequestLimiter
from agent_common.settings import RedisSettings
from agent_common.transports.redis import redis_client
from agent_common.transports.redis_multiplexed import MultiplexedRedis
from tests.redis.ride_through_helpers import lose_first_reply

pytestmark = pytest.mark.redis

WAIT_S = 10


@pytest.fixture
def name() -> str:
    return f"mux-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def process(redis_url: str, name: str) -> AsyncIterator[Redis]:
    """The client a process's transports make, its connections named for the test to find."""
    client = redis_client(RedisSettings(url=redis_url))
    client.connection_pool.connection_kwargs["client_name"] = name
    yield client
    await client.aclose()


@pytest.fixture
async def observer(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def keys(n: int) -> list[str]:
    prefix = uuid.uuid4().hex
    return [f"mux:{prefix}:{i}" for i in range(n)]


async def test_two_hundred_tasks_commands_go_on_one_connection_each_answered_its_own(
    process: Redis, observer: Redis, name: str
) -> None:
    assert isinstance(process, MultiplexedRedis)
    counters = keys(200)

    async def task(key: str, n: int) -> list[object]:
        return [await process.incrby(key, n), await process.set(f"{key}:s", n), await process.get(f"{key}:s")]

    answers = await asyncio.wait_for(asyncio.gather(*(task(k, i) for i, k in enumerate(counters))), WAIT_S)
    assert answers == [[i, True, str(i).encode()] for i in range(200)]
    # The pool would have opened a connection for each command out at once (up to 100).
    assert len([c for c in await observer.client_list() if c.get("name") == name]) == 1


async def test_an_error_answer_fails_its_command_alone(process: Redis) -> None:
    wrong, *right = keys(20)
    await process.set(wrong, "a string")

    async def push(key: str) -> int:
        return int(await process.lpush(key, "x"))

    outcomes = await asyncio.gather(*(push(k) for k in [*right[:10], wrong, *right[10:]]), return_exceptions=True)
    assert isinstance(outcomes[10], ResponseError) and "WRONGTYPE" in str(outcomes[10])
    assert outcomes[:10] + outcomes[11:] == [1] * 19
    assert await process.get(wrong) == b"a string"  # the connection still reads each answer in its place


async def test_a_lost_connection_sends_again_only_what_was_not_answered(process: Redis, observer: Redis) -> None:
    before, after = keys(5), keys(5)
    [lost_key] = keys(1)
    await process.ping()  # the connection held
    lost = lose_first_reply(process, "DECRBY")  # what `decr` sends
    pinging = asyncio.create_task(process.ping())  # out alone; what follows goes next, in one write
    await asyncio.sleep(0)
    commands = [process.incr(k) for k in before] + [process.decr(lost_key)] + [process.incr(k) for k in after]
    answers = await asyncio.wait_for(asyncio.gather(*commands), WAIT_S)
    assert await pinging is True
    assert lost == ["DECRBY"]
    assert answers[:5] == [1] * 5  # answered before the loss, as Redis counted them
    assert [int(await observer.get(k) or 0) for k in before] == [1] * 5  # and not sent again
    assert answers[5] in (-1, -2)  # sent again: riding through an outage does, as for any command on the pool


async def test_a_caller_cancelled_while_it_waits_leaves_the_others_answers_in_place(process: Redis) -> None:
    counters = keys(30)
    await process.ping()
    slow = asyncio.create_task(process.ping())
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(process.incrby(k, i + 1)) for i, k in enumerate(counters)]
    await asyncio.sleep(0)
    waiting[7].cancel()
    await slow
    answers = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), WAIT_S)
    assert isinstance(answers[7], asyncio.CancelledError)
    assert [a for i, a in enumerate(answers) if i != 7] == [i + 1 for i in range(30) if i != 7]
    assert [await process.get(k) for k in counters[8:11]] == [b"9", b"10", b"11"]


async def test_a_blocking_read_does_not_hold_the_other_commands(process: Redis) -> None:
    [empty, key] = keys(2)
    await process.set(key, "v")
    blocking = asyncio.create_task(process.blpop([empty], timeout=2))
    await asyncio.sleep(0.1)
    # On the shared connection, the GET would wait behind the BLPOP's two seconds.
    assert await asyncio.wait_for(process.get(key), 1.0) == b"v"
    assert await blocking is None


async def test_pipelines_without_a_transaction_go_with_the_rest_each_answered_in_order(
    process: Redis, observer: Redis, name: str
) -> None:
    counters = keys(50)

    async def task(key: str, n: int) -> list[object]:
        async with process.pipeline(transaction=False) as pipe:
            pipe.incrby(key, n)
            pipe.set(f"{key}:s", n)
            pipe.get(f"{key}:s")
            return list(await pipe.execute())

    answers = await asyncio.wait_for(asyncio.gather(*(task(k, i) for i, k in enumerate(counters))), WAIT_S)
    assert answers == [[i, True, str(i).encode()] for i in range(50)]
    assert len([c for c in await observer.client_list() if c.get("name") == name]) == 1


async def test_a_pipeline_raises_its_first_error_answer_once_every_command_ran(process: Redis) -> None:
    wrong, right = keys(2)
    await process.set(wrong, "a string")
    async with process.pipeline(transaction=False) as pipe:
        pipe.lpush(wrong, "x")
        pipe.lpush(right, "x")
        with pytest.raises(ResponseError, match="Command # 1"):
            await pipe.execute()
    assert await process.llen(right) == 1
    async with process.pipeline(transaction=False) as pipe:
        pipe.lpush(wrong, "x")
        pipe.lpush(right, "y")
        first, second = await pipe.execute(raise_on_error=False)
    assert isinstance(first, ResponseError) and second == 2


async def test_the_rate_limits_hits_go_on_the_process_connection_and_are_counted(
    process: Redis, observer: Redis, name: str
) -> None:
    limiter, item, who = RedisRequestLimiter(process), RateLimitItemPerMinute(1000), uuid.uuid4().hex
    hits = await asyncio.wait_for(asyncio.gather(*(limiter.hit(item, who, str(i % 4)) for i in range(100))), WAIT_S)
    assert all(hits)
    assert (await limiter.window(item, who, "0")).remaining == 1000 - 25
    assert len([c for c in await observer.client_list() if c.get("name") == name]) == 1


async def test_every_kind_of_argument_reaches_redis_as_redis_py_sends_it(process: Redis, observer: Redis) -> None:
    """Arguments are packed in C where they can be: what Redis stores is what redis-py's own
    packer would have sent, for each kind an argument can be, alone and in a batch."""
    key = keys(1)[0]
    values: dict[str, object] = {
        "korean": "방문객은 주말에 무료로 주차합니다",
        "bytes": b"\x00\xff raw",
        "int": -42,
        "float": 0.1,
        "big float": 1e20,
        "memoryview": memoryview(b"viewed"),
        "bytearray": bytearray(b"arrayed"),
        "space in value": "two words",
    }
    await asyncio.gather(*(process.hset(key, field, value) for field, value in values.items()))  # type: ignore[arg-type]
    stored = await observer.hgetall(key)
    assert stored == {
        b"korean": "방문객은 주말에 무료로 주차합니다".encode(),
        b"bytes": b"\x00\xff raw",
        b"int": b"-42",
        b"float": b"0.1",
        b"big float": b"1e+20",
        b"memoryview": b"viewed",
        b"bytearray": b"arrayed",
        b"space in value": b"two words",
    }


async def test_a_command_named_in_words_is_sent_as_its_words(process: Redis, observer: Redis) -> None:
    channel = keys(1)[0]
    async with observer.pubsub() as listener:
        await listener.subscribe(channel)
        assert await process.execute_command("PUBSUB NUMSUB", channel) == [(channel.encode(), 1)]


async def test_an_argument_redis_py_refuses_is_refused_the_same_way(process: Redis) -> None:
    from redis.exceptions import DataError

    with pytest.raises(DataError):
        await process.set(keys(1)[0], True)  # type: ignore[arg-type]
    assert await process.ping()  # the connection goes on serving


async def test_a_client_in_another_encoding_sends_its_text_in_that_encoding(redis_url: str, observer: Redis) -> None:
    client = redis_client(RedisSettings(url=redis_url))
    client.connection_pool.connection_kwargs["encoding"] = "latin-1"
    key = keys(1)[0]
    try:
        await client.set(key, "café")
    finally:
        await client.aclose()
    assert await observer.get(key) == "café".encode("latin-1")
