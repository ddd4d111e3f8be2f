"""The tool runner's own settings; shared pieces come from agent_common.settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from agent_common.settings import BusSettings, ObservabilitySettings, ToolSettings, settings_config


class ToolRunnerSettings(BaseSettings):
    """The isolated process that executes tool calls."""

    model_config = settings_config("TOOL_RUNNER_")

    host: str = "127.0.0.1"
    """Interface for the probes and metrics (`0.0.0.0` in a container)."""
    port: int = 8002
    """Port for the probes and metrics."""
    concurrency: int = Field(default=32, ge=1)
    """Tool calls executed at once by one replica; one slow upstream cannot take more than this."""


class ToolRunnerConfig:
    """Every setting the tool runner process reads, grouped by concern."""

    def __init__(
        self,
        service: ToolRunnerSettings | None = None,
        bus: BusSettings | None = None,
        tools: ToolSettings | None = None,
        log: ObservabilitySettings | None = None,
    ) -> None:
        self.service = service or ToolRunnerSettings()
        self.bus = bus or BusSettings()
        self.tools = tools or ToolSettings()
        self.log = log or ObservabilitySettings()


SETTINGS_CLASSES = (ToolRunnerSettings, BusSettings, ToolSettings, ObservabilitySettings)
