"""The pool's connections send each command in the task that sends it.

redis-py bounds a command's write by `REDIS_SOCKET_TIMEOUT_S` with `asyncio.wait_for`,
which on Python 3.11 starts a task for every command it wraps (3.12's no longer does):
a task per Redis command was 6 % of a gateway's CPU at 50 streams. Here the same bound
is an `asyncio.timeout` in the caller's task, around the whole send (connecting and the
health check included, each bounded by its own timeout too), and its expiry is what
redis-py raises for a write that timed out: `TimeoutError("Timeout writing to socket")`,
which riding through an outage sends again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import TimeoutError as RedisTimeoutError


class _SendInTheCallersTask(AbstractConnection):
    async def send_packed_command(self, command: bytes | str | Iterable[bytes], check_health: bool = True) -> None:
        bound_s = self.socket_timeout
        if not bound_s:
            await super().send_packed_command(command, check_health)
            return
        # Unset while sending: redis-py's own wrapping is skipped. A connection is used by one
        # command at a time, so nothing else reads it meanwhile.
        self.socket_timeout = None
        try:
            async with asyncio.timeout(bound_s):
                await super().send_packed_command(command, check_health)
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = bound_s


_CLASSES: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def _sending_in_the_callers_task(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    if issubclass(connection_class, _SendInTheCallersTask):
        return connection_class
    if connection_class not in _CLASSES:
        _CLASSES[connection_class] = type(connection_class.__name__, (_SendInTheCallersTask, connection_class), {})
    return _CLASSES[connection_class]


def send_in_the_callers_task(pool: BlockingConnectionPool) -> BlockingConnectionPool:
    """`pool`, its connections (TCP, TLS or a Unix socket, as its URL said) sending as above."""
    pool.connection_class = _sending_in_the_callers_task(pool.connection_class)
    return pool
