"""Helpers for the ride-through tests: clients on the pool the transports build, the
ride-through counter, and a lost reply injected under redis-py's retry."""

from __future__ import annotations

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
    """The first of `commands` the client sends is carried out by Redis, then its reply is lost
    (the connection fails as it comes back): what riding through sends again. Returns the
    commands whose reply was lost, for the test to check the fault happened."""
    lost: list[str] = []
    send = client._send_command_parse_response

    async def send_losing_reply(conn: Any, command_name: str, *args: Any, **options: Any) -> Any:
        result = await send(conn, command_name, *args, **options)
        if not lost and command_name.upper() in commands:
            lost.append(command_name.upper())
            raise RedisConnectionError("the reply was lost on its way back")
        return result

    client._send_command_parse_response = send_losing_reply  # type: ignore[method-assign]
    return lost
