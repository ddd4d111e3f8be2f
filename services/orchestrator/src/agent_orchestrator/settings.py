"""The orchestrator's own settings; shared pieces come from agent_common.settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from agent_common.rag.settings import RagSettings
from agent_common.settings import BusSettings, ModelSettings, ObservabilitySettings, RedisSettings, settings_config

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Answer in the language of the user's message "
    "(Korean or English). Use the http_get tool to read a web page when the user "
    "asks about a URL; if a tool fails, say so plainly."
)


class OrchestratorSettings(BaseSettings):
    """The agent loop."""

    model_config = settings_config("ORCHESTRATOR_")

    host: str = "127.0.0.1"
    """Interface for the probes and metrics (`0.0.0.0` in a container)."""
    port: int = 8001
    """Port for the probes and metrics."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """The system message that starts every conversation."""
    max_steps: int = Field(default=4, ge=1, le=20)
    """Model calls per run; a model that keeps asking for tools is stopped with `MODEL_STEP_LIMIT`."""
    concurrency: int = Field(default=12, ge=1)
    """Partitions one replica works on at once, per topic (one run at a time per partition)."""
    session_max_turns: int = Field(default=20, ge=1)
    """Turns kept per session; the oldest are dropped first."""
    session_ttl_s: int = Field(default=86_400, ge=60)
    """Seconds a session is kept after its last turn (sliding)."""
    run_state_ttl_s: int = Field(default=900, ge=60)
    """Seconds a run's state outlives its deadline, so late tool results still find it."""


class OrchestratorConfig:
    """Every setting the orchestrator process reads, grouped by concern."""

    def __init__(
        self,
        service: OrchestratorSettings | None = None,
        bus: BusSettings | None = None,
        redis: RedisSettings | None = None,
        model: ModelSettings | None = None,
        log: ObservabilitySettings | None = None,
        rag: RagSettings | None = None,
    ) -> None:
        self.service = service or OrchestratorSettings()
        self.bus = bus or BusSettings()
        self.redis = redis or RedisSettings()
        self.model = model or ModelSettings()
        self.log = log or ObservabilitySettings()
        self.rag = rag or RagSettings()


SETTINGS_CLASSES = (
    OrchestratorSettings,
    BusSettings,
    RedisSettings,
    ModelSettings,
    ObservabilitySettings,
    RagSettings,
)
