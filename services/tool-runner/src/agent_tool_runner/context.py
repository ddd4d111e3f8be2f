"""What a tool function gets besides its arguments: settings, shared clients and limits."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from agent_common.resilience import BreakerSettings, CircuitBreakers
from agent_tool_runner.metrics import OPEN_BREAKERS
from agent_tool_runner.settings import ToolSettings
from agent_tool_runner.web.client import new_http_client
from agent_tool_runner.web.host_slots import HostSlots


@dataclass(frozen=True)
class ToolContext:
    settings: ToolSettings
    http: httpx.AsyncClient
    hosts: HostSlots
    breakers: CircuitBreakers  # one per upstream (host and port), per replica

    @classmethod
    def create(cls, settings: ToolSettings) -> ToolContext:
        breakers = CircuitBreakers(
            BreakerSettings(failure_rate=settings.http_breaker_failure_rate, open_s=settings.http_breaker_open_s)
        )
        # Counted when scraped: a gauge set after each call would read "open" until the next one.
        OPEN_BREAKERS.set_function(breakers.open_count)
        return cls(settings, new_http_client(settings), HostSlots(settings.http_per_host_concurrency), breakers)

    async def aclose(self) -> None:
        await self.http.aclose()
