"""A bulkhead per upstream host: at most N calls to one host in flight.

A call over the limit is refused at once rather than queued: a queued call
would hold one of the runner's slots while it waits, and a slow host would
then starve the others after all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent_common.errors import ErrorCode, PlatformError


class HostSlots:
    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._in_flight: dict[str, int] = {}  # only hosts with calls in flight: no growth over time

    def in_flight(self, host: str) -> int:
        return self._in_flight.get(host, 0)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        if self.in_flight(host) >= self.per_host:
            raise PlatformError(
                ErrorCode.TOOL_UNAVAILABLE,
                f"Too many calls to {host} are in flight; try again shortly.",
                host=host,
                reason="host_busy",
                limit=self.per_host,
            )
        self._in_flight[host] = self.in_flight(host) + 1
        try:
            yield
        finally:
            remaining = self._in_flight[host] - 1
            if remaining:
                self._in_flight[host] = remaining
            else:
                del self._in_flight[host]
