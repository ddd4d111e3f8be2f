"""Helpers for the ride-through tests: clients on the pool the transports build, the
ride-through counter, and a lost reply injected under redis-py's retry."""

from __future__ import annotations

from collections import deque
from typing import Any

from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from agent_common.settings import RedisSettings
from agent_common.transports.redis import redis_client


def pooled_client(url: str, *, ride_through_s: float = 5.0, socket_timeout_s: float = 5.0) -> Redis:
    """A client on a pool as a process's transports open it (`REDIS_RIDE_THROUGH_S` and all)."""
    settings = RedisSettings(url=url, ride_through_s=ride_through_s, socket_timeout_s=socket_timeout_s)
    return redis_client(settings)


def outage_retries() -> float:
    return REGISTRY.get_sample_value("infra_outage_retries_total", {"outage": "redis"}) or 0.0


def lose_first_reply(client: Redis, *commands: str) -> list[str]:
    """The first of `commands` sent on the client's pool is carried out by Redis, then its reply
    is lost (the connection fails as it comes back): what riding through sends again. Injected
    in the pool's connections, so a command reaches the fault however it is sent (one at a time,
    in a pipeline, on a connection a caller holds). Returns the commands whose reply was lost,
    for the test to check the fault happened."""
    lost: list[str] = []
    pool = client.connection_pool
    make = pool.make_connection

    def losing(conn: Any) -> Any:
        sent: deque[str] = deque()  # the commands written, in the order their replies come
        send, read, disconnect = conn.send_packed_command, conn.read_response, conn.disconnect

        async def send_packed_command(command: Any, check_health: bool = True) -> None:
            await send(command, check_health)
            sent.extend(_names(command))

        async def read_response(*args: Any, **kwargs: Any) -> Any:
            try:
                reply = await read(*args, **kwargs)
            finally:
                name = sent.popleft() if sent else ""
            if not lost and name in commands:
                lost.append(name)
                await conn.disconnect()
                raise RedisConnectionError("the reply was lost on its way back")
            return reply

        async def disconnecting(*args: Any, **kwargs: Any) -> None:
            sent.clear()
            await disconnect(*args, **kwargs)

        conn.send_packed_command, conn.read_response = send_packed_command, read_response
        conn.disconnect = disconnecting
        return conn

    for conn in [*getattr(pool, "_available_connections", []), *getattr(pool, "_in_use_connections", [])]:
        losing(conn)
    pool.make_connection = lambda: losing(make())  # type: ignore[method-assign]
    return lost


def _names(command: Any) -> list[str]:
    """The command names in packed RESP (one command, or a pipeline's)."""
    if isinstance(command, str):
        command = command.encode()
    data = command if isinstance(command, bytes) else b"".join(command)
    names, at = [], 0
    while at < len(data):
        end = data.index(b"\r\n", at)
        count, at = int(data[at + 1 : end]), end + 2  # *<count>
        for i in range(count):
            end = data.index(b"\r\n", at)
            length, at = int(data[at + 1 : end]), end + 2  # $<length>
            if i == 0:
                names.append(data[at : at + length].decode().upper())
            at += length + 2
    return names
