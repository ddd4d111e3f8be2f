"""The tool runner's own settings; shared pieces come from agent_common.settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from agent_common.settings import (
    BusSettings,
    MetricsSettings,
    ObservabilitySettings,
    TracingSettings,
    comma_separated,
    settings_config,
)
from agent_common.tools.catalogue.http_get import SPEC as HTTP_GET

# The mission's band for the `http_get` deadline; a value outside it is allowed, and logged.
RECOMMENDED_HTTP_TIMEOUT_S = (3.0, 5.0)


class ToolRunnerSettings(BaseSettings):
    """The isolated process that executes tool calls."""

    model_config = settings_config("TOOL_RUNNER_")

    host: str = "127.0.0.1"
    """Interface for the probes and metrics (`0.0.0.0` in a container)."""
    port: int = 8002
    """Port for the probes and metrics."""
    concurrency: int = Field(default=32, ge=1)
    """Tool calls executed at once by one replica; at most one per partition of `tool.calls` the
    replica is assigned (12 partitions in all), since each partition is handled in order."""


class ToolSettings(BaseSettings):
    """What tools may reach, and how much of it they read."""

    model_config = settings_config("TOOL_")

    http_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Hosts `http_get` may fetch, comma-separated: `docs.example.com` matches that name only,
    `*.example.com` every subdomain of example.com (not example.com itself). Empty: nothing (default-deny)."""
    http_allowed_ports: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [80, 443])
    """Ports `http_get` may connect to, comma-separated (a URL without a port uses 80 or 443)."""
    http_allow_private_networks: bool = False
    """Let `http_get` reach loopback and private addresses (tests, on-premises tools). Cloud metadata
    addresses stay blocked. Off by default, and logged as a warning when on."""
    http_timeout_s: float = Field(default=HTTP_GET.timeout_s, ge=0.5, le=30.0)
    """Deadline for a whole `http_get` call, redirects included; connect and read timeouts sit under it.
    3-5 s is the recommended band: a value outside it is logged at start-up."""
    http_max_response_bytes: int = Field(default=1_048_576, gt=0, le=16 * 1_048_576)
    """Largest response body `http_get` reads (after decompression); reading stops at the limit."""
    http_per_host_concurrency: int = Field(default=8, ge=1)
    """Calls to one host in flight at once, per replica; more are refused at once (`TOOL_UNAVAILABLE`),
    so one slow upstream cannot take every slot of `TOOL_RUNNER_CONCURRENCY`."""

    http_retry_attempts: int = Field(default=2, ge=1, le=5)
    """Attempts per fetch, the first included: a lost connection, a 429 (honouring `Retry-After`)
    or a 502/503/504 is tried again, within the call's deadline. GET only, so repeating is safe."""
    http_breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    """Share of an upstream's last 20 calls (at least 5) that failed (no answer, 5xx, 429) that opens
    its circuit breaker: calls to that host and port are then refused at once."""
    http_breaker_open_s: float = Field(default=30.0, gt=0)
    """Seconds an upstream's open breaker refuses calls before it lets two trial calls through."""

    _split = field_validator("http_allowlist", "http_allowed_ports", mode="before")(comma_separated)


class ToolRunnerConfig:
    """Every setting the tool runner process reads, grouped by concern."""

    def __init__(
        self,
        service: ToolRunnerSettings | None = None,
        bus: BusSettings | None = None,
        tools: ToolSettings | None = None,
        log: ObservabilitySettings | None = None,
        metrics: MetricsSettings | None = None,
    ) -> None:
        self.service = service or ToolRunnerSettings()
        self.bus = bus or BusSettings()
        self.tools = tools or ToolSettings()
        self.log = log or ObservabilitySettings()
        self.metrics = metrics or MetricsSettings()


SETTINGS_CLASSES = (
    ToolRunnerSettings,
    BusSettings,
    ToolSettings,
    ObservabilitySettings,
    MetricsSettings,
    TracingSettings,
)
