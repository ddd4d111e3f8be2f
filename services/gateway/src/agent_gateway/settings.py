"""The gateway's own settings; shared pieces come from agent_common.settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from agent_common.settings import BusSettings, ObservabilitySettings, RedisSettings, settings_config


class GatewaySettings(BaseSettings):
    """The HTTP and SSE front door."""

    model_config = settings_config("GATEWAY_")

    host: str = "127.0.0.1"
    """Interface to listen on (`0.0.0.0` in a container)."""
    port: int = 8000
    """Port to listen on."""
    max_message_chars: int = Field(default=4000, ge=1, le=32_000)
    """Longest user message accepted, in characters; longer ones get 413 `INPUT_TOO_LARGE`."""
    request_timeout_s: float = Field(default=120.0, gt=0)
    """How long a client waits for a run to end before it gets `INFRA_TIMEOUT`."""
    sse_ping_s: float = Field(default=10.0, gt=0)
    """Seconds between SSE keep-alive comments while a run is quiet, so proxies keep the stream open."""


class GatewayConfig:
    """Every setting the gateway process reads, grouped by concern."""

    def __init__(
        self,
        gateway: GatewaySettings | None = None,
        bus: BusSettings | None = None,
        redis: RedisSettings | None = None,
        log: ObservabilitySettings | None = None,
    ) -> None:
        self.gateway = gateway or GatewaySettings()
        self.bus = bus or BusSettings()
        self.redis = redis or RedisSettings()
        self.log = log or ObservabilitySettings()


SETTINGS_CLASSES = (GatewaySettings, BusSettings, RedisSettings, ObservabilitySettings)
