"""What a tool function gets besides its arguments: settings, shared clients and limits."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from agent_tool_runner.settings import ToolSettings
from agent_tool_runner.web.client import new_http_client
from agent_tool_runner.web.host_slots import HostSlots


@dataclass(frozen=True)
class ToolContext:
    settings: ToolSettings
    http: httpx.AsyncClient
    hosts: HostSlots

    @classmethod
    def create(cls, settings: ToolSettings) -> ToolContext:
        return cls(settings, new_http_client(settings), HostSlots(settings.http_per_host_concurrency))

    async def aclose(self) -> None:
        await self.http.aclose()
