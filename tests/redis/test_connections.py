"""The pool's connections write each command in the task that sends it, not in a task of its
own (redis-py's `asyncio.wait_for`, on Python 3.11), and still bound the write by the socket
timeout: a write that cannot finish is redis-py's write timeout, ridden through and then
given up on at REDIS_RIDE_THROUGH_S."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection

from agent_common.resilience import OutageTooLong
from tests.redis.ride_through_helpers import outage_retries, pooled_client

pytestmark = pytest.mark.redis


async def test_every_kind_of_command_is_written_in_the_task_that_sends_it(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[asyncio.Task[Any] | None] = []
    write = AbstractConnection._send_packed_command

    async def noting_the_task(conn: AbstractConnection, command: Iterable[bytes]) -> None:
        writers.append(asyncio.current_task())
        await write(conn, command)

    monkeypatch.setattr(AbstractConnection, "_send_packed_command", noting_the_task)
    client = pooled_client(redis_url)
    try:
        await client.set("connections:a", "1")  # the first also connects (its handshake)
        assert await client.get("connections:a") == b"1"
        pipe = client.pipeline(transaction=True)
        pipe.incr("connections:n").incr("connections:n")
        assert await pipe.execute() == [1, 2]
    finally:
        await client.aclose()
    assert writers and set(writers) == {asyncio.current_task()}


async def test_a_write_that_cannot_finish_times_out_and_is_ridden_through_to_the_bound(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pooled_client(redis_url, ride_through_s=1.0, socket_timeout_s=0.2)
    await client.ping()
    write = AbstractConnection._send_packed_command
    stuck = {"on": True}

    async def stuck_write(conn: AbstractConnection, command: Iterable[bytes]) -> None:
        if stuck["on"]:
            await asyncio.sleep(3600)  # a socket buffer that never drains
        await write(conn, command)

    monkeypatch.setattr(AbstractConnection, "_send_packed_command", stuck_write)
    before = outage_retries()
    try:
        with pytest.raises(OutageTooLong):
            await asyncio.wait_for(client.get("connections:b"), 10)
        assert outage_retries() > before  # the timeouts were retried as an outage
        stuck["on"] = False
        assert await client.ping()  # the pool is whole afterwards
    finally:
        await client.aclose()
