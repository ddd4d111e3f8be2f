"""What a tool function gets besides its arguments: shared clients and settings."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from agent_common.settings import ToolSettings


@dataclass(frozen=True)
class ToolContext:
    settings: ToolSettings
    http: httpx.AsyncClient
