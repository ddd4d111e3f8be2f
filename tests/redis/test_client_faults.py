"""The Redis client failing inside a command with an error that is none of Redis's own
(redis-py 8.1.0 raised `AttributeError` writing on a connection closed under it,
redis/redis-py#4287, and a run ended INTERNAL): the command is sent again on a fresh
connection and counted, for any such defect of the library, not only that one; the same
fault twice is raised, not ridden through to the bound; Redis's own answers are never sent
again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

from tests.redis.ride_through_helpers import pooled_client

pytestmark = pytest.mark.redis


def client_faults() -> float:
    return REGISTRY.get_sample_value("redis_client_faults_total") or 0.0


class Faults:
    """The sends of the test's commands (those naming a `fault:` key) on the process's Redis
    connections, the first `left` of them raising `error` as a broken connection's internals
    would; a new connection's handshake is let through."""

    def __init__(self, error: Exception) -> None:
        self.error, self.left, self.sends = error, 0, 0
        self.connected: list[bool] = []  # whether each send found its connection open


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    faults = Faults(AttributeError("'NoneType' object has no attribute 'writelines'"))
    send = Connection.send_packed_command

    async def faulty_send(conn: Connection, command: Any, check_health: bool = True) -> None:
        packed = command if isinstance(command, (bytes, str)) else b"".join(command)
        if b"fault:" not in (packed.encode() if isinstance(packed, str) else packed):
            await send(conn, command, check_health)
            return
        faults.sends += 1
        faults.connected.append(conn.is_connected)
        if faults.left > 0:
            faults.left -= 1
            raise faults.error
        await send(conn, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", faulty_send)
    return faults


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    client = pooled_client(redis_url)
    await client.ping()  # a pooled connection before any fault
    yield client
    await client.aclose()


async def test_a_command_the_client_failed_inside_is_sent_again_on_a_fresh_connection_and_counted(
    client: Redis, faults: Faults
) -> None:
    before = client_faults()
    faults.left = 1
    assert await client.set("fault:a", "1")
    assert await client.get("fault:a") == b"1"
    assert client_faults() == before + 1
    assert faults.sends == 3  # the faulted SET, again, then the GET
    assert faults.connected[:2] == [True, False]  # the broken connection was dropped, and made anew


async def test_a_pipeline_the_client_failed_inside_is_sent_again_whole(client: Redis, faults: Faults) -> None:
    faults.left = 1
    pipe = client.pipeline(transaction=False)
    pipe.incr("fault:n").incr("fault:n")
    assert await pipe.execute() == [1, 2]  # the faulted attempt sent nothing: once each
    assert faults.sends == 2


async def test_the_same_fault_on_a_fresh_connection_is_a_defect_and_raised_at_once(
    client: Redis, faults: Faults
) -> None:
    before = client_faults()
    faults.left = 5
    with pytest.raises(AttributeError):
        await client.get("fault:b")
    assert faults.sends == 2  # not ridden through to REDIS_RIDE_THROUGH_S
    assert client_faults() == before + 1
    faults.left = 0
    assert await client.ping()  # the pool is whole afterwards


async def test_an_answer_from_redis_is_never_sent_again(client: Redis, faults: Faults) -> None:
    await client.set("fault:s", "text")
    sends = faults.sends
    with pytest.raises(ResponseError):
        await client.incr("fault:s")
    assert faults.sends == sends + 1
